"""A local stand-in for Lambda's event source mappings of DynamoDB streams.

In AWS, Lambda polls each shard of a table's stream and invokes the function with batches of records. Locally moto
keeps the streams (DynamoDB Streams API) and `cargo lambda watch` runs the functions (Invoke API), but nothing reads
the one to call the other. This does, for every `AWS::Serverless::Function` event of `Type: DynamoDB` in
template.yaml, with the semantics Lambda documents:

- the function is the function's `Metadata.BuildProperties.Binary`; the stream is the one of the table that
  `Stream: !GetAtt <Table>.StreamArn` names (its local name from local_stack.py's `Resolver`);
- `StartingPosition` (TRIM_HORIZON or LATEST), `BatchSize` (default 100), `MaximumBatchingWindowInSeconds`,
  `FunctionResponseTypes: [ReportBatchItemFailures]`, `MaximumRetryAttempts` (-1, the default: forever),
  `BisectBatchOnFunctionError`, `FilterCriteria` (exact values, prefix, suffix, anything-but, exists,
  equals-ignore-case, numeric), `Enabled`; a batch also stays under the 6 MB invocation payload limit;
- each shard's records are delivered in order, one batch in flight per shard; shards that appear later are read
  once their parent shard is finished;
- a failed invocation (an HTTP error of the emulator, a connection error, or a function error: `cargo lambda watch`
  answers one with 500, Lambda with 200 and `X-Amz-Function-Error`) retries the same batch with exponential backoff,
  up to `MaximumRetryAttempts`, then the batch is discarded (logged with its sequence numbers: Lambda would send
  this to the on-failure destination); with `BisectBatchOnFunctionError` a failed batch is first split in two;
- with `ReportBatchItemFailures`, `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}` acknowledges the
  records before the lowest one named and retries from it, reading again from there (records written since may
  join the batch, up to BatchSize); with bisection too, only the rest of the batch is retried; an empty or null
  list, or any other successful answer, acknowledges the whole batch; an identifier that is empty, missing or names
  no record of the batch fails the whole batch;
- the event is the one Lambda sends: `{"Records": [{eventID, eventName, eventVersion "1.1", eventSource, awsRegion,
  dynamodb: {ApproximateCreationDateTime (whole epoch seconds), Keys, NewImage, OldImage, SequenceNumber,
  SizeBytes, StreamViewType}, eventSourceARN, userIdentity (TTL deletes)}]}`.

Tests await delivery instead of sleeping: `POST /drain` answers 200 once every record that was in the streams when
the request arrived has been delivered and acknowledged (or discarded after its retries, or filtered out), or 504
when the request's timeout passes first, with what is still pending per stream as counts.

What moto does that DynamoDB does not, and what this does about it (moto 5.2.5 behind scripts/moto_server.py):

- A TransactWriteItems that fails is undone by putting back a copy of each table it touched, stream included; the
  original shard, with records of the writes that were undone, lives on in every shard iterator issued before. So
  every read here starts from a fresh `GetShardIterator` at the last sequence number read (never a
  `NextShardIterator`), which finds the table as it is now.
- Stream requests are not among the DynamoDB requests moto_server.py applies one at a time, so a read can see the
  records of a transaction that is still running and is about to be undone (moto then reuses their sequence numbers
  for other records). Before records are delivered, one DynamoDB request (which waits for any write in progress)
  and a re-read of the last record confirm it is still there, with the same event id; if not, the read is repeated.
- Every GetShardIterator and GetRecords leaves an iterator object in moto's memory for good (about 2 KB): an idle
  shard is read once a second (and at once on `/drain`), not four times a second as Lambda does.
- moto answers GetRecords through its generic response serializer, about 2.5 ms of CPU per record with images (its
  DynamoDB API answers through its own JSON encoder): reading the records of a large import takes as much of moto as
  writing them. Each read asks for no more records than the batch being filled still needs.

Records hold patient data: nothing here logs or answers with a record, a key or a function's answer; logs and the
HTTP answers carry function and table names, shard ids, sequence numbers, counts and HTTP statuses only.

    python local_streams.py serve [--port PORT] [--template FILE]
    python local_streams.py sources [--template FILE]      # the event source mappings of the template, as JSON

Environment: AWS_ENDPOINT_URL (required: the local DynamoDB and DynamoDB Streams API), AWS_REGION, credentials
(any; requests are signed), LAMBDA_INVOKE_PORT (the Invoke API of `cargo lambda watch` on 127.0.0.1; required when
the template has DynamoDB events). Without DynamoDB events it serves its HTTP interface, reads nothing and drains at
once. HTTP interface on 127.0.0.1:PORT:

    GET  /health                          200 once every mapping is reading its stream (not listening before;
                                          then the server's URL is printed on stdout, the only output there)
    GET  /status                          200 {"drained": bool, "streams": [STREAM...]}
    POST /drain  {"timeoutSeconds": 60}   200 {"drained": true, "streams": [...]}, or 504 {"drained": false, ...}
                                          (body optional: default 60 s; 400 for a body that is not that object)

    STREAM = {"function", "event", "table" (logical id), "tableName", "streamArn", "shards", "delivered",
              "invocations", "failedInvocations", "discarded", "filtered",
              "unacknowledged" (read, not yet acknowledged), "unread" (in the stream, not yet read; counted
              up to 10,000 per shard), "pending" (their sum), "lastError" (of the latest failed invocation or
              read, per shard, or null)}
    "drained" of /status: every shard's latest read reached its end and everything read is acknowledged.
"""

