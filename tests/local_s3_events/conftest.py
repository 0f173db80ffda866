"""Fixtures of the local S3 notification stand-in's tests: the project's moto server (scripts/moto_server.py) on
loopback for the session, a versioned bucket per test, a stand-in for the functions' Invoke API (fake_lambda.py),
and scripts/local_s3_events.py itself, started as scripts/lib.sh starts it, on a small template written by each test.
Nothing waits by sleeping: readiness is read from the processes' output and delivery is awaited with /drain."""

import itertools
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from fake_lambda import FakeLambda

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

# Not us-east-1, the region the stack runs in: the event must carry the region it is told.
REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
FUNCTION = "importer"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_names = itertools.count()


def new_ulid():
    """A canonical ULID, as the import API makes one for an upload: 48 bits of milliseconds, 80 random bits."""
    number = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "".join(CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


def upload_key(study="CARDIO-7", site="S01", upload=None, dataset="observations"):
    """A key of the shape the import API chooses for an announced upload."""
    return f"imports/{dataset}/{study}/{site}/{upload or new_ulid()}.csv"


@pytest.fixture(scope="session")
def moto():
    """The project's moto server on a free port of 127.0.0.1: its endpoint URL."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "moto_server.py"), "127.0.0.1", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **CREDENTIALS},
    )
    endpoint = None
    for line in process.stderr:
        if "Running on http://" in line:
            endpoint = line.split("Running on ", 1)[1].split()[0]
            break
    assert endpoint, "moto_server.py exited before serving"
    # werkzeug logs every request on stderr: keep reading it, or the server blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
    yield endpoint
    process.terminate()
    process.wait()


@pytest.fixture(autouse=True)
def aws_environment(moto, monkeypatch):
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": moto, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(moto):
    return boto3.client("s3", endpoint_url=moto, region_name=REGION)


class Bucket:
    """A versioned bucket of the test's own, and the uploads the tests make."""

    def __init__(self, client, versioned=True):
        self.client = client
        self.name = f"s3-events-test-{next(_names)}"
        client.create_bucket(Bucket=self.name, CreateBucketConfiguration={"LocationConstraint": REGION})
        if versioned:
            client.put_bucket_versioning(Bucket=self.name, VersioningConfiguration={"Status": "Enabled"})

    def put(self, key, body=b"study_id,site_id\nS,1\n"):
        """Uploads `body` at `key`: the new version's id and ETag (without quotes), as S3 answers."""
        answer = self.client.put_object(Bucket=self.name, Key=key, Body=body)
        return answer.get("VersionId"), answer["ETag"].strip('"')

    def delete(self, key, version_id=None):
        self.client.delete_object(Bucket=self.name, Key=key, **({"VersionId": version_id} if version_id else {}))


def template_text(bucket_name, rules=(("prefix", "imports/"), ("suffix", ".csv")), event="s3:ObjectCreated:*",
                  timeout=None):
    """A template with the bucket `bucket_name` notifying a function of `event` for keys matching `rules`."""
    configuration = {"Event": event, "Function": "!GetAtt ImporterFunction.Arn"}
    if rules:
        configuration["Filter"] = {"S3Key": {"Rules": [{"Name": n, "Value": v} for n, v in rules]}}
    function = {
        "Type": "AWS::Serverless::Function",
        "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": FUNCTION}},
        "Properties": {"CodeUri": ".", **({"Timeout": timeout} if timeout else {})},
    }
    bucket = {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketName": bucket_name,
            "VersioningConfiguration": {"Status": "Enabled"},
            "NotificationConfiguration": {"LambdaConfigurations": [configuration]},
        },
    }
    text = yaml.safe_dump({"Resources": {"Uploads": bucket, "ImporterFunction": function}}, sort_keys=False)
    # The tag as the template writes it (safe_dump quotes it as a string).
    return text.replace("'!GetAtt ImporterFunction.Arn'", "!GetAtt ImporterFunction.Arn")


class LocalS3Events:
    """scripts/local_s3_events.py serving a template, with the Invoke API at `invoke_port`."""

    def __init__(self, template_path, log_path, invoke_port=None, interval=None, retry_seconds=None):
        env = dict(os.environ)
        env.pop("LAMBDA_INVOKE_PORT", None)
        if invoke_port is not None:
            env["LAMBDA_INVOKE_PORT"] = str(invoke_port)
        command = [sys.executable, str(SCRIPTS / "local_s3_events.py"), "serve", "--template", str(template_path)]
        if interval is not None:
            command += ["--interval", str(interval)]
        if retry_seconds is not None:
            command += ["--retry-seconds", str(retry_seconds)]
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        # Its one line on stdout, once it has listed the buckets.
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), f"local_s3_events.py did not start: {self.log_text()}"

    def request(self, method, path, body=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def drain(self, timeout=60):
        return self.request("POST", "/drain", {"timeoutSeconds": timeout})

    def drained(self, timeout=60):
        """The notifications' status once drained; fails the test if they do not drain within `timeout`."""
        status, body = self.drain(timeout)
        assert status == 200, body
        return body["notifications"]

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        self.process.terminate()
        self.process.wait()
        self.log.close()


@pytest.fixture
def bucket(s3):
    return Bucket(s3)


@pytest.fixture
def fake_lambda():
    server = FakeLambda()
    yield server
    server.close()


@pytest.fixture
def local_s3_events(tmp_path, fake_lambda):
    """Starts local_s3_events.py: local_s3_events(bucket, **template options) or local_s3_events(template=TEXT)."""
    started = []

    def start(bucket=None, template=None, invoke=True, interval=None, retry_seconds=0.05, **options):
        path = tmp_path / f"template-{len(started)}.yaml"
        path.write_text(template if template is not None else template_text(bucket.name, **options))
        service = LocalS3Events(
            path,
            tmp_path / f"local-s3-events-{len(started)}.log",
            fake_lambda.port if invoke else None,
            interval,
            retry_seconds,
        )
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
