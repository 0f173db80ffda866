"""A local stand-in for the S3 event notifications of template.yaml's buckets to Lambda, for uploads the import API
hands out URLs for.

In AWS, a bucket's `NotificationConfiguration.LambdaConfigurations` make S3 invoke the function asynchronously, once
or more (at least once), for every object created whose event type and key match a configuration: for the import
bucket, `s3:ObjectCreated:*` under `imports/` with suffix `.csv`, into `ImportCsvFunction`. Locally moto keeps the
bucket and `cargo lambda watch` runs the functions (Invoke API), but moto notifies nothing outside itself. This does,
for every `LambdaConfigurations` entry of every `AWS::S3::Bucket` in template.yaml:

- the bucket is the template's (its local name from local_stack.py's `Resolver`), the function is the
  `Metadata.BuildProperties.Binary` of the function whose ARN `Function: !GetAtt <Function>.Arn` names, and the
  configuration's `Event` and `Filter.S3Key.Rules` (prefix, suffix) decide which objects match;
- unlike S3, it delivers ONLY objects at keys of the shape the import API chooses for an announced upload,
  `imports/<dataset>/<study>/<site>/<ULID>.csv` (four non-empty segments after `imports/`, the last a canonical ULID:
  26 characters of Crockford's base32, upper case; shared/src/import/upload.rs). Every other upload in the local
  stack is made by a test or a script (tests/, scripts/demo, the benchmarks) that invokes the import itself, at a
  moment it controls, with the event it made (local_stack.py as-sent, tests/src/lib.rs): a second invocation that
  nobody asked for would race it (two imports of one version, a job taken over in the middle of a test). Such
  objects are counted as `notUploads`, never delivered;
- new objects are found by listing the bucket's versions (`ListObjectVersions` under the configurations' common
  prefix, `imports/` for the import bucket) every 200 ms: each version not listed before (not a delete marker)
  becomes one event, delivered once (S3 promises at least once; once is enough locally). Versions already there at
  start-up are not delivered;
- the event is the one S3 sends: `{"Records": [{eventVersion "2.1", eventSource "aws:s3", awsRegion, eventTime (the
  version's LastModified), eventName "ObjectCreated:Put" ("ObjectCreated:CompleteMultipartUpload" for an ETag of a
  multipart upload), userIdentity.principalId, requestParameters.sourceIPAddress, responseElements, s3:
  {s3SchemaVersion "1.0", configurationId, bucket {name, ownerIdentity, arn}, object {key (URL-encoded as S3 does,
  spaces as '+'), size, eTag (without quotes), versionId, sequencer}}}]}`. The principal is the fixed
  "AWS:LOCAL-PRESIGNED-UPLOAD" (the import takes an announced upload's importer from its own record, never from the
  event). The sequencer is upper-case hex that grows with every event sent (nanoseconds since the epoch, never
  repeating): S3 promises that it grows from one event of a key to the next, compared as numbers once left-padded,
  and the versions of one key found in one listing get theirs oldest first;
- each event is delivered in a thread of its own (a long import holds back no other), through the emulator's Invoke
  API with `X-Amz-Invocation-Type: RequestResponse` (whether `cargo lambda watch` honours `Event` is not something
  to rely on; the thread stands for Lambda's queue of asynchronous invocations). A failed invocation (an HTTP error
  of the emulator, a connection error, or a function error: `cargo lambda watch` answers one with 500, Lambda with
  200 and `X-Amz-Function-Error`) is retried twice, as Lambda retries an asynchronous invocation, 1 s apart (Lambda
  waits about 1 and 2 minutes); then the event is dropped and logged (Lambda would send it to the function's
  on-failure destination).

Tests and scripts await delivery instead of sleeping: `POST /drain` answers 200 once every version that was in the
buckets when the request arrived has been delivered (or dropped after its retries, or left alone), or 504 when the
request's timeout passes first.

Objects hold patient data: nothing here reads an object, and nothing logs or answers with a key, an event or a
function's answer. Logs and the HTTP answers carry function and bucket names, an upload's id (the ULID the API chose),
counts and HTTP statuses only.

    python local_s3_events.py serve [--port PORT] [--template FILE] [--interval SECONDS] [--retry-seconds SECONDS]
    python local_s3_events.py notifications [--template FILE]   # the template's notifications to Lambda, as JSON

Environment: AWS_ENDPOINT_URL (required: the local S3 API), AWS_REGION, credentials (any; requests are signed),
LAMBDA_INVOKE_PORT (the Invoke API of `cargo lambda watch` on 127.0.0.1; required when the template has
notifications to Lambda). Without any it serves its HTTP interface, lists nothing and drains at once. HTTP interface on
127.0.0.1:PORT:

    GET  /health                          200 once every bucket's versions are listed (not listening before; then
                                          the server's URL is printed on stdout, the only output there)
    GET  /status                          200 {"drained": bool, "lastError", "notifications": [NOTIFICATION...]}
    POST /drain  {"timeoutSeconds": 60}   200 {"drained": true, ...}, or 504 {"drained": false, ...}
                                          (body optional: default 60 s; 400 for a body that is not that object)

    NOTIFICATION = {"bucket" (logical id), "bucketName", "configurationId", "event", "prefix", "suffix", "function",
                    "matched" (new versions that match it), "notUploads" (of those, not at a key the API chose: not
                    delivered), "delivered", "invocations", "failedInvocations", "dropped" (after their retries),
                    "inFlight", "lastError" (of the latest failed invocation, or null)}
    "lastError" of the answer: of the latest failed listing, or null (a listing that works again clears it).
"""

