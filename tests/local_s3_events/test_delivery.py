"""scripts/local_s3_events.py against the project's moto server: which uploads reach the function, as what event, what
a failing function gets, and what /drain answers. Each test writes its own template."""

import hashlib
import json
import threading

import pytest
from conftest import FUNCTION, REGION, ROOT, new_ulid, template_text, upload_key
from fake_lambda import EMULATOR_FUNCTION_ERROR, LAMBDA_FUNCTION_ERROR, Answer


def shape(value):
    """The keys of a JSON document at every level, without the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return None


def test_an_upload_at_a_key_the_api_chose_arrives_once_as_the_event_s3_sends(local_s3_events, fake_lambda, bucket):
    service = local_s3_events(bucket)
    upload = new_ulid()
    key = upload_key(upload=upload)
    body = b"study_id,site_id,subject_id\nCARDIO-7,S01,SUBJ-001\n"

    # WHEN a file arrives at the key the API chose for it
    version_id, etag = bucket.put(key, body)
    [status] = service.drained()

    # THEN one invocation of the template's function, synchronous (the stand-in's thread is the async queue)
    [invocation] = fake_lambda.invocations
    assert invocation.function == FUNCTION
    assert invocation.headers["X-Amz-Invocation-Type"] == "RequestResponse"
    record = invocation.record
    # ... with the event's shape that the function's own tests use (events/), which names no version
    example = json.loads((ROOT / "events" / "s3-put-observations.json").read_text())["Records"][0]
    example["s3"]["object"]["versionId"] = "placeholder"
    assert shape(record) == shape(example)
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == REGION
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"].endswith("Z") and len(record["eventTime"]) == len("1970-01-01T00:00:00.000Z")
    assert record["userIdentity"] == {"principalId": "AWS:LOCAL-PRESIGNED-UPLOAD"}
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    s3 = record["s3"]
    assert s3["s3SchemaVersion"] == "1.0"
    assert s3["configurationId"]
    assert s3["bucket"]["name"] == bucket.name
    assert s3["bucket"]["arn"] == f"arn:aws:s3:::{bucket.name}"
    # ... naming exactly the version uploaded
    assert s3["object"]["key"] == key
    assert s3["object"]["size"] == len(body)
    assert s3["object"]["eTag"] == etag == hashlib.md5(body).hexdigest()
    assert s3["object"]["versionId"] == version_id
    sequencer = s3["object"]["sequencer"]
    assert sequencer == sequencer.upper() and int(sequencer, 16) > 0
    assert (status["matched"], status["delivered"], status["invocations"], status["inFlight"]) == (1, 1, 1, 0)


def test_the_key_is_encoded_as_s3_encodes_it(local_s3_events, fake_lambda, bucket):
    service = local_s3_events(bucket)
    upload = new_ulid()
    bucket.put(f"imports/observations/CARDIO 7/site+02/{upload}.csv")
    bucket.put(f"imports/observations/Étude/S01 (b)/{upload}.csv")
    service.drained()

    keys = sorted(i.object["key"] for i in fake_lambda.invocations)
    # Spaces as '+', a '+' as %2B, UTF-8 percent-encoded, '/' as it is.
    assert keys == [
        f"imports/observations/%C3%89tude/S01+%28b%29/{upload}.csv",
        f"imports/observations/CARDIO+7/site%2B02/{upload}.csv",
    ]


def test_each_version_of_a_key_arrives_with_a_sequencer_greater_than_the_one_before(
    local_s3_events, fake_lambda, bucket
):
    service = local_s3_events(bucket)
    key = upload_key()
    first = bucket.put(key, b"a\n1\n")
    service.drained()
    second = bucket.put(key, b"a\n1\n2\n")
    service.drained()

    one, two = fake_lambda.invocations
    assert [(i.object["versionId"], i.object["eTag"]) for i in (one, two)] == [first, second]
    assert [i.object["size"] for i in (one, two)] == [4, 6]
    # S3 compares one key's sequencers as hexadecimal numbers, the shorter left-padded.
    assert int(two.object["sequencer"], 16) > int(one.object["sequencer"], 16)


def test_versions_of_a_key_found_in_one_listing_get_their_sequencers_oldest_first(
    local_s3_events, fake_lambda, bucket
):
    # Listings only when asked (a drain): all three versions are in the same listing.
    service = local_s3_events(bucket, interval=3600)
    key = upload_key()
    versions = [bucket.put(key, f"a\n{n}\n".encode())[0] for n in range(3)]
    service.drained()

    sequencers = {i.object["versionId"]: int(i.object["sequencer"], 16) for i in fake_lambda.invocations}
    assert len(fake_lambda.invocations) == 3
    assert [sequencers[v] for v in versions] == sorted(sequencers.values())


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("imports/observations/CARDIO-7/S01/{lower}.csv", id="lower-case-ulid"),
        pytest.param("imports/observations/CARDIO-7/S01/upload-{lower}.csv", id="not-only-a-ulid"),
        pytest.param("imports/observations/CARDIO-7/{ulid}.csv", id="three-segments"),
        pytest.param("imports/observations/CARDIO-7/S01/extra/{ulid}.csv", id="five-segments"),
        pytest.param("imports/observations//S01/{ulid}.csv", id="an-empty-segment"),
        pytest.param("imports/observations/CARDIO-7/S01/8{ulid_tail}.csv", id="ulid-beyond-128-bits"),
        pytest.param("imports/observations/CARDIO-7/S01/U{ulid_tail}.csv", id="not-crockford-base32"),
        pytest.param("imports/observations/CARDIO-7/S01/{ulid}.CSV", id="another-suffix"),
        pytest.param("imports/observations/CARDIO-7/S01/{ulid}.csv.gz", id="not-csv"),
        pytest.param("other/observations/CARDIO-7/S01/{ulid}.csv", id="outside-the-prefix"),
        pytest.param("imports/observations/CARDIO-7/S01/{ulid}", id="no-suffix"),
    ],
)
def test_an_upload_at_any_other_key_is_not_delivered(local_s3_events, fake_lambda, bucket, key):
    service = local_s3_events(bucket)
    ulid = new_ulid()
    bucket.put(key.format(ulid=ulid, lower=ulid.lower(), ulid_tail=ulid[1:]))
    # An upload at a chosen key after it: the one invocation there is.
    chosen = upload_key()
    bucket.put(chosen)
    [status] = service.drained()

    assert [i.object["key"] for i in fake_lambda.invocations] == [chosen]
    assert status["delivered"] == 1
    # What the template's rules match but is not at a chosen key is counted, not delivered.
    assert status["matched"] - status["notUploads"] == 1


def test_a_delete_marker_a_deleted_version_and_objects_there_at_the_start_are_not_delivered(
    local_s3_events, fake_lambda, bucket
):
    there_before, deleted = upload_key(), upload_key()
    bucket.put(there_before)
    service = local_s3_events(bucket)
    version, _ = bucket.put(deleted)
    service.drained()
    assert [i.object["versionId"] for i in fake_lambda.invocations] == [version]

    bucket.delete(there_before)  # a delete marker
    bucket.delete(deleted, version_id=version)  # the version itself
    [status] = service.drained()

    assert len(fake_lambda.invocations) == 1
    assert (status["matched"], status["delivered"]) == (1, 1)


@pytest.mark.parametrize(
    "failure", [EMULATOR_FUNCTION_ERROR, LAMBDA_FUNCTION_ERROR], ids=["emulator-500", "lambda-function-error"]
)
def test_a_failing_function_gets_the_event_again_twice_then_it_is_dropped(
    local_s3_events, fake_lambda, bucket, failure
):
    fake_lambda.behaviour = lambda invocation, number: failure
    retry_seconds = 0.2
    service = local_s3_events(bucket, retry_seconds=retry_seconds)
    upload = new_ulid()
    key = upload_key(study="STUDY-NOT-LOGGED", upload=upload)
    bucket.put(key, b"value\nMARKER-NEVER-LOGGED\n")
    [status] = service.drained()

    # The first invocation and two retries, the same event each time, spaced; no more after the drain.
    first, second, third = fake_lambda.invocations
    assert first.event == second.event == third.event
    assert second.arrived - first.arrived >= retry_seconds and third.arrived - second.arrived >= retry_seconds
    assert (status["invocations"], status["failedInvocations"], status["delivered"], status["dropped"]) == (3, 3, 0, 1)
    assert status["lastError"].startswith(f"HTTP {failure.status}")
    # The log names the function, the upload's id and the status; never the key or the content.
    log = service.log_text()
    assert f"{FUNCTION} <- {bucket.name}: upload {upload}: invocation failed (HTTP {failure.status}" in log
    assert "dropped after 2 retries" in log
    assert "STUDY-NOT-LOGGED" not in log and "MARKER-NEVER-LOGGED" not in log


def test_a_function_that_fails_once_gets_the_event_on_the_first_retry(local_s3_events, fake_lambda, bucket):
    fake_lambda.behaviour = lambda invocation, number: EMULATOR_FUNCTION_ERROR if number == 0 else Answer()
    service = local_s3_events(bucket)
    bucket.put(upload_key())
    [status] = service.drained()

    assert len(fake_lambda.invocations) == 2
    assert (status["delivered"], status["failedInvocations"], status["dropped"]) == (1, 1, 0)


def test_an_unreachable_function_is_retried_like_a_failing_one(local_s3_events, fake_lambda, bucket):
    fake_lambda.close()  # nothing listens on its port any more
    service = local_s3_events(bucket)
    bucket.put(upload_key())
    [status] = service.drained()

    assert (status["invocations"], status["dropped"]) == (3, 1)
    assert status["lastError"].startswith("invoke failed: ")


def test_a_long_invocation_holds_back_no_other(local_s3_events, fake_lambda, bucket):
    release = threading.Event()
    first_key = upload_key()

    def behaviour(invocation, number):
        if invocation.object["key"] == first_key:
            release.wait(60)
        return Answer()

    fake_lambda.behaviour = behaviour
    service = local_s3_events(bucket)
    bucket.put(first_key)
    fake_lambda.wait_for_invocations(1)

    # WHEN another upload arrives while the first one's invocation runs: it is invoked all the same
    second_key = upload_key()
    bucket.put(second_key)
    try:
        invocations = fake_lambda.wait_for_invocations(2, timeout=30)
    finally:
        release.set()
    assert [i.object["key"] for i in invocations] == [first_key, second_key]
    [status] = service.drained()
    assert status["delivered"] == 2


def test_drain_waits_for_the_function_to_answer(local_s3_events, fake_lambda, bucket):
    release = threading.Event()

    def behaviour(invocation, number):
        release.wait(60)
        return Answer()

    fake_lambda.behaviour = behaviour
    service = local_s3_events(bucket)
    bucket.put(upload_key())

    # WHEN a drain is asked for right after the upload, and the function has the event but has not answered
    answer = {}
    waiting = threading.Thread(target=lambda: answer.update(zip(("status", "body"), service.drain(timeout=60))))
    waiting.start()
    fake_lambda.wait_for_invocations(1)
    # THEN that drain waits; one with a short timeout answers 504, with the delivery in flight
    assert waiting.is_alive()
    status, body = service.drain(timeout=0.2)
    assert status == 504 and body["drained"] is False
    assert body["notifications"][0]["inFlight"] == 1

    # WHEN the function answers: the waiting drain answers 200, the event delivered
    release.set()
    waiting.join(60)
    assert answer["status"] == 200 and answer["body"]["drained"] is True
    assert answer["body"]["notifications"][0]["delivered"] == 1


def test_drain_lists_the_bucket_again_before_it_answers(local_s3_events, fake_lambda, bucket):
    # No listing but those a drain asks for: a drain that answered from an older listing would miss the upload.
    service = local_s3_events(bucket, interval=3600)
    for expected in (1, 2):
        bucket.put(upload_key())
        [status] = service.drained()
        assert (len(fake_lambda.invocations), status["delivered"]) == (expected, expected)


def test_health_status_and_a_bad_drain(local_s3_events, bucket):
    service = local_s3_events(bucket)

    assert service.request("GET", "/health") == (200, {"ok": True})
    status, body = service.request("GET", "/status")
    assert status == 200 and body["lastError"] is None
    [notification] = body["notifications"]
    assert notification["bucketName"] == bucket.name and notification["function"] == FUNCTION
    assert (notification["event"], notification["prefix"], notification["suffix"]) == (
        "s3:ObjectCreated:*", "imports/", ".csv",
    )
    assert service.request("POST", "/drain", raw=b'{"timeoutSeconds": -1}')[0] == 400
    assert service.request("POST", "/drain", raw=b"[]")[0] == 400
    assert service.request("GET", "/nothing")[0] == 404


def test_a_configuration_for_other_events_gets_no_upload(local_s3_events, fake_lambda, bucket):
    service = local_s3_events(bucket, event="s3:ObjectRemoved:*")
    bucket.put(upload_key())
    [status] = service.drained()

    assert fake_lambda.invocations == []
    assert status["matched"] == 0


def test_without_notifications_it_lists_nothing_and_drains_at_once(local_s3_events, bucket):
    template = f"Resources:\n  Uploads:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: {bucket.name}\n"
    service = local_s3_events(template=template, invoke=False)

    assert service.drain(timeout=0) == (200, {"drained": True, "lastError": None, "notifications": []})


def test_a_bucket_that_is_not_there_stops_it_at_the_start(tmp_path, fake_lambda):
    from conftest import LocalS3Events

    path = tmp_path / "template.yaml"
    path.write_text(template_text("s3-events-test-no-such-bucket"))
    with pytest.raises(AssertionError, match="NoSuchBucket"):
        LocalS3Events(path, tmp_path / "log", fake_lambda.port)
