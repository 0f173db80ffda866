"""The parts of scripts/local_s3_events.py that need no server, in process: the template's notifications (and those of
template.yaml itself), the keys the import API chooses, what a configuration matches, the event's fields."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import SCRIPTS, new_ulid
from local_stack import CfnLoader
from local_s3_events import (
    ConfigError,
    Notification,
    Sequencer,
    Version,
    event_time,
    listing_prefix,
    notifications,
    s3_record,
    upload_id,
)


def notifications_of(configuration, function_properties="", function_type="AWS::Serverless::Function"):
    text = f"""\
Globals:
  Function:
    Timeout: 10
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: uploads-bucket
      NotificationConfiguration:
        LambdaConfigurations:
{configuration}
  Importer:
    Type: {function_type}
    Metadata:
      BuildProperties:
        Binary: importer
    Properties:
      CodeUri: .
{function_properties}
"""
    return notifications(yaml.load(text, Loader=CfnLoader))


def test_template_yaml_notifies_the_import_function_of_csv_files_under_imports():
    # The stack's region, as scripts/lib.sh sets it: the bucket's local name holds it.
    env = {**os.environ, "AWS_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, SCRIPTS / "local_s3_events.py", "notifications"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "bucket": "ImportBucket",
            "bucketName": "local-123456789012-us-east-1-edc-imports",
            "configurationId": "ImportBucket-LambdaConfigurations-0",
            "event": "s3:ObjectCreated:*",
            "prefix": "imports/",
            "suffix": ".csv",
            "function": "import-csv",
            "timeout": 900.0,
        }
    ]


def test_a_configuration_reads_event_function_rules_and_the_functions_timeout():
    [n] = notifications_of(
        """\
          - Event: s3:ObjectCreated:Put
            Function:
              Fn::GetAtt: [Importer, Arn]
            Filter:
              S3Key:
                Rules:
                  - Name: Suffix
                    Value: .csv
                  - Name: prefix
                    Value: incoming/
""",
        "      Timeout: 60",
    )
    assert (n.bucket, n.bucket_name, n.function, n.function_id) == ("Uploads", "uploads-bucket", "importer", "Importer")
    assert (n.event, n.prefix, n.suffix, n.timeout) == ("s3:ObjectCreated:Put", "incoming/", ".csv", 60.0)


def test_a_configuration_without_a_filter_matches_every_key_and_takes_the_global_timeout():
    [n] = notifications_of("          - Event: s3:ObjectCreated:*\n            Function: !GetAtt Importer.Arn")
    assert (n.prefix, n.suffix, n.timeout) == ("", "", 10.0)


ANY_CREATED = "          - Event: s3:ObjectCreated:*\n"


@pytest.mark.parametrize(
    "configuration, message",
    [
        (ANY_CREATED + "            Function: !Ref Importer", "!GetAtt <Function>.Arn"),
        (ANY_CREATED + "            Function: !GetAtt Importer.Name", "!GetAtt <Function>.Arn"),
        (ANY_CREATED + "            Function: !GetAtt Nothing.Arn", "!GetAtt <Function>.Arn"),
        ("          - Event: ObjectCreated\n            Function: !GetAtt Importer.Arn", "S3 event type"),
        (
            """\
          - Event: s3:ObjectCreated:*
            Function: !GetAtt Importer.Arn
            Filter:
              S3Key:
                Rules:
                  - {Name: prefix, Value: a/}
                  - {Name: prefix, Value: b/}
""",
            "at most one prefix and one suffix",
        ),
        (
            """\
          - Event: s3:ObjectCreated:*
            Function: !GetAtt Importer.Arn
            Filter:
              S3Key:
                Rules:
                  - {Name: contains, Value: a}
""",
            "at most one prefix and one suffix",
        ),
    ],
)
def test_a_configuration_s3_would_refuse_is_refused(configuration, message):
    with pytest.raises(ConfigError, match=message):
        notifications_of(configuration)


def test_a_function_without_a_binary_is_refused():
    text = """\
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectCreated:*
            Function: !GetAtt Importer.Arn
  Importer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