import argparse
import base64
import http.client
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit
from xml.etree import ElementTree

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.session import get_session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_stack import ROOT, Resolver, Tag  # noqa: E402
from local_streams import ConfigError, invoker_from_env, load_template, serve_control  # noqa: E402

log = logging.getLogger("local-s3-events")

SAM_DEFAULT_TIMEOUT = 3
# Lambda retries a failed asynchronous invocation twice.
RETRIES = 2
# Local choices: see the module's docstring.
POLL_SECONDS = 0.2
RETRY_SECONDS = 1.0
# `cargo lambda watch` starts a function (building it if needed) on its first invocation.
INVOKE_TIMEOUT_ALLOWANCE_SECONDS = 120
LIST_PAGE = 1000

# The keys the import API chooses for an announced upload (shared/src/import/upload.rs): a canonical ULID is 26
# characters of Crockford's base32 (no I, L, O, U), upper case, the first at most 7 (128 bits).
UPLOAD_PREFIX = "imports/"
UPLOAD_KEY = re.compile(r"imports/[^/]+/[^/]+/[^/]+/([0-7][0-9A-HJKMNP-TV-Z]{25})\.csv")
PRINCIPAL_ID = "AWS:LOCAL-PRESIGNED-UPLOAD"
BUCKET_OWNER_ID = "LOCALBUCKETOWNER"
CREATED_ANY = "s3:ObjectCreated:*"
S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def upload_id(key):
    """The upload id (a ULID) of a key of the shape the import API chooses, or None for any other key."""
    match = UPLOAD_KEY.fullmatch(key)
    return match.group(1) if match else None


# ---------------------------------------------------------------------------------------------------------------
# The template's notifications


@dataclass
class Notification:
    bucket: str
    bucket_name: str
    configuration_id: str
    event: str
    prefix: str
    suffix: str
    function: str
    function_id: str
    timeout: float

    def matches(self, key, event_name):
        """Whether S3 would notify this configuration of `event_name` (without "s3:") for an object at `key`."""
        wanted = self.event == CREATED_ANY or self.event == f"s3:{event_name}"
        return wanted and key.startswith(self.prefix) and key.endswith(self.suffix)

    def describe(self):
        return {
            "bucket": self.bucket,
            "bucketName": self.bucket_name,
            "configurationId": self.configuration_id,
            "event": self.event,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "function": self.function,
            "timeout": self.timeout,
        }


