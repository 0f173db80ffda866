"""Requests schemathesis does not generate by itself, each sent once with the answer it must get.

Run by scripts/lib.sh fuzz_api after schemathesis, against the same local HTTP API (API_URL) with the same identities
(the Web Fuzzing Commons file SCHEMATHESIS_WFC_AUTH). Each case is built on its operation in openapi.json, so that
schemathesis also checks each answer against the document (status documented, content type, headers, body schema);
each test asserts the status and problem code the API must give (shared/src/api/error.rs):

- the request itself: a content type that is not JSON (415), a body just above the size limit and far above it (413)
  next to one exactly at the limit (201), nesting beyond the JSON parser's depth limit, duplicate members, bytes that
  are not UTF-8, an empty body, text that is not JSON (400), an Idempotency-Key that is not visible ASCII (400);
- every unusual text in every text field of every kind, one field at a time: a rejected one must be 422 with exactly
  one violation, at that field, with its code; an accepted one must be stored trimmed and in NFC. For each, the
  request-body schema of openapi.json must say the same as the API: valid exactly when the API accepts it. The one
  difference, a text that NFC makes longer than its limit, is a case of its own;
- a replay in NFD of answers first sent in NFC, with the same Idempotency-Key, which must replay;
- each text pattern of openapi.json read by Python's re, by ECMA-262 with the u flag (Node.js) and by the validator
  (jsonschema_rs) over every code point: the three must agree.
"""

import json
import os
import re
import subprocess
import unicodedata
import uuid
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"
DOCUMENT = json.loads(OPENAPI.read_text())
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
API_URL = os.environ["API_URL"]
LIMIT = int(os.environ.get("MAX_BODY_BYTES", "65536"))
IDENTITIES = {
    entry["name"]: {header["name"]: header["value"] for header in entry["fixedHeaders"]}
    for entry in json.loads(Path(os.environ["SCHEMATHESIS_WFC_AUTH"]).read_text())["auth"]
}
PATIENT = IDENTITIES["patient-a"]

# Where each kind keeps its text fields, with a valid body around them.
VALID = {
    "intake": {"patientName": "Zoë Example", "age": 42, "hasAllergy": False},
    "daily-pain": {"painLevel": 3, "medicationLogs": [{"drugName": "Ibuprofen", "dosage": "400 mg"}]},
}
TEXT_FIELDS = [
    ("intake", ("patientName",)),
    ("daily-pain", ("medicationLogs", 0, "drugName")),
    ("daily-pain", ("medicationLogs", 0, "dosage")),
]
# The longest text of each field, in characters.
MAX_LENGTH = {"patientName": 200, "drugName": 200, "dosage": 100}

# (label, text, the violation code it must get, or None when it must be accepted)
ODD_TEXT = [
    ("right-to-left override", "\u202eevil\u202c", "forbidden_character"),
    ("zero-width joiners", "Zoë\u200d👩\u200d⚕️", "forbidden_character"),
    ("byte-order mark", "\ufeffname", "forbidden_character"),
    ("word joiner", "na\u2060me", "forbidden_character"),
    ("Arabic letter mark", "\u061cname", "forbidden_character"),
    # The rest of Unicode's default-ignorable code points, class by class, and the line and paragraph separators.
    ("soft hyphen", "na\u00adme", "forbidden_character"),
    ("combining grapheme joiner", "na\u034fme", "forbidden_character"),
    ("Hangul fillers", "\u3164\u115f\u1160\uffa0", "forbidden_character"),
    ("Hangul filler after a name", "Zoë\u3164", "forbidden_character"),
    ("Khmer inherent vowel", "na\u17b4me", "forbidden_character"),
    ("Mongolian vowel separator", "na\u180eme", "forbidden_character"),
    ("emoji presentation selector", "Zoë \u2764\ufe0f", "forbidden_character"),
    ("ideographic variation selector", "\u845b\U000e0100\u57ce", "forbidden_character"),
    ("tag characters", "Zo\U000e0041\U000e0044\U000e004d\U000e0049\U000e004eë", "forbidden_character"),
    ("flag of a subdivision", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
     "forbidden_character"),
    ("reserved default-ignorable", "na\U000e0fffme", "forbidden_character"),
    ("deprecated format character", "na\u206ame", "forbidden_character"),
    ("shorthand format control", "na\U0001bca0me", "forbidden_character"),
    ("musical format control", "na\U0001d173me", "forbidden_character"),
    ("line separator inside", "first\u2028second", "forbidden_character"),
    ("paragraph separator inside", "first\u2029second", "forbidden_character"),
    ("NUL and BEL", "\u0000\u0007", "control_character"),
    ("line break inside", "first\nsecond", "control_character"),
    ("C1 control inside", "na\u0085me", "control_character"),
    ("1,000 characters", "a" * 1000, "too_long"),
    ("white space only", " \u00a0\u3000\t", "too_short"),
    ("empty", "", "too_short"),
    # Accepted: a noncharacter is neither a control nor an invisible character; line and paragraph separators around
    # the text are white space, trimmed like any other; text not in NFC is stored in NFC.
    ("noncharacter", "\U0010ffff", None),
    ("surrounding Unicode white space", "\u00a0 Zoë\u3000\u2029", None),
    ("astral characters", "\U0001d518\U0001d52b\U0001d526 \U0001f600", None),
    ("decomposed accent", "Zoe\u0301", None),
    ("Hangul jamo", "\u1112\u1161\u11ab", None),
    ("Angstrom sign", "\u212bsa", None),
    ("characters beside the forbidden ones", "\u00ac\u034e\u115e\u180a\u2027\u3163\ufe10\uffa1\ufff9", None),
]


