"""The parts of scripts/local_streams.py that moto cannot exercise, in process: the template's event sources, the
verdict on a function's answer, filters, the event of a TTL deletion, and against a fake streams API, records undone
after they were read and shards that split."""

import json
import textwrap
import threading

import pytest
import yaml
from local_stack import CfnLoader
from local_streams import ConfigError, EventSource, Poller, event_sources, judge, lambda_record, matches

ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/records/stream/2026-01-01T00:00:00.000"


def sources_of(event_properties, function_properties="", parameters=""):
    text = f"""\
Parameters:
  Size:
    Type: Number
    Default: 42
{parameters}
Globals:
  Function:
    Timeout: 10
Resources:
  Records:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: records-table
  Consumer:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: consumer
    Properties:
{function_properties}
      Events:
        Changes:
          Type: DynamoDB
          Properties:
{event_properties}
"""
    return event_sources(yaml.load(text, Loader=CfnLoader))


def test_an_event_source_takes_lambdas_defaults():
    [source] = sources_of("            Stream: !GetAtt Records.StreamArn\n            StartingPosition: LATEST")
    assert (source.function, source.table, source.table_name) == ("consumer", "Records", "records-table")
    assert (source.batch_size, source.window, source.max_retries) == (100, 0, -1)
    assert (source.report_failures, source.bisect, source.filters, source.timeout) == (False, False, [], 10)


def test_an_event_source_reads_every_setting_in_either_getatt_form():
    [source] = sources_of(
        """\
            Stream:
              Fn::GetAtt: [Records, StreamArn]
            StartingPosition: TRIM_HORIZON
            BatchSize: !Ref Size
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            MaximumRetryAttempts: 3
            BisectBatchOnFunctionError: true
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["REMOVE"]}'""",
        function_properties="      Timeout: 30",
    )
    assert (source.starting_position, source.batch_size, source.window, source.max_retries) == (
        "TRIM_HORIZON",
        42,
        2,
        3,
    )
    assert (source.report_failures, source.bisect, source.filters, source.timeout) == (
        True,
        True,
        [{"eventName": ["REMOVE"]}],
        30,
    )


def test_a_disabled_event_source_is_not_read():
    assert sources_of("            Stream: !GetAtt Records.StreamArn\n            StartingPosition: LATEST\n"
                      "            Enabled: false") == []


@pytest.mark.parametrize(
    "properties, message",
    [
        ("Stream: arn:aws:dynamodb:x\nStartingPosition: LATEST", "!GetAtt <Table>.StreamArn"),
        ("Stream: !GetAtt Records.Arn\nStartingPosition: LATEST", "!GetAtt <Table>.StreamArn"),
        ("Stream: !GetAtt Records.StreamArn\nStartingPosition: AT_TIMESTAMP", "StartingPosition"),
        ("Stream: !GetAtt Records.StreamArn\nStartingPosition: LATEST\nBatchSize: 0", "BatchSize"),
        ("Stream: !GetAtt Records.StreamArn\nStartingPosition: LATEST\nFunctionResponseTypes: [Other]",
         "FunctionResponseTypes"),
        ("Stream: !GetAtt Records.StreamArn\nStartingPosition: LATEST\n"
         "FilterCriteria: {Filters: [{Pattern: '{\"a\": [{\"cidr\": \"10.0.0.0/8\"}]}'}]}", "filter operators"),
    ],
)
def test_an_event_source_lambda_would_refuse_stops_it_at_start(properties, message):
    with pytest.raises(ConfigError, match=message):
        sources_of(textwrap.indent(properties, " " * 12))


@pytest.mark.parametrize(
    "answer, verdict",
    [
        (b"", ("ok", None)),
        (b"null", ("ok", None)),
        (b"{}", ("ok", None)),
        (b'{"batchItemFailures": null}', ("ok", None)),
        (b'{"batchItemFailures": []}', ("ok", None)),
        (b'"done"', ("ok", None)),
        (b'{"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]}', ("partial", 1)),
        (b'{"batchItemFailures": [{"itemIdentifier": "1"}]}', ("partial", 0)),
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', ("failed", None)),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', ("failed", None)),
        (b'{"batchItemFailures": [{"ItemIdentifier": "2"}]}', ("failed", None)),
        (b'{"batchItemFailures": [{"itemIdentifier": "9"}]}', ("failed", None)),
    ],
)
def test_an_answer_with_report_batch_item_failures_is_judged_as_lambda_documents(answer, verdict):
    outcome, detail = judge(200, None, answer, ["1", "2", "3"], report_failures=True)
    assert (outcome, detail if outcome != "failed" else None) == verdict