def notifications(template):
    """Every `LambdaConfigurations` entry of every bucket of the template, checked as S3 would check it."""
    r = Resolver(template)
    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", SAM_DEFAULT_TIMEOUT)
    found = []
    for logical_id, res in r.resources.items():
        if res.get("Type") != "AWS::S3::Bucket":
            continue
        configuration = res.get("Properties", {}).get("NotificationConfiguration") or {}
        for other in ("QueueConfigurations", "TopicConfigurations", "EventBridgeConfiguration"):
            if other in configuration:
                log.info("%s: %s are not emulated", logical_id, other)
        for index, entry in enumerate(configuration.get("LambdaConfigurations", [])):
            where = f"{logical_id}.NotificationConfiguration.LambdaConfigurations[{index}]"
            event = r.value(entry.get("Event", ""))
            if not event.startswith("s3:"):
                raise ConfigError(f"{where}: Event must be an S3 event type such as {CREATED_ANY}")
            function_id = _function_of(r, entry.get("Function"), where)
            function = r.resources[function_id]
            binary = function.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise ConfigError(f"{function_id}: a bucket notification needs Metadata.BuildProperties.Binary")
            prefix, suffix = _key_filter(r, entry.get("Filter"), where)
            timeout = float(r.value(function.get("Properties", {}).get("Timeout", global_timeout)))
            found.append(
                Notification(
                    bucket=logical_id,
                    bucket_name=r.physical_name(logical_id),
                    # CloudFormation names a configuration itself; locally its place in the template does.
                    configuration_id=f"{logical_id}-LambdaConfigurations-{index}",
                    event=event,
                    prefix=prefix,
                    suffix=suffix,
                    function=r.value(binary),
                    function_id=function_id,
                    timeout=timeout,
                )
            )
    return found


def _function_of(r, value, where):
    if isinstance(value, Tag) and value.name == "GetAtt":
        target = value.value
    elif isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
    else:
        raise ConfigError(f"{where}: Function must be !GetAtt <Function>.Arn of a function of the template")
    logical, attribute = target.split(".", 1) if isinstance(target, str) else target
    kind = r.resources.get(logical, {}).get("Type")
    if attribute != "Arn" or kind not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        raise ConfigError(f"{where}: Function must be !GetAtt <Function>.Arn of a function of the template")
    return logical


def _key_filter(r, value, where):
    """(prefix, suffix) of a `Filter.S3Key.Rules` list: at most one rule of each name (S3 refuses more)."""
    rules = ((value or {}).get("S3Key") or {}).get("Rules") or []
    found = {}
    for rule in rules:
        name = str(rule.get("Name", "")).lower()
        if name not in ("prefix", "suffix") or name in found:
            raise ConfigError(f"{where}: Filter.S3Key.Rules holds at most one prefix and one suffix rule")
        found[name] = r.value(rule.get("Value", ""))
    return found.get("prefix", ""), found.get("suffix", "")


def listing_prefix(prefixes):
    """What a bucket's versions are listed under: the prefix common to its configurations, narrowed to the upload
    keys' `imports/` when that lies within it (nothing else is ever delivered)."""
    common = os.path.commonprefix(list(prefixes))
    return UPLOAD_PREFIX if UPLOAD_PREFIX.startswith(common) else common


# ---------------------------------------------------------------------------------------------------------------
# The event S3 sends


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str  # "null" in a bucket that never had versioning
    etag: str  # as listed: in quotes
    size: int
    last_modified: str

    @property
    def identity(self):
        # A bucket without versioning lists every object as version "null": a new object there is a new ETag or time.
        if self.version_id == "null":
            return self.key, self.version_id, self.etag, self.last_modified
        return self.key, self.version_id

    @property
    def event_name(self):
        # The ETag of a multipart upload is the digest of its parts' digests, with their number after a dash.
        return "ObjectCreated:CompleteMultipartUpload" if "-" in self.etag else "ObjectCreated:Put"