def operation(operation_id):
    return SCHEMA.find_operation_by_id(operation_id)


def body_validator(kind):
    request = DOCUMENT["paths"][f"/questionnaires/{kind}"]["post"]["requestBody"]["content"]["application/json"]
    return jsonschema_rs.Draft202012Validator({**request["schema"], "components": DOCUMENT["components"]})


def pointer(path):
    return "".join(f"/{token}" for token in path)


def with_text(kind, path, text):
    body = json.loads(json.dumps(VALID[kind]))
    target = body
    for token in path[:-1]:
        target = target[token]
    target[path[-1]] = text
    return body


def text_at(body, path):
    for token in path:
        body = body[token]
    return body


def send(kind, *, body=None, raw=None, content_type="application/json", headers=None):
    """POST to the kind's submit operation; schemathesis checks the answer against openapi.json."""
    sent = {**PATIENT, **(headers or {})}
    if raw is None:
        case = operation(f"submit-{kind}").Case(headers=sent, body=body, media_type=content_type)
        response = case.call(base_url=API_URL)
    else:
        if content_type is not None:
            sent["Content-Type"] = content_type
        case = operation(f"submit-{kind}").Case(headers=sent)
        response = case.call(base_url=API_URL, data=raw)
    case.validate_response(response, headers=sent)
    return response


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == ["application/problem+json"], response.headers
    answer = response.json()
    assert (answer["status"], answer["code"]) == (status, code), answer
    return answer


def padded(kind, size):
    """The kind's valid body, padded with trailing white space to exactly `size` bytes."""
    text = json.dumps(VALID[kind], ensure_ascii=False).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


KINDS = sorted(VALID)


@pytest.mark.parametrize("kind", KINDS)
def test_a_text_content_type_is_refused(kind):
    problem(send(kind, raw=json.dumps(VALID[kind]).encode(), content_type="text/plain"), 415, "unsupported_media_type")


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_content_type_is_refused(kind):
    problem(send(kind, raw=json.dumps(VALID[kind]).encode(), content_type=None), 415, "unsupported_media_type")


@pytest.mark.parametrize("kind", KINDS)
def test_json_in_another_charset_is_refused(kind):
    raw = json.dumps(VALID[kind], ensure_ascii=False).encode("latin-1")
    problem(send(kind, raw=raw, content_type="application/json; charset=latin-1"), 415, "unsupported_media_type")


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_at_the_size_limit_is_accepted(kind):
    assert send(kind, raw=padded(kind, LIMIT)).status_code == 201


