"""Requests schemathesis does not generate by itself, each sent once with the answer it must get.

Run by scripts/lib.sh fuzz_api after schemathesis, against the same local HTTP API (API_URL) with the same identities
(the Web Fuzzing Commons file SCHEMATHESIS_WFC_AUTH). Each case is built on its operation in openapi.json, so that
schemathesis also checks each answer against the document (status documented, content type, headers, body schema);
each test asserts the status and problem code the API must give (shared/src/api/error.rs):

- the request itself: a content type that is not JSON (415), a body just above the size limit and far above it (413)
  next to one exactly at the limit (201), nesting beyond the JSON parser's depth limit, duplicate members, bytes that
  are not UTF-8, an empty body, text that is not JSON (400), an Idempotency-Key that is not visible ASCII (400);
- every unusual text in every text field of every kind, one field at a time: a rejected one must be 422 with exactly
  one violation, at that field, with its code; an accepted one must be stored trimmed. For each, the request-body
  schema of openapi.json must say the same as the API: valid exactly when the API accepts it.
"""

import json
import os
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

# (label, text, the violation code it must get, or None when it must be accepted)
ODD_TEXT = [
    ("right-to-left override", "\u202eevil\u202c", "forbidden_character"),
    ("zero-width joiners", "Zoë\u200d👩\u200d⚕️", "forbidden_character"),
    ("byte-order mark", "\ufeffname", "forbidden_character"),
    ("word joiner", "na\u2060me", "forbidden_character"),
    ("Arabic letter mark", "\u061cname", "forbidden_character"),
    ("NUL and BEL", "\u0000\u0007", "control_character"),
    ("line break inside", "first\nsecond", "control_character"),
    ("C1 control inside", "na\u0085me", "control_character"),
    ("1,000 characters", "a" * 1000, "too_long"),
    ("white space only", " \u00a0\u3000\t", "too_short"),
    ("empty", "", "too_short"),
    # Accepted: a noncharacter and a tag character are neither control, bidirectional nor zero-width characters.
    ("noncharacter and tag character", "\U0010ffff\U000e0001", None),
    ("surrounding Unicode white space", "\u00a0 Zoë\u3000\u2029", None),
    ("line separator inside", "first\u2028second", None),
    ("astral characters", "\U0001d518\U0001d52b\U0001d526 \U0001f600", None),
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
        assert text_at(stored.json()["answers"], path) == text.strip()
    else:
        answer = problem(response, 422, "validation_failed")
        assert [(v["path"], v["code"]) for v in answer["violations"]] == [(pointer(path), code)], answer
    assert schema_allows == (code is None), f"openapi.json {'allows' if schema_allows else 'refuses'} {label!r}"