def s3_record(notification, version, sequencer, region):
    """The record S3 sends for `version` to `notification`'s function."""
    obj = {
        "key": quote_plus(version.key, safe="/"),
        "size": version.size,
        "eTag": version.etag.strip('"'),
    }
    if version.version_id != "null":
        obj["versionId"] = version.version_id
    obj["sequencer"] = sequencer
    name = notification.bucket_name
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time(version.last_modified),
        "eventName": version.event_name,
        "userIdentity": {"principalId": PRINCIPAL_ID},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "x-amz-id-2": base64.b64encode(secrets.token_bytes(48)).decode(),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": notification.configuration_id,
            "bucket": {"name": name, "ownerIdentity": {"principalId": BUCKET_OWNER_ID}, "arn": f"arn:aws:s3:::{name}"},
            "object": obj,
        },
    }


def event_time(last_modified):
    """A listing's LastModified in the event's form, 1970-01-01T00:00:00.000Z."""
    moment = datetime.fromisoformat(last_modified.replace("Z", "+00:00")).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Sequencer:
    """Upper-case hex that grows with every event: nanoseconds since the epoch, never the same twice."""

    def __init__(self):
        self.lock = threading.Lock()
        self.last = 0

    def next(self):
        with self.lock:
            self.last = max(time.time_ns(), self.last + 1)
            return f"{self.last:020X}"


# ---------------------------------------------------------------------------------------------------------------
# The local S3 API


class ApiError(Exception):
    """A failed call, named by its operation, HTTP status and error code only."""