@pytest.mark.parametrize("size", [LIMIT + 1, 200 * 1024], ids=["one byte over", "200 KiB"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_body_above_the_size_limit_is_refused(kind, size):
    answer = problem(send(kind, raw=padded(kind, size)), 413, "payload_too_large")
    assert f"has {size} bytes; the limit is {LIMIT} bytes" in answer["detail"]


@pytest.mark.parametrize(
    "raw, code",
    [
        (b'{"painLevel": ' + b"[" * 200 + b"1" + b"]" * 200 + b"}", "malformed_json"),
        (b'{"painLevel": 1, "medicationLogs": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "malformed_json"),
        (b'{"painLevel": 1, "painLevel": 1}', "duplicate_member"),
        (b'{"painLevel": 1, "medicationLogs": [{"drugName": "a", "dosage": "b", "dosage": "b"}]}', "duplicate_member"),
        (b'{"patientName": "Zo\xeb", "age": 42, "hasAllergy": false}', "invalid_utf8"),
        (b"", "empty_body"),
        (b" \r\n\t", "empty_body"),
        (b"painLevel=1", "malformed_json"),
        (b'{"painLevel": 1} {"painLevel": 2}', "malformed_json"),
        (b'{"patientName": "\\ud800", "age": 42, "hasAllergy": false}', "malformed_json"),
    ],
    ids=[
        "nested 200 deep",
        "nested 10,000 deep",
        "member twice",
        "member twice in an entry",
        "not UTF-8",
        "empty",
        "white space only",
        "form data",
        "two documents",
        "lone surrogate escape",
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_a_body_that_is_not_one_json_document_is_refused(kind, raw, code):
    problem(send(kind, raw=raw), 400, code)


@pytest.mark.parametrize("key", ["has space", "x" * 256, "ключ"], ids=["space", "256 characters", "not ASCII"])
def test_an_idempotency_key_that_is_not_visible_ascii_is_refused(key):
    raw = json.dumps(VALID["intake"]).encode()
    problem(send("intake", raw=raw, headers={"Idempotency-Key": key.encode()}), 400, "invalid_idempotency_key")


@pytest.mark.parametrize("label, text, code", ODD_TEXT, ids=[label for label, _, _ in ODD_TEXT])
@pytest.mark.parametrize("kind, path", TEXT_FIELDS, ids=[f"{kind}{pointer(path)}" for kind, path in TEXT_FIELDS])
def test_unusual_text_in_each_text_field(kind, path, label, text, code):
    body = with_text(kind, path, text)
    schema_allows = body_validator(kind).is_valid(body)
    response = send(kind, body=body)
    if code is None:
        assert response.status_code == 201, response.text
        read = operation(f"get-{kind}").Case(headers=PATIENT, path_parameters={"id": response.json()["id"]})
        stored = read.call(base_url=API_URL)
        read.validate_response(stored, headers=PATIENT)
        assert stored.status_code == 200, stored.text
        assert text_at(stored.json()["answers"], path) == unicodedata.normalize("NFC", text.strip())
    else:
        answer = problem(response, 422, "validation_failed")
        assert [(v["path"], v["code"]) for v in answer["violations"]] == [(pointer(path), code)], answer
    assert schema_allows == (code is None), f"openapi.json {'allows' if schema_allows else 'refuses'} {label!r}"


def stored_text(kind, path, response):
    read = operation(f"get-{kind}").Case(headers=PATIENT, path_parameters={"id": response.json()["id"]})
    stored = read.call(base_url=API_URL)
    read.validate_response(stored, headers=PATIENT)
    assert stored.status_code == 200, stored.text
    return text_at(stored.json()["answers"], path)


def text_schema(kind, path):
    """The schema of a text field in openapi.json."""
    schemas = DOCUMENT["components"]["schemas"]
    schema = schemas["IntakeV1" if kind == "intake" else "DailyPain"]
    for token in path:
        if isinstance(token, int):
            schema = schema["items"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        else:
            schema = schema["properties"][token]
    return schema


@pytest.mark.parametrize("kind, path", TEXT_FIELDS, ids=[f"{kind}{pointer(path)}" for kind, path in TEXT_FIELDS])
def test_length_limits_hold_as_sent_and_in_nfc(kind, path):
    limit = MAX_LENGTH[path[-1]]
    valid = body_validator(kind).is_valid
    # Decomposed accents: two characters each as sent, one in NFC. The limit counts what is sent, as the schema does.
    at_limit = with_text(kind, path, "e\u0301" * (limit // 2))
    assert valid(at_limit)
    response = send(kind, body=at_limit)
    assert response.status_code == 201, response.text
    assert stored_text(kind, path, response) == "\u00e9" * (limit // 2)
    over = with_text(kind, path, "e\u0301" * (limit // 2 + 1))
    assert not valid(over)
    answer = problem(send(kind, body=over), 422, "validation_failed")
    assert [(v["path"], v["code"]) for v in answer["violations"]] == [(pointer(path), "too_long")], answer
    # U+0958 is one character as sent and two in NFC: at the limit as sent, over it in NFC. The schema allows it and
    # the API refuses it, the one difference its description states; one character less is stored at the limit.
    fits = with_text(kind, path, "a" * (limit - 2) + "\u0958")
    response = send(kind, body=fits)
    assert response.status_code == 201, response.text
    assert len(stored_text(kind, path, response)) == limit
    growing = with_text(kind, path, "a" * (limit - 1) + "\u0958")
    assert valid(growing)
    answer = problem(send(kind, body=growing), 422, "validation_failed")
    assert [(v["path"], v["code"]) for v in answer["violations"]] == [(pointer(path), "too_long")], answer
    assert "normalization form C" in text_schema(kind, path)["description"]


def test_a_replay_in_nfd_of_answers_sent_in_nfc_replays():
    key = {"Idempotency-Key": f"nfc-{uuid.uuid4()}"}
    first = send("intake", body={**VALID["intake"], "patientName": "Zo\u00eb Ren\u00e9e"}, headers=key)
    assert first.status_code == 201, first.text
    replay = send("intake", body={**VALID["intake"], "patientName": "Zoe\u0308 Rene\u0301e"}, headers=key)
    assert replay.status_code == 201, replay.text
    assert replay.json()["id"] == first.json()["id"]


# Reads every code point between two letters and alone with the pattern given on stdin (JSON), as JSON Schema asks:
# ECMA-262 with the u flag. Prints the code points each form matched.
ECMA = r"""
const pattern = new RegExp(JSON.parse(require("fs").readFileSync(0, "utf8")), "u");
const inside = [], alone = [];
for (let c = 0; c <= 0x10ffff; c++) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  const s = String.fromCodePoint(c);
  if (pattern.test("a" + s + "b")) inside.push(c);
  if (pattern.test(s)) alone.push(c);
}
process.stdout.write(JSON.stringify({inside, alone}));
"""

# Whether the pattern on stdin (with a length limit) matches that many astral characters, and one more.
ECMA_LENGTHS = r"""
const [pattern, limit] = JSON.parse(require("fs").readFileSync(0, "utf8"));
const compiled = new RegExp(pattern, "u");
const fits = (n) => compiled.test("\u{1F600}".repeat(n));
process.stdout.write(JSON.stringify([fits(limit), fits(limit + 1)]));
"""


def node(script, data):
    """Runs `script` with Node.js, `data` as JSON on its standard input; its output, parsed."""
    done = subprocess.run(["node", "-e", script], input=json.dumps(data), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
TEXT_PATTERNS = sorted(
    {
        schema["pattern"]
        for component in DOCUMENT["components"]["schemas"].values()
        for schema in component.get("properties", {}).values()
        if "pattern" in schema
    }
)


@pytest.mark.parametrize("pattern", TEXT_PATTERNS, ids=[f"pattern {i}" for i in range(len(TEXT_PATTERNS))])
def test_each_text_pattern_reads_alike_in_python_ecma_and_the_validator(pattern):
    # Characters above U+FFFF stand in the pattern as themselves: the three spell escapes for them differently.
    python = re.compile(pattern)
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    by_python = {
        "inside": [c for c in CODE_POINTS if python.search(f"a{chr(c)}b")],
        "alone": [c for c in CODE_POINTS if python.search(chr(c))],
    }
    by_validator = {
        "inside": [c for c in CODE_POINTS if validator.is_valid(f"a{chr(c)}b")],
        "alone": [c for c in CODE_POINTS if validator.is_valid(chr(c))],
    }
    assert by_python == by_validator
    assert by_python == node(ECMA, pattern)
    # Lengths count code points, astral ones included, in all three (for the texts that may hold them; names,
    # checksums and cursors are ASCII, and the agreement above covers them).
    if 0x1F600 not in by_python["inside"]:
        return
    limit = int(re.search(r"\{0,(\d+)\}", pattern).group(1)) + 2
    for text, fits in [("\U0001f600" * limit, True), ("\U0001f600" * (limit + 1), False)]:
        assert bool(python.search(text)) == validator.is_valid(text) == fits
    assert node(ECMA_LENGTHS, [pattern, limit]) == [True, False]