import argparse
import http.client
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.session import get_session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_stack import ROOT, CfnLoader, Resolver, Tag  # noqa: E402

log = logging.getLogger("local-streams")

# Lambda's limits and defaults for DynamoDB event source mappings.
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 10_000
MAX_WINDOW_SECONDS = 300
PAYLOAD_LIMIT = 6 * 1024 * 1024
GET_RECORDS_LIMIT = 1000
SAM_DEFAULT_TIMEOUT = 3
# Local choices: see the module's docstring.
IDLE_POLL_SECONDS = 1.0
DISCOVERY_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
# `cargo lambda watch` starts a function (building it if needed) on its first invocation.
INVOKE_TIMEOUT_ALLOWANCE_SECONDS = 120
DEFAULT_DRAIN_SECONDS = 60.0
UNREAD_COUNT_LIMIT = 10_000
FILTER_OPERATORS = {"prefix", "suffix", "anything-but", "exists", "equals-ignore-case", "numeric"}


class ConfigError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------------
# The template's event sources


@dataclass
class EventSource:
    function: str
    function_id: str
    event: str
    table: str
    table_name: str
    starting_position: str
    batch_size: int
    window: float
    report_failures: bool
    max_retries: int
    bisect: bool
    filters: list
    timeout: float

    def describe(self):
        return {
            "function": self.function,
            "event": self.event,
            "table": self.table,
            "tableName": self.table_name,
            "startingPosition": self.starting_position,
            "batchSize": self.batch_size,
            "maximumBatchingWindowInSeconds": self.window,
            "reportBatchItemFailures": self.report_failures,
            "maximumRetryAttempts": self.max_retries,
            "bisectBatchOnFunctionError": self.bisect,
            "filters": len(self.filters),
        }