class Bucket:
    """ListObjectVersions of one bucket, signed, its XML read as it is: botocore's parser took longer per version
    than moto took to answer, five times a second."""

    def __init__(self, endpoint, region, name):
        url = urlsplit(endpoint)
        self.connection = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        self.host, self.port = url.hostname, url.port
        self.base = endpoint.rstrip("/")
        self.region, self.name = region, name
        self.credentials = get_session().get_credentials()
        if self.credentials is None:
            raise ConfigError("no AWS credentials in the environment (any will do for the local API)")

    def versions(self, prefix):
        """Every version under `prefix` that is not a delete marker, in the listing's order (by key, each key's
        newest first)."""
        found, markers = [], {}
        while True:
            page = self._list({"versions": "", "prefix": prefix, "max-keys": str(LIST_PAGE), **markers})
            for v in page.iter(f"{S3_NAMESPACE}Version"):
                found.append(
                    Version(
                        key=v.findtext(f"{S3_NAMESPACE}Key"),
                        version_id=v.findtext(f"{S3_NAMESPACE}VersionId") or "null",
                        etag=v.findtext(f"{S3_NAMESPACE}ETag") or "",
                        size=int(v.findtext(f"{S3_NAMESPACE}Size") or 0),
                        last_modified=v.findtext(f"{S3_NAMESPACE}LastModified"),
                    )
                )
            if page.findtext(f"{S3_NAMESPACE}IsTruncated") != "true":
                return found
            markers = {"key-marker": page.findtext(f"{S3_NAMESPACE}NextKeyMarker") or ""}
            version_marker = page.findtext(f"{S3_NAMESPACE}NextVersionIdMarker")
            if version_marker:
                markers["version-id-marker"] = version_marker

    def _list(self, params):
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))
        path = f"/{quote(self.name, safe='')}?{query}"
        request = AWSRequest(method="GET", url=self.base + path)
        S3SigV4Auth(self.credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        connection = self.connection(self.host, self.port, timeout=60)
        try:
            connection.request("GET", path, headers=dict(request.headers.items()))
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            try:
                code = ElementTree.fromstring(body).findtext("Code") or "unknown"
            except ElementTree.ParseError:
                code = "unknown"
            raise ApiError(f"ListObjectVersions of {self.name}: HTTP {response.status} {code}")
        return ElementTree.fromstring(body)


# ---------------------------------------------------------------------------------------------------------------
# Finding new versions and delivering them


@dataclass
class Counts:
    matched: int = 0
    not_uploads: int = 0
    delivered: int = 0
    invocations: int = 0
    failed_invocations: int = 0
    dropped: int = 0
    in_flight: int = 0
    last_error: str | None = None


@dataclass
class Watched:
    """A bucket, its configurations and the versions its latest listing held."""

    bucket: Bucket
    prefix: str
    notifications: list
    seen: set = field(default_factory=set)


class Watcher:
    """Lists every bucket, hands each new version to a delivery thread; one lock and condition for the state that
    /drain waits on."""

    def __init__(self, watched, invoker, region, interval=POLL_SECONDS, retry_seconds=RETRY_SECONDS):
        self.watched, self.invoker, self.region = watched, invoker, region
        self.interval, self.retry_seconds = interval, retry_seconds
        self.sequencer = Sequencer()
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        # Under self.changed:
        self.counts = {id(n): Counts() for w in watched for n in w.notifications}
        self.polls_started = 0
        self.polls_listed = 0  # the latest poll that listed every bucket
        self.in_flight = {}  # delivery number -> the poll that found its version
        self.deliveries = 0
        self.last_error = None

    def start(self):
        """Takes what the buckets hold now as seen, then polls in the background."""
        for w in self.watched:
            try:
                w.seen = {v.identity for v in w.bucket.versions(w.prefix)}
            except (ApiError, OSError) as e:
                raise ConfigError(f"bucket {w.bucket.name}: {_why(e)}") from None
            log.info(
                "%s (%s, under %r): %d version(s) there already; notifying %s",
                w.bucket.name,
                w.notifications[0].bucket,
                w.prefix,
                len(w.seen),
                ", ".join(f"{n.function} of {n.event}" for n in w.notifications),
            )
        if self.watched:
            threading.Thread(target=self._poll_forever, name="poll", daemon=True).start()

    def _poll_forever(self):
        while not self.stopping.is_set():
            with self.changed:
                self.polls_started += 1
                generation = self.polls_started
            try:
                for w in self.watched:
                    self._poll(w, generation)
                with self.changed:
                    self.polls_listed = generation
                    self.last_error = None
                    self.changed.notify_all()
            except Exception as e:  # the watcher never stops: what it cannot list now, it lists again
                with self.changed:
                    self.last_error = _why(e)
                log.warning("listing failed (%s); again in %.1f s", _why(e), self.interval)
            self.wake.wait(self.interval)
            self.wake.clear()

    def _poll(self, w, generation):
        versions = w.bucket.versions(w.prefix)
        new = [v for v in versions if v.identity not in w.seen]
        w.seen = {v.identity for v in versions}
        # The listing has each key's newest version first: a key's events get their sequencers oldest first.
        for version in reversed(new):
            sequencer = None
            for notification in w.notifications:
                if not notification.matches(version.key, version.event_name):
                    continue
                upload = upload_id(version.key)
                with self.changed:
                    counts = self.counts[id(notification)]
                    counts.matched += 1
                    if upload is None:
                        counts.not_uploads += 1
                        continue
                    self.deliveries += 1
                    number = self.deliveries
                    self.in_flight[number] = generation
                    counts.in_flight += 1
                sequencer = sequencer or self.sequencer.next()
                record = s3_record(notification, version, sequencer, self.region)
                threading.Thread(
                    target=self._deliver,
                    args=(number, notification, upload, record),
                    name=f"{notification.function}:{upload}",
                    daemon=True,
                ).start()

    def _deliver(self, number, notification, upload, record):
        """Invokes the function with the event; a failure is retried RETRIES times, then the event is dropped."""
        payload = json.dumps({"Records": [record]}).encode()
        counts = self.counts[id(notification)]
        try:
            for attempt in range(RETRIES + 1):
                if attempt and self.stopping.wait(self.retry_seconds):
                    return
                started = time.monotonic()
                status, function_error, _, connect_error = self.invoker.invoke(
                    notification.function, payload, notification.timeout + INVOKE_TIMEOUT_ALLOWANCE_SECONDS
                )
                ok = status is not None and 200 <= status < 300 and not function_error
                with self.changed:
                    counts.invocations += 1
                    if ok:
                        counts.delivered += 1
                    else:
                        counts.failed_invocations += 1
                        counts.last_error = _failure(status, function_error, connect_error)
                if ok:
                    log.info("%s <- %s: upload %s delivered in %.0f ms (HTTP %s)", notification.function,
                             notification.bucket_name, upload, (time.monotonic() - started) * 1000, status)
                    return
                log.warning("%s <- %s: upload %s: invocation failed (%s)%s", notification.function,
                            notification.bucket_name, upload, _failure(status, function_error, connect_error),
                            f"; retry {attempt + 1} of {RETRIES} in {self.retry_seconds:g} s" if attempt < RETRIES
                            else "")
            with self.changed:
                counts.dropped += 1
            log.warning("%s <- %s: upload %s: event dropped after %d retries (Lambda would send it to the function's "
                        "on-failure destination)", notification.function, notification.bucket_name, upload, RETRIES)
        finally:
            with self.changed:
                del self.in_flight[number]
                counts.in_flight -= 1
                self.changed.notify_all()

    def drain(self, timeout):
        """True once every version present when called has been delivered (or dropped, or left alone), False when
        `timeout` passes first: once a listing that began after the call has listed every bucket, and the
        deliveries it and the listings before it started are over."""
        deadline = time.monotonic() + timeout
        with self.changed:
            if not self.watched:
                return True
            target = self.polls_started + 1
            self.wake.set()
            while True:
                if self.polls_listed >= target and all(g > target for g in self.in_flight.values()):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)

    def idle(self):
        with self.changed:
            return not self.in_flight

    def status(self, drained):
        with self.changed:
            described = []
            for w in self.watched:
                for n in w.notifications:
                    c = self.counts[id(n)]
                    described.append(
                        {
                            **{k: v for k, v in n.describe().items() if k != "timeout"},
                            "matched": c.matched,
                            "notUploads": c.not_uploads,
                            "delivered": c.delivered,
                            "invocations": c.invocations,
                            "failedInvocations": c.failed_invocations,
                            "dropped": c.dropped,
                            "inFlight": c.in_flight,
                            "lastError": c.last_error,
                        }
                    )
            return {"drained": drained, "lastError": self.last_error, "notifications": described}