"""
    with pytest.raises(ConfigError, match="Metadata.BuildProperties.Binary"):
        notifications(yaml.load(text, Loader=CfnLoader))


def test_the_keys_the_import_api_chooses_are_recognised_and_no_others():
    ulid = new_ulid()
    assert upload_id(f"imports/observations/CARDIO-7/S01/{ulid}.csv") == ulid
    assert upload_id(f"imports/questionnaires/a b/c+d/{ulid}.csv") == ulid
    # The largest ULID there is, and the smallest.
    assert upload_id("imports/a/b/c/7ZZZZZZZZZZZZZZZZZZZZZZZZZ.csv") == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
    assert upload_id("imports/a/b/c/00000000000000000000000000.csv") == "00000000000000000000000000"
    for key in [
        f"imports/a/b/c/{ulid.lower()}.csv",
        f"imports/a/b/c/{ulid[:-1]}.csv",
        f"imports/a/b/c/{ulid}0.csv",
        f"imports/a/b/c/8{ulid[1:]}.csv",
        *(f"imports/a/b/c/{ulid[:-1]}{letter}.csv" for letter in "ILOU"),
        f"imports/a/b/{ulid}.csv",
        f"imports/a/b/c/d/{ulid}.csv",
        f"imports//b/c/{ulid}.csv",
        f"imports/a/b/c/{ulid}.csv.bak",
        f"imports/a/b/c/{ulid}.CSV",
        f"reports/a/b/c/{ulid}.csv",
        f"/imports/a/b/c/{ulid}.csv",
    ]:
        assert upload_id(key) is None, key


def notification(event="s3:ObjectCreated:*", prefix="imports/", suffix=".csv"):
    return Notification("Uploads", "uploads-bucket", "Uploads-LambdaConfigurations-0", event, prefix, suffix,
                        "importer", "Importer", 900.0)


def test_a_configuration_matches_its_event_types_prefix_and_suffix():
    key = "imports/a/b/c/x.csv"
    assert notification().matches(key, "ObjectCreated:Put")
    assert notification().matches(key, "ObjectCreated:CompleteMultipartUpload")
    assert notification("s3:ObjectCreated:Put").matches(key, "ObjectCreated:Put")
    assert not notification("s3:ObjectCreated:Put").matches(key, "ObjectCreated:CompleteMultipartUpload")
    assert not notification("s3:ObjectCreated:Copy").matches(key, "ObjectCreated:Put")
    assert not notification("s3:ObjectRemoved:*").matches(key, "ObjectCreated:Put")
    assert not notification().matches("imports/a/b/c/x.txt", "ObjectCreated:Put")
    assert not notification().matches("other/a/b/c/x.csv", "ObjectCreated:Put")
    assert notification(prefix="", suffix="").matches("anything", "ObjectCreated:Put")


def test_a_bucket_is_listed_under_its_configurations_common_prefix_within_imports():
    assert listing_prefix(["imports/"]) == "imports/"
    assert listing_prefix([""]) == "imports/"
    assert listing_prefix(["imports/observations/", "imports/questionnaires/"]) == "imports/"
    assert listing_prefix(["imports/observations/"]) == "imports/observations/"
    assert listing_prefix(["incoming/"]) == "incoming/"


def test_the_record_names_the_version_as_s3_does():
    version = Version("imports/a b/c+d/é/X.csv", "v-1", '"0123456789abcdef0123456789abcdef"', 12,
                      "2026-03-01T09:30:05.000Z")
    record = s3_record(notification(), version, "0123ABCD", "eu-central-1")
    assert record["awsRegion"] == "eu-central-1"
    assert record["eventTime"] == "2026-03-01T09:30:05.000Z"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "Uploads-LambdaConfigurations-0"
    assert record["s3"]["object"] == {
        "key": "imports/a+b/c%2Bd/%C3%A9/X.csv",
        "size": 12,
        "eTag": "0123456789abcdef0123456789abcdef",
        "versionId": "v-1",
        "sequencer": "0123ABCD",
    }


def test_a_multipart_upload_and_an_unversioned_object_are_named_as_s3_names_them():
    multipart = Version("imports/a/b/c/X.csv", "null", '"0123456789abcdef0123456789abcdef-3"', 12,
                        "2026-03-01T09:30:05Z")
    record = s3_record(notification(), multipart, "0A", "eu-central-1")
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert record["eventTime"] == "2026-03-01T09:30:05.000Z"
    # A bucket without versioning: S3 names no version.
    assert "versionId" not in record["s3"]["object"]
    assert record["s3"]["object"]["eTag"] == "0123456789abcdef0123456789abcdef-3"


def test_the_sequencer_grows_with_every_event_as_upper_case_hex():
    sequencer = Sequencer()
    values = [sequencer.next() for _ in range(1000)]
    assert all(v == v.upper() and len(v) == len(values[0]) for v in values)
    numbers = [int(v, 16) for v in values]
    assert all(a < b for a, b in zip(numbers, numbers[1:]))


def test_event_time_keeps_milliseconds_in_utc():
    assert event_time("2026-03-01T09:30:05.123Z") == "2026-03-01T09:30:05.123Z"
    assert event_time("2026-03-01T10:30:05.123+01:00") == "2026-03-01T09:30:05.123Z"
