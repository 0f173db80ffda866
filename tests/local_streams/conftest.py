"""Fixtures of the local streams stand-in's tests: the project's moto server (scripts/moto_server.py) on loopback for
the session, a table per test with its stream, a stand-in for the functions' Invoke API (stand_in.py), and
scripts/local_streams.py itself, started as scripts/lib.sh starts it, on a small template written by each test.
Nothing waits by sleeping: readiness is read from the processes' output and delivery is awaited with /drain."""

import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from stand_in import StandIn
from tables import create_stream_table

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

# Not us-east-1, the region moto writes into every stream record: the event must carry the stream's own region.
REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
_names = itertools.count()


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
def dynamodb(moto):
    return boto3.client("dynamodb", endpoint_url=moto, region_name=REGION)


class Table:
    """A table with key pk (+ sk) and a stream of old and new images, and the writes the tests make."""

    def __init__(self, client, logical_id):
        self.client, self.logical_id = client, logical_id
        self.name = f"streams-test-{next(_names)}-{logical_id.lower()}"
        self.stream_arn = create_stream_table(client, self.name)

    @staticmethod
    def item(pk, sk="-", **attributes):
        return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attributes.items()}}

    def put(self, pk, sk="-", **attributes):
        self.client.put_item(TableName=self.name, Item=self.item(pk, sk, **attributes))

    def put_all(self, pks, **attributes):
        """One BatchWriteItem per 25 items, in order."""
        pks = list(pks)
        for start in range(0, len(pks), 25):
            requests = [{"PutRequest": {"Item": self.item(pk, **attributes)}} for pk in pks[start : start + 25]]
            self.client.batch_write_item(RequestItems={self.name: requests})

    def delete(self, pk, sk="-"):
        self.client.delete_item(TableName=self.name, Key={"pk": {"S": pk}, "sk": {"S": sk}})


def template_text(table, properties, binary="consumer", more_tables=()):
    """A template with `table` and a function whose one event reads its stream with `properties`."""
    resources = {}
    for t in (table, *more_tables):
        resources[t.logical_id] = {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": t.name,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            },
        }
    function = f"""\
  ConsumerFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: {binary}
    Properties:
      CodeUri: .
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt {table.logical_id}.StreamArn
"""
    event = yaml.safe_dump(properties, sort_keys=False) if properties else ""
    return yaml.safe_dump({"Resources": resources}, sort_keys=False) + function + textwrap.indent(event, " " * 12)


class LocalStreams:
    """scripts/local_streams.py serving a template, with the Invoke API at `invoke_port`."""

    def __init__(self, template_path, log_path, invoke_port=None):
        env = dict(os.environ)
        env.pop("LAMBDA_INVOKE_PORT", None)
        if invoke_port is not None:
            env["LAMBDA_INVOKE_PORT"] = str(invoke_port)
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "local_streams.py"), "serve", "--template", str(template_path)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        # Its one line on stdout, once it reads its streams.
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), f"local_streams.py did not start: {self.log_text()}"

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def drain(self, timeout=60):
        return self.request("POST", "/drain", {"timeoutSeconds": timeout})

    def drained(self, timeout=60):
        """The streams' status once drained; fails the test if they do not drain within `timeout`."""
        status, body = self.drain(timeout)
        assert status == 200, body
        return body["streams"]

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        self.process.terminate()
        self.process.wait()
        self.log.close()


@pytest.fixture
def table(dynamodb):
    return Table(dynamodb, "Records")


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def local_streams(tmp_path, stand_in):
    """Starts local_streams.py: local_streams(table, {event properties}) or local_streams(template_text=...)."""
    started = []

    def start(table=None, properties=None, template=None, invoke=True, **kwargs):
        path = tmp_path / f"template-{len(started)}.yaml"
        path.write_text(template if template is not None else template_text(table, properties, **kwargs))
        streams = LocalStreams(path, tmp_path / f"local-streams-{len(started)}.log", stand_in.port if invoke else None)
        started.append(streams)
        return streams

    yield start
    for streams in started:
        streams.stop()