def _failure(status, function_error, connect_error):
    """An invocation's failure by HTTP status and error kind only: the function's answer may quote data."""
    if connect_error:
        return f"invoke failed: {connect_error}"
    if function_error:
        return f"HTTP {status}, function error {function_error}"
    return f"HTTP {status}"


def _why(error):
    return str(error) if isinstance(error, ApiError) else type(error).__name__


def watched_buckets(sources, endpoint, region):
    by_name = {}
    for notification in sources:
        by_name.setdefault(notification.bucket_name, []).append(notification)
    return [
        Watched(Bucket(endpoint, region, name), listing_prefix(n.prefix for n in group), group)
        for name, group in by_name.items()
    ]


def serve(args):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise ConfigError("AWS_ENDPOINT_URL is not set: this lists the local API's buckets, never AWS's")
    sources = notifications(load_template(args.template))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    invoker = invoker_from_env() if sources else None
    if not sources:
        log.info("no bucket notifications to Lambda in %s: nothing to list", args.template)
    watcher = Watcher(watched_buckets(sources, endpoint, region), invoker, region, args.interval, args.retry_seconds)
    watcher.start()
    # The same control interface as the stream stand-in's: /health, /status, /drain.
    serve_control(args.port, watcher)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["serve", "notifications"])
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=float, default=POLL_SECONDS, help="seconds between listings")
    parser.add_argument("--retry-seconds", type=float, default=RETRY_SECONDS, help="seconds before each retry")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        if args.command == "notifications":
            print(json.dumps([n.describe() for n in notifications(load_template(args.template))], indent=2))
        else:
            serve(args)
    except ConfigError as e:
        sys.exit(f"local_s3_events: {e}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