def load_template(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


def event_sources(template):
    """Every enabled DynamoDB event of every function of the template, checked as Lambda would check it."""
    r = Resolver(template)
    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", SAM_DEFAULT_TIMEOUT)
    sources = []
    for function_id, res in r.resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        for event, spec in props.get("Events", {}).items():
            if spec.get("Type") != "DynamoDB":
                continue
            where = f"{function_id}.Events.{event}"
            p = spec.get("Properties", {})
            binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise ConfigError(f"{function_id}: a DynamoDB event needs Metadata.BuildProperties.Binary")
            if not _flag(r, p.get("Enabled", True)):
                log.info("%s: Enabled is false; not read", where)
                continue
            table = _stream_table(r, p.get("Stream"), where)
            position = r.value(p.get("StartingPosition", ""))
            if position not in ("TRIM_HORIZON", "LATEST"):
                raise ConfigError(f"{where}: StartingPosition must be TRIM_HORIZON or LATEST")
            batch_size = _number(r, p.get("BatchSize", DEFAULT_BATCH_SIZE), 1, MAX_BATCH_SIZE, f"{where}.BatchSize")
            window = _number(r, p.get("MaximumBatchingWindowInSeconds", 0), 0, MAX_WINDOW_SECONDS, f"{where}.Window")
            retries = _number(r, p.get("MaximumRetryAttempts", -1), -1, 10_000, f"{where}.MaximumRetryAttempts")
            types = [r.value(t) for t in p.get("FunctionResponseTypes", [])]
            if set(types) - {"ReportBatchItemFailures"}:
                raise ConfigError(f"{where}: FunctionResponseTypes may hold ReportBatchItemFailures only")
            for unsupported in ("TumblingWindowInSeconds", "ParallelizationFactor", "MaximumRecordAgeInSeconds"):
                if unsupported in p:
                    log.info("%s: %s is not emulated (records are delivered in order, one batch at a time)", where,
                             unsupported)
            filters = [compile_filter(f.get("Pattern"), where) for f in p.get("FilterCriteria", {}).get("Filters", [])]
            timeout = float(r.value(props.get("Timeout", global_timeout)))
            sources.append(
                EventSource(
                    function=r.value(binary),
                    function_id=function_id,
                    event=event,
                    table=table,
                    table_name=r.physical_name(table),
                    starting_position=position,
                    batch_size=batch_size,
                    window=window,
                    report_failures="ReportBatchItemFailures" in types,
                    max_retries=retries,
                    bisect=_flag(r, p.get("BisectBatchOnFunctionError", False)),
                    filters=filters,
                    timeout=timeout,
                )
            )
    return sources


def _stream_table(r, value, where):
    if isinstance(value, Tag) and value.name == "GetAtt":
        target = value.value
    elif isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
    else:
        raise ConfigError(f"{where}: Stream must be !GetAtt <Table>.StreamArn of a table of the template")
    logical, attribute = target.split(".", 1) if isinstance(target, str) else target
    if attribute != "StreamArn" or r.resources.get(logical, {}).get("Type") != "AWS::DynamoDB::Table":
        raise ConfigError(f"{where}: Stream must be !GetAtt <Table>.StreamArn of a table of the template")
    return logical


def _number(r, value, low, high, where):
    try:
        number = float(r.value(value)) if isinstance(value, Tag) else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: not a number") from None
    if not low <= number <= high:
        raise ConfigError(f"{where}: must be between {low} and {high}")
    return int(number) if number == int(number) else number


def _flag(r, value):
    return value if isinstance(value, bool) else str(r.value(value)).lower() == "true"


# ---------------------------------------------------------------------------------------------------------------
# Event filtering (Lambda's FilterCriteria: the subset of EventBridge patterns listed in the module's docstring)

_MISSING = object()


def compile_filter(text, where):
    try:
        pattern = json.loads(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: a FilterCriteria pattern is not a JSON object") from None
    _check_pattern(pattern, where)
    return pattern


def _check_pattern(pattern, where):
    if not isinstance(pattern, dict) or not pattern:
        raise ConfigError(f"{where}: a FilterCriteria pattern must be a non-empty object of objects and lists")
    for rule in pattern.values():
        if isinstance(rule, dict):
            _check_pattern(rule, where)
        elif isinstance(rule, list) and rule:
            for matcher in rule:
                if isinstance(matcher, dict):
                    if len(matcher) != 1 or next(iter(matcher)) not in FILTER_OPERATORS:
                        raise ConfigError(f"{where}: filter operators supported locally: {sorted(FILTER_OPERATORS)}")
                    op, arg = next(iter(matcher.items()))
                    if op == "numeric" and not _numeric_rule(arg):
                        raise ConfigError(f"{where}: a numeric filter is a list of operator, number pairs")
                elif not (matcher is None or isinstance(matcher, (str, int, float, bool))):
                    raise ConfigError(f"{where}: a filter value must be a string, number, boolean, null or operator")
        else:
            raise ConfigError(f"{where}: a FilterCriteria pattern must be a non-empty object of objects and lists")


def _numeric_rule(arg):
    return (
        isinstance(arg, list)
        and arg
        and len(arg) % 2 == 0
        and all(op in ("=", "<", "<=", ">", ">=") for op in arg[0::2])
        and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in arg[1::2])
    )


def matches(pattern, event):
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if not matches(rule, value if isinstance(value, dict) else {}):
                return False
        elif not any(_match(matcher, value) for matcher in rule):
            return False
    return True


def _match(matcher, value):
    if isinstance(matcher, dict):
        op, arg = next(iter(matcher.items()))
        if op == "exists":
            return (value is not _MISSING) == bool(arg)
        if value is _MISSING:
            return False
        values = value if isinstance(value, list) else [value]
        if op == "anything-but":
            excluded = arg if isinstance(arg, list) else [arg]
            return all(not any(_same(v, x) for x in excluded) for v in values)
        return any(_match_operator(op, arg, v) for v in values)
    if value is _MISSING:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_same(v, matcher) for v in values)