def test_errors_fail_the_batch_whatever_the_answer_says():
    partial = b'{"batchItemFailures": [{"itemIdentifier": "2"}]}'
    assert judge(500, None, partial, ["1", "2"], report_failures=True)[0] == "failed"
    assert judge(200, "Unhandled", partial, ["1", "2"], report_failures=True)[0] == "failed"
    assert judge(None, None, b"", ["1", "2"], report_failures=True)[0] == "failed"
    assert judge(200, None, partial, ["1", "2"], report_failures=False) == ("ok", None)


def test_a_ttl_deletion_carries_the_service_identity_as_lambda_spells_it():
    record = {
        "eventID": "e",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1700000000.9,
            "Keys": {"id": {"S": "x"}},
            "OldImage": {"id": {"S": "x"}},
            "SequenceNumber": "5",
            "SizeBytes": 9,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "userIdentity": {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"},
    }
    event = lambda_record(record, ARN, "eu-central-1")
    assert event["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert event["dynamodb"]["ApproximateCreationDateTime"] == 1700000000
    assert (event["awsRegion"], event["eventSourceARN"], event["eventVersion"]) == ("eu-central-1", ARN, "1.1")
    del record["userIdentity"]
    assert "userIdentity" not in lambda_record(record, ARN, "eu-central-1")


@pytest.mark.parametrize(
    "pattern, matched",
    [
        ({"eventName": ["INSERT", "MODIFY"]}, True),
        ({"eventName": [{"anything-but": ["INSERT"]}]}, False),
        ({"dynamodb": {"NewImage": {"count": {"N": [{"numeric": [">", 2, "<=", 3]}]}}}}, True),
        ({"dynamodb": {"NewImage": {"count": {"N": [{"numeric": [">", 3]}]}}}}, False),
        ({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}, True),
        ({"dynamodb": {"NewImage": {"name": {"S": [{"prefix": "Ja"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"name": {"S": [{"suffix": "ne"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"name": {"S": [{"equals-ignore-case": "JANE"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"flag": {"BOOL": [1]}}}}, False),
        ({"dynamodb": {"OldImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"OldImage": {"name": {"S": [{"exists": False}]}}}}, True),
        ({"dynamodb": {"OldImage": {"name": [{"exists": True}]}}}, False),
        ({"dynamodb": {"NewImage": {"name": [{"exists": True}]}}}, True),
        ({"userIdentity": {"type": ["Service"]}}, False),
    ],
)
def test_filters_match_as_lambda_event_filtering_does(pattern, matched):
    event = {
        "eventName": "INSERT",
        "dynamodb": {
            "NewImage": {
                "count": {"N": "3"},
                "tags": {"SS": ["a", "b"]},
                "name": {"S": "Jane"},
                "flag": {"BOOL": True},
            }
        },
    }
    assert matches(pattern, event) is matched


# ---------------------------------------------------------------------------------------------------------------
# Against a fake streams API


def record(sequence, event_id, key):
    return {
        "eventID": event_id,
        "eventName": "INSERT",
        "eventVersion": "1.0",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1.5,
            "Keys": {"pk": {"S": key}},
            "NewImage": {"pk": {"S": key}},
            "SequenceNumber": str(sequence),
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


class FakeStreams:
    """Shards as lists of records; `views` can show a read something else than the shard holds (a write that is
    about to be undone)."""

    def __init__(self, shards):
        self.shards_ = shards  # id -> {"records": [...], "parent": id or None, "closed": bool}
        self.lock = threading.Lock()
        self.first_view = {}
        self.barriers = 0

    def stream_arn(self, table):
        return ARN

    def barrier(self):
        with self.lock:
            self.barriers += 1

    def shards(self, stream_arn):
        with self.lock:
            return [
                {
                    "ShardId": shard_id,
                    **({"ParentShardId": s["parent"]} if s.get("parent") else {}),
                    "SequenceNumberRange": {"StartingSequenceNumber": "0", **({"EndingSequenceNumber": "99"} if
                                                                               s.get("closed") else {})},
                }
                for shard_id, s in self.shards_.items()
            ]

    def records(self, stream_arn, shard_id, after, limit, at=False):
        with self.lock:
            shard = self.shards_[shard_id]
            held = self.first_view.pop(shard_id, None) or shard["records"]
            if after is None:
                rest = list(held)
            else:
                rest = [r for r in held if (int(r["dynamodb"]["SequenceNumber"]) >= int(after) if at else
                                            int(r["dynamodb"]["SequenceNumber"]) > int(after))]
            page = rest[:limit]
            closed = bool(shard.get("closed")) and len(rest) <= limit
            return page, len(page) == limit and not closed, closed

    def append(self, shard_id, *records):
        with self.lock:
            self.shards_[shard_id]["records"].extend(records)


class FakeInvoker:
    def __init__(self):
        self.batches = []
        self.gates = {}  # first key of a batch -> event to wait for
        self.changed = threading.Condition()

    def invoke(self, function, payload, timeout):
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in json.loads(payload)["Records"]]
        gate = self.gates.get(keys[0])
        if gate:
            gate.wait(30)
        with self.changed:
            self.batches.append(keys)
            self.changed.notify_all()
        return 200, None, b"null", None


def poller_on(streams, position="TRIM_HORIZON"):
    source = EventSource(
        function="consumer",
        function_id="Consumer",
        event="Changes",
        table="Records",
        table_name="records",
        starting_position=position,
        batch_size=10,
        window=0,
        report_failures=False,
        max_retries=-1,
        bisect=False,
        filters=[],
        timeout=3,
    )
    return Poller(streams, FakeInvoker(), [source])


@pytest.fixture
def started():
    pollers = []

    def start(poller):
        pollers.append(poller)
        poller.start()
        return poller

    yield start
    for poller in pollers:
        poller.stopping.set()


def test_records_read_before_a_failed_transaction_was_undone_are_read_again(started):
    # GIVEN a read that sees a record of a transaction about to be undone, whose sequence number moto then gives to
    # the next record written
    streams = FakeStreams({"s1": {"records": [record(1, "one", "kept"), record(2, "two", "after")]}})
    streams.first_view["s1"] = [record(1, "one", "kept"), record(2, "undone", "undone")]

    poller = started(poller_on(streams))

    # THEN what is delivered is what the shard holds once the transaction is over
    assert poller.drain(10)
    assert poller.invoker.batches == [["kept", "after"]]
    assert streams.barriers >= 1


def test_a_child_shard_is_read_after_its_parent_is_delivered_to_its_end(started, monkeypatch):
    streams = FakeStreams(
        {
            "parent": {"records": [record(1, "a", "p1"), record(2, "b", "p2")], "closed": True},
            "child": {"records": [record(3, "c", "c1"), record(4, "d", "c2")], "parent": "parent"},
        }
    )
    poller = poller_on(streams)
    release = threading.Event()
    poller.invoker.gates["p1"] = release

    started(poller)
    # While the parent's batch is with the function, the child waits.
    assert set(poller.mappings[0].readers) == {"parent"}
    assert not poller.drain(0)
    release.set()

    assert poller.drain(10)
    assert poller.invoker.batches == [["p1", "p2"], ["c1", "c2"]]
    assert set(poller.mappings[0].readers) == {"parent", "child"}


def test_latest_skips_closed_shards_and_starts_open_ones_at_their_end(started):
    streams = FakeStreams(
        {
            "parent": {"records": [record(1, "a", "p1")], "closed": True},
            "child": {"records": [record(2, "b", "c1")], "parent": "parent"},
        }
    )
    poller = started(poller_on(streams, position="LATEST"))
    streams.append("child", record(3, "c", "new"))

    assert poller.drain(10)
    assert poller.invoker.batches == [["new"]]
    assert set(poller.mappings[0].readers) == {"child"}
