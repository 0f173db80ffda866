"""A stand-in for the functions behind `cargo lambda watch`: answers Lambda's Invoke API
(`POST /2015-03-31/functions/NAME/invocations`) on loopback for any name, keeps every invocation (function, headers,
event, time of arrival) and answers what the test tells it to."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"null"
    headers: dict = field(default_factory=dict)


# How `cargo lambda watch` answers a function error, and how Lambda does.
EMULATOR_FUNCTION_ERROR = Answer(500, b'{"errorType":"Failure","errorMessage":"failed"}')
LAMBDA_FUNCTION_ERROR = Answer(
    200, b'{"errorType":"Failure","errorMessage":"failed"}', {"X-Amz-Function-Error": "Unhandled"}
)


@dataclass
class Invocation:
    function: str
    headers: dict
    event: dict
    arrived: float  # time.monotonic()

    @property
    def record(self):
        [record] = self.event["Records"]
        return record

    @property
    def object(self):
        return self.record["s3"]["object"]


class FakeLambda:
    """`behaviour(invocation, number)` decides each answer (number counts from 0 over all invocations); it may block,
    as a long import does."""

    def __init__(self, behaviour=None):
        self.behaviour = behaviour or (lambda invocation, number: Answer())
        self.invocations = []
        self.changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not (self.path.startswith(PREFIX) and self.path.endswith(SUFFIX)):
                    self._send(Answer(404, b'{"message":"not the Invoke API"}'))
                    return
                invocation = Invocation(
                    self.path[len(PREFIX) : -len(SUFFIX)], dict(self.headers.items()), json.loads(body),
                    time.monotonic(),
                )
                with fake.changed:
                    number = len(fake.invocations)
                    fake.invocations.append(invocation)
                    fake.changed.notify_all()
                self._send(fake.behaviour(invocation, number))

            def _send(self, answer):
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_invocations(self, count, timeout=60):
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.invocations) >= count, timeout):
                raise AssertionError(f"{len(self.invocations)} invocations, not {count}, within {timeout} s")
            return list(self.invocations)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