def _same(a, b):
    # JSON equality: true is not 1.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _match_operator(op, arg, value):
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and isinstance(arg, str) and value.casefold() == arg.casefold()
    # numeric: DynamoDB numbers are strings ({"N": "12.5"}), and patterns on them compare as numbers.
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        return False
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return False
    compare = {"=": float.__eq__, "<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}
    return all(compare[o](float(number), float(n)) for o, n in zip(arg[0::2], arg[1::2]))


# ---------------------------------------------------------------------------------------------------------------
# The event Lambda delivers


def lambda_record(record, stream_arn, region):
    """One stream record (GetRecords) as Lambda puts it into the event: eventVersion 1.1 (moto says 1.0), whole
    epoch seconds (DynamoDB rounds down; moto keeps milliseconds), the stream's region (moto says us-east-1
    everywhere), the stream's ARN, and for TTL deletions the service's identity in the event's spelling."""
    change = record.get("dynamodb", {})
    dynamodb = {}
    if "ApproximateCreationDateTime" in change:
        dynamodb["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"])
    for key in ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"):
        if key in change:
            dynamodb[key] = change[key]
    event = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    identity = record.get("userIdentity")
    if identity:
        event["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return event


def arn_region(arn):
    return arn.split(":")[3]


# ---------------------------------------------------------------------------------------------------------------
# The local AWS API


class ApiError(Exception):
    """A failed call, named by its operation, HTTP status and error type only (messages may quote data)."""

    def __init__(self, operation, status, error_type):
        super().__init__(f"{operation}: HTTP {status} {error_type}")
        self.error_type = error_type


class Api:
    """DynamoDB and DynamoDB Streams over their JSON protocol, signed. Raw JSON, because the records pass through
    as they are: AttributeValues stay DynamoDB JSON (binary stays base64) and timestamps stay numbers, as in the
    event Lambda sends; botocore would decode both only to have them encoded again."""

    def __init__(self, endpoint, region):
        url = urlsplit(endpoint)
        self.connection = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        self.host, self.port = url.hostname, url.port
        self.url = endpoint.rstrip("/") + "/"
        self.region = region
        self.credentials = get_session().get_credentials()
        if self.credentials is None:
            raise ConfigError("no AWS credentials in the environment (any will do for the local API)")

    def call(self, target, body):
        data = json.dumps(body).encode()
        request = AWSRequest(
            method="POST",
            url=self.url,
            data=data,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
        )
        SigV4Auth(self.credentials.get_frozen_credentials(), "dynamodb", self.region).add_auth(request)
        connection = self.connection(self.host, self.port, timeout=60)
        try:
            connection.request("POST", "/", data, dict(request.headers.items()))
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        operation = target.rsplit(".", 1)[-1]
        if response.status != 200:
            try:
                error_type = json.loads(payload).get("__type", "").rsplit("#", 1)[-1]
            except ValueError:
                error_type = ""
            raise ApiError(operation, response.status, error_type or "unknown")
        return json.loads(payload)

    def stream_arn(self, table):
        return self.call("DynamoDB_20120810.DescribeTable", {"TableName": table})["Table"].get("LatestStreamArn")

    def barrier(self):
        """Any DynamoDB request: moto_server.py applies them one at a time, so this returns after every write that
        was in progress when it was sent."""
        self.call("DynamoDB_20120810.ListTables", {"Limit": 1})

    def shards(self, stream_arn):
        shards, start = [], None
        while True:
            body = {"StreamArn": stream_arn, **({"ExclusiveStartShardId": start} if start else {})}
            description = self.call("DynamoDBStreams_20120810.DescribeStream", body)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def records(self, stream_arn, shard_id, after, limit, at=False):
        """Records of a shard from the start (after=None), after a sequence number or at it, through a fresh iterator:
        ([record], more_expected, closed)."""
        request = {"StreamArn": stream_arn, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}
        if after is not None:
            kind = "AT_SEQUENCE_NUMBER" if at else "AFTER_SEQUENCE_NUMBER"
            request.update(ShardIteratorType=kind, SequenceNumber=after)
        iterator = self.call("DynamoDBStreams_20120810.GetShardIterator", request)["ShardIterator"]
        page = self.call("DynamoDBStreams_20120810.GetRecords", {"ShardIterator": iterator, "Limit": limit})
        records = page.get("Records", [])
        closed = not page.get("NextShardIterator")
        return records, len(records) == limit and not closed, closed


class Invoker:
    """The Invoke API of `cargo lambda watch` (as Lambda's: POST /2015-03-31/functions/NAME/invocations)."""

    def __init__(self, port):
        self.port = port

    def invoke(self, function, payload, timeout):
        """(HTTP status or None, X-Amz-Function-Error, body, what failed to connect)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(
                "POST",
                f"/2015-03-31/functions/{quote(function, safe='')}/invocations",
                payload,
                {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"},
            )
            response = connection.getresponse()
            return response.status, response.getheader("X-Amz-Function-Error"), response.read(), None
        except (OSError, http.client.HTTPException) as e:
            return None, None, b"", type(e).__name__
        finally:
            connection.close()


def judge(status, function_error, body, sequence_numbers, report_failures):
    """What an invocation's answer means for its batch: ("ok", None), ("partial", index of the first record to
    retry) or ("failed", why). The why names HTTP statuses and shapes only: the answer itself may hold data."""
    if status is None or not 200 <= status < 300:
        return "failed", f"HTTP {status}"
    if function_error:
        return "failed", "function error"
    if not report_failures:
        return "ok", None
    try:
        answer = json.loads(body) if body.strip() else None
    except ValueError:
        return "ok", None
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if not failures:
        return "ok", None
    if not isinstance(failures, list):
        return "failed", "batchItemFailures is not a list"
    index = {sequence: i for i, sequence in enumerate(sequence_numbers)}
    positions = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in index:
            return "failed", "a batchItemFailures entry names no record of the batch"
        positions.append(index[identifier])
    return "partial", min(positions)


# ---------------------------------------------------------------------------------------------------------------
# Reading and delivering


@dataclass
class Pending:
    sequence: str
    encoded: bytes


@dataclass
class Counts:
    delivered: int = 0
    invocations: int = 0
    failed_invocations: int = 0
    discarded: int = 0
    filtered: int = 0
    unacknowledged: int = 0
    last_error: str | None = None


class Poller:
    """Every mapping and its shard readers; one lock and condition for all their state, so /drain can wait on it."""

    def __init__(self, api, invoker, sources):
        self.api, self.invoker = api, invoker
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.mappings = [Mapping(self, source) for source in sources]

    def start(self):
        for mapping in self.mappings:
            mapping.start()
        if self.mappings:
            threading.Thread(target=self._discover_forever, name="discovery", daemon=True).start()

    def _discover_forever(self):
        while not self.stopping.wait(DISCOVERY_SECONDS):
            for mapping in self.mappings:
                mapping.discover()

    def drain(self, timeout):
        """True once every record present when called has been acknowledged, False when `timeout` passes first. A
        shard reader is caught up with the moment of the call once a read that began after it reached the end of its
        shard and everything read until then is acknowledged."""
        deadline = time.monotonic() + timeout
        for mapping in self.mappings:
            mapping.discover()
        with self.changed:
            targets = {}
            for reader in self.readers():
                targets[reader] = reader.read_generation
                reader.wake.set()
            while True:
                # Readers started since (children of a finished shard) count from their first read.
                if all(r.finished or r.settled_generation > targets.get(r, 0) for r in self.readers()):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)

    def readers(self):
        return [reader for mapping in self.mappings for reader in mapping.all_readers()]

    def idle(self):
        """Whether every reader's latest read reached the end of its shard and everything read is acknowledged."""
        with self.changed:
            return all(r.finished or r.settled_generation == r.read_generation for r in self.readers())

    def status(self, drained):
        return {"drained": drained, "streams": [mapping.status() for mapping in self.mappings]}


