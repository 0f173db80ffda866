"""Schemathesis hooks for fuzzing the questionnaire API through the local HTTP API.

Schemathesis generates conforming and non-conforming bodies from openapi.json. These hooks add what it does not
generate by itself, each on a fixed share of the POST requests it already meant to be invalid (negative mode, so
that a rejection is what the checks expect): a wrong content type, a body far above the size limit, a deeply nested
body and text with unusual Unicode.
"""

import itertools
import json

import schemathesis

_posts = itertools.count()

ODD_TEXT = [
    "\u202eevil\u202c",  # right-to-left override: refused as a forbidden character
    "Zoë\u200d👩\u200d⚕️",  # zero-width joiners: refused likewise
    "\ufeffname",  # byte-order mark inside text
    "\U0010ffff\U000e0001",  # private-use and tag characters
    "\u0000\u0007",  # control characters: rejected as such
    "a" * 1000,  # far over the length limits
]
# Lone surrogates ("\ud800" escapes) break schemathesis itself; tests/tests/submissions/end_to_end.rs sends them.


def _deep(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@schemathesis.hook
def before_call(ctx, case, kwargs):
    meta = getattr(case, "meta", None)
    if case.method.upper() != "POST" or meta is None or not meta.generation.mode.is_negative:
        return
    variant = next(_posts) % 10
    if variant == 1:
        # A JSON text sent with a content type that is not JSON: 415.
        case.body = json.dumps(case.body if isinstance(case.body, (dict, list)) else {"painLevel": 1})
        case.media_type = "text/plain"
    elif variant == 3:
        # 200 KiB, above the 64 KiB limit: 413.
        case.body = {"painLevel": 1, "patientName": "x" * (200 * 1024)}
    elif variant == 5:
        # Nested far beyond the JSON parser's depth limit: 400, not a stack overflow.
        case.body = {"painLevel": _deep(200), "medicationLogs": _deep(300)}
    elif variant == 7 and isinstance(case.body, dict):
        # Unusual Unicode in every text field.
        text = ODD_TEXT[next(_posts) % len(ODD_TEXT)]
        case.body = {k: (text if isinstance(v, str) else v) for k, v in case.body.items()} | {"patientName": text}