class Mapping:
    """One event source mapping: a function and a table's stream, a reader per shard."""

    def __init__(self, poller, source):
        self.poller, self.source = poller, source
        self.stream_arn = None
        self.readers = {}
        self.skipped = set()
        self.discovery = threading.Lock()
        self.error = None

    def start(self):
        try:
            self.stream_arn = self.poller.api.stream_arn(self.source.table_name)
        except (ApiError, OSError) as e:
            raise ConfigError(f"table {self.source.table_name} ({self.source.table}): {_why(e)}") from None
        if not self.stream_arn:
            raise ConfigError(
                f"table {self.source.table_name} ({self.source.table}) has no stream: its StreamSpecification is "
                "missing, or the table was created without StreamEnabled"
            )
        try:
            self.discover(initial=True)
        except (ApiError, OSError, ValueError) as e:
            raise ConfigError(f"stream of {self.source.table_name}: {_why(e)}") from None
        for reader in list(self.readers.values()):
            reader.ready.wait()
        log.info(
            "%s <- %s (%s): reading %d shard(s) from %s, batches of up to %d",
            self.source.function,
            self.source.table,
            self.stream_arn,
            len(self.readers),
            self.source.starting_position,
            self.source.batch_size,
        )

    def all_readers(self):
        with self.discovery:
            return list(self.readers.values())

    def discover(self, initial=False):
        """Starts a reader for every shard not read yet whose parent shard is finished (or gone). At the start, a
        LATEST mapping reads open shards from their end and skips closed ones, as Lambda does."""
        try:
            shards = self.poller.api.shards(self.stream_arn)
        except Exception as e:
            if initial:
                raise
            log.warning("%s <- %s: DescribeStream failed: %s", self.source.function, self.source.table, _why(e))
            return
        with self.discovery:
            known = {shard["ShardId"] for shard in shards}
            for shard in shards:
                shard_id = shard["ShardId"]
                if shard_id in self.readers or shard_id in self.skipped:
                    continue
                closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
                if initial and self.source.starting_position == "LATEST" and closed:
                    self.skipped.add(shard_id)
                    continue
                parent = shard.get("ParentShardId")
                if parent in known and parent not in self.skipped:
                    parent_reader = self.readers.get(parent)
                    if parent_reader is None or not parent_reader.finished:
                        continue
                latest = initial and self.source.starting_position == "LATEST"
                reader = ShardReader(self, shard_id, latest)
                self.readers[shard_id] = reader
                reader.start()

    def status(self):
        readers = self.all_readers()
        counts = Counts()
        unread = 0
        errors = []
        with self.poller.changed:
            snapshot = [(r, r.counts.__dict__.copy(), r.after, r.finished) for r in readers]
        for reader, c, after, finished in snapshot:
            for key in ("delivered", "invocations", "failed_invocations", "discarded", "filtered", "unacknowledged"):
                setattr(counts, key, getattr(counts, key) + c[key])
            if c["last_error"]:
                errors.append(f"{reader.shard_id}: {c['last_error']}")
            if not finished:
                unread += reader.count_unread(after)
        return {
            "function": self.source.function,
            "event": self.source.event,
            "table": self.source.table,
            "tableName": self.source.table_name,
            "streamArn": self.stream_arn,
            "shards": len(readers),
            "delivered": counts.delivered,
            "invocations": counts.invocations,
            "failedInvocations": counts.failed_invocations,
            "discarded": counts.discarded,
            "filtered": counts.filtered,
            "unacknowledged": counts.unacknowledged,
            "unread": unread,
            "pending": counts.unacknowledged + unread,
            "lastError": "; ".join(errors) or None,
        }


class ShardReader(threading.Thread):
    """Reads one shard in order and delivers its records, one batch in flight."""

    def __init__(self, mapping, shard_id, latest):
        super().__init__(name=f"{mapping.source.function}:{mapping.source.table}:{shard_id}", daemon=True)
        self.mapping, self.source, self.shard_id, self.latest = mapping, mapping.source, shard_id, latest
        self.poller = mapping.poller
        self.api = self.poller.api
        self.region = arn_region(mapping.stream_arn)
        self.ready = threading.Event()
        self.wake = threading.Event()
        # Under poller.changed:
        self.counts = Counts()
        self.after = None  # the sequence number of the last record read
        self.read_generation = 0  # reads begun
        self.settled_generation = -1  # the latest read that reached the end with everything read acknowledged
        self.finished = False  # a closed shard, read and delivered to its end
        # The reader's own:
        self.buffer = []  # read, not yet acknowledged, in order
        self.sizes = []  # sizes of the next batches when a batch is retried or split
        self.attempts = 0
        self.window_started = None
        self.at_end_generation = None  # the latest read, if it reached the end of the shard
        self.closed = False

    def run(self):
        while not self.poller.stopping.is_set():
            try:
                if self.latest:
                    self._skip_to_end()
                    self.latest = False
                self.ready.set()
                self._deliver_forever()
                return
            except Exception as e:  # a reader never stops: what it cannot read now, it reads later
                self._record_error(f"reading the stream: {_why(e)}")
                log.warning("%s: reading shard %s failed (%s); again in 1 s", self.source.function, self.shard_id,
                            _why(e))
                self.poller.stopping.wait(1.0)

    def _skip_to_end(self):
        while True:
            records, more, _ = self._read(GET_RECORDS_LIMIT)
            if records:
                with self.poller.changed:
                    self.after = records[-1]["dynamodb"]["SequenceNumber"]
            if not more:
                return

    def _read(self, limit):
        """One read from the last record read, confirmed (see the module's docstring) before it is used."""
        while True:
            records, more, closed = self.api.records(self.mapping.stream_arn, self.shard_id, self.after, limit)
            if not records or self._still_there(records[-1]):
                return records, more, closed
            log.info("%s: shard %s: records read were undone by a failed transaction; reading again",
                     self.source.function, self.shard_id)

    def _still_there(self, last):
        self.api.barrier()
        sequence = last["dynamodb"]["SequenceNumber"]
        again, _, _ = self.api.records(self.mapping.stream_arn, self.shard_id, sequence, 1, at=True)
        return bool(again) and again[0].get("eventID") == last.get("eventID")

    def _deliver_forever(self):
        while not self.poller.stopping.is_set():
            if not self.buffer and self.at_end_generation is not None:
                with self.poller.changed:
                    self.settled_generation = self.at_end_generation
                    if self.closed:
                        self.finished = True
                    self.poller.changed.notify_all()
                if self.closed:
                    log.info("%s: shard %s is closed and delivered", self.source.function, self.shard_id)
                    self.mapping.discover()
                    with self.poller.changed:
                        self.poller.changed.notify_all()
                    return
            if self._batch_ready():
                self._deliver()
            elif self.at_end_generation is None or self._room():
                if self.at_end_generation is not None:
                    self._idle()
                if not self.poller.stopping.is_set():
                    self._fill()
            else:
                self._idle()

    def _room(self):
        return len(self.buffer) < self.source.batch_size

    def _batch_ready(self):
        if not self.buffer:
            return False
        if self.sizes or len(self.buffer) >= self.source.batch_size:
            return True
        if sum(len(p.encoded) + 1 for p in self.buffer) + 16 >= PAYLOAD_LIMIT:
            return True
        if self.at_end_generation is None:
            return False
        return time.monotonic() >= self.window_started + self.source.window

    def _idle(self):
        """Waits for new records: the poll interval, the end of the batching window, a drain or the stop."""
        timeout = IDLE_POLL_SECONDS
        if self.buffer:
            timeout = max(0.0, min(timeout, self.window_started + self.source.window - time.monotonic()))
        self.wake.wait(timeout)
        self.wake.clear()

    def _fill(self):
        with self.poller.changed:
            self.read_generation += 1
            generation = self.read_generation
        want = max(1, self.source.batch_size - len(self.buffer))
        records, more, closed = self._read(min(want, GET_RECORDS_LIMIT))
        filtered = 0
        for record in records:
            event = lambda_record(record, self.mapping.stream_arn, self.region)
            if self.source.filters and not any(matches(f, event) for f in self.source.filters):
                filtered += 1
                continue
            encoded = json.dumps(event, separators=(",", ":")).encode()
            self.buffer.append(Pending(event["dynamodb"]["SequenceNumber"], encoded))
        if self.buffer and self.window_started is None:
            self.window_started = time.monotonic()
        self.at_end_generation = None if more else generation
        self.closed = closed
        with self.poller.changed:
            if records:
                self.after = records[-1]["dynamodb"]["SequenceNumber"]
            self.counts.filtered += filtered
            self.counts.unacknowledged = len(self.buffer)

    def _deliver(self):
        size = self.sizes.pop(0) if self.sizes else self.source.batch_size
        batch, payload_size = [], 16
        for pending in self.buffer[:size]:
            if batch and payload_size + len(pending.encoded) + 1 > PAYLOAD_LIMIT:
                break
            batch.append(pending)
            payload_size += len(pending.encoded) + 1
        payload = b'{"Records":[' + b",".join(p.encoded for p in batch) + b"]}"
        first, last = batch[0].sequence, batch[-1].sequence
        started = time.monotonic()
        status, function_error, body, connect_error = self.poller.invoker.invoke(
            self.source.function, payload, self.source.timeout + INVOKE_TIMEOUT_ALLOWANCE_SECONDS
        )
        elapsed_ms = (time.monotonic() - started) * 1000
        verdict, detail = judge(
            status, function_error, body, [p.sequence for p in batch], self.source.report_failures
        )
        if connect_error:
            detail = f"invoke failed: {connect_error}"
        with self.poller.changed:
            self.counts.invocations += 1
        if verdict == "ok":
            log.info("%s <- %s shard %s: %d records (%s..%s) delivered in %.0f ms", self.source.function,
                     self.source.table, self.shard_id, len(batch), first, last, elapsed_ms)
            self._acknowledge(len(batch))
            return
        with self.poller.changed:
            self.counts.failed_invocations += 1
        if verdict == "partial":
            log.info("%s <- %s shard %s: %d of %d records (%s..%s) acknowledged; retrying from %s",
                     self.source.function, self.source.table, self.shard_id, detail, len(batch), first, last,
                     batch[detail].sequence)
            self._acknowledge(detail)
            # Lambda retries from the checkpoint (newer records may join the batch); with bisection, only the rest.
            self._retry(len(batch) - detail, "batchItemFailures", split=False, same_batch=self.source.bisect)
            return
        log.warning("%s <- %s shard %s: invocation with %d records (%s..%s) failed: %s", self.source.function,
                    self.source.table, self.shard_id, len(batch), first, last, detail)
        self._retry(len(batch), detail, split=self.source.bisect and len(batch) > 1)

    def _acknowledge(self, n):
        if n:
            self.attempts = 0
        self._release(n, "delivered")

    def _release(self, n, outcome):
        """Drops the first `n` buffered records, counted as `outcome` (delivered or discarded), and wakes /drain."""
        del self.buffer[:n]
        if not self.buffer:
            self.window_started = None
        with self.poller.changed:
            setattr(self.counts, outcome, getattr(self.counts, outcome) + n)
            self.counts.unacknowledged = len(self.buffer)
            self.poller.changed.notify_all()

    def _retry(self, n, why, split, same_batch=True):
        self._record_error(why)
        if split:
            half = n // 2
            self.sizes[0:0] = [half, n - half]
            log.info("%s: shard %s: batch split in two (%d + %d records)", self.source.function, self.shard_id,
                     half, n - half)
            return
        self.attempts += 1
        if 0 <= self.source.max_retries < self.attempts:
            first, last = self.buffer[0].sequence, self.buffer[n - 1].sequence
            log.warning("%s <- %s shard %s: %d records (%s..%s) discarded after %d retries", self.source.function,
                        self.source.table, self.shard_id, n, first, last, self.attempts - 1)
            self.attempts = 0
            self._release(n, "discarded")
            return
        if same_batch:
            self.sizes.insert(0, n)
        else:
            self.at_end_generation = None
        delay = min(FIRST_BACKOFF_SECONDS * 2 ** (self.attempts - 1), MAX_BACKOFF_SECONDS)
        self.poller.stopping.wait(delay)

    def _record_error(self, why):
        with self.poller.changed:
            self.counts.last_error = why

    def count_unread(self, after):
        """Records in the shard after `after`, counted by reading (for /status and a timed-out /drain), up to
        UNREAD_COUNT_LIMIT: moto answers GetRecords slowly."""
        unread = 0
        try:
            while unread < UNREAD_COUNT_LIMIT:
                records, more, _ = self.api.records(self.mapping.stream_arn, self.shard_id, after, GET_RECORDS_LIMIT)
                unread += len(records)
                if records:
                    after = records[-1]["dynamodb"]["SequenceNumber"]
                if not more:
                    return unread
            return unread
        except Exception:
            return unread


def _why(error):
    return str(error) if isinstance(error, ApiError) else type(error).__name__


# ---------------------------------------------------------------------------------------------------------------
# The HTTP interface


def handler_for(source):
    """The control interface of a local event source (here the stream poller; local_s3_events.py's watcher too):
    `source` has `status(drained)`, `idle()` and `drain(timeout)`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/health":
                self._answer(200, {"ok": True})
            elif self.path == "/status":
                self._answer(200, source.status(drained=source.idle()))
            else:
                self._answer(404, {"message": "GET /health, GET /status or POST /drain"})

        def do_POST(self):
            if self.path != "/drain":
                self._answer(404, {"message": "POST /drain"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                body = json.loads(raw) if raw.strip() else {}
                timeout = float(body.get("timeoutSeconds", DEFAULT_DRAIN_SECONDS))
                if not 0 <= timeout <= 3600:
                    raise ValueError
            except (ValueError, TypeError, AttributeError):
                self._answer(400, {"message": 'the body is optional: {"timeoutSeconds": 0 to 3600}'})
                return
            drained = source.drain(timeout)
            self._answer(200 if drained else 504, source.status(drained))

        def _answer(self, status, document):
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            log.debug("%s %s", self.command, self.path)

    return Handler


def invoker_from_env():
    """The functions' Invoke API, as scripts/lib.sh starts it (cargo lambda watch on LAMBDA_INVOKE_PORT)."""
    port = os.environ.get("LAMBDA_INVOKE_PORT")
    if not port:
        raise ConfigError("LAMBDA_INVOKE_PORT is not set: the functions' Invoke API (cargo lambda watch)")
    return Invoker(int(port))


def serve_control(port, source):
    """Serves `source`'s control interface on loopback until interrupted, then tells the source to stop."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(source))
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}"
    log.info("serving /drain, /status and /health on %s", url)
    # The one line on stdout: whoever started this with --port 0 reads its address here.
    print(url, flush=True)
    try:
        server.serve_forever()
    finally:
        source.stopping.set()


def serve(args):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise ConfigError("AWS_ENDPOINT_URL is not set: this reads the local API's streams, never AWS's")
    sources = event_sources(load_template(args.template))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    invoker = invoker_from_env() if sources else None
    poller = Poller(Api(endpoint, region), invoker, sources)
    poller.start()
    if not sources:
        log.info("no DynamoDB events in %s: nothing to read", args.template)
    serve_control(args.port, poller)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["serve", "sources"])
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        if args.command == "sources":
            print(json.dumps([s.describe() for s in event_sources(load_template(args.template))], indent=2))
        else:
            serve(args)
    except ConfigError as e:
        sys.exit(f"local_streams: {e}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
