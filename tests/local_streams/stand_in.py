"""A stand-in for the functions behind `cargo lambda watch`: answers Lambda's Invoke API
(`POST /2015-03-31/functions/NAME/invocations`) on loopback for any name, keeps every event it was sent, and answers
what the test tells it to. Run as a script it serves until interrupted and acknowledges every batch (for
throughput.py):

    python stand_in.py PORT
"""

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"null"
    headers: dict = field(default_factory=dict)

    @staticmethod
    def failures(*sequence_numbers):
        items = [{"itemIdentifier": s} for s in sequence_numbers]
        return Answer(body=json.dumps({"batchItemFailures": items}).encode())


# How `cargo lambda watch` answers a function error, and how Lambda does.
EMULATOR_FUNCTION_ERROR = Answer(500, b'{"errorType":"Failure","errorMessage":"failed"}')
LAMBDA_FUNCTION_ERROR = Answer(
    200, b'{"errorType":"Failure","errorMessage":"failed"}', {"X-Amz-Function-Error": "Unhandled"}
)


@dataclass
class Invocation:
    function: str
    records: list

    @property
    def sequence_numbers(self):
        return [r["dynamodb"]["SequenceNumber"] for r in self.records]

    @property
    def keys(self):
        return [key_of(r) for r in self.records]


def key_of(record):
    """The record's item key as text: its `pk` (and `sk`)."""
    keys = record["dynamodb"]["Keys"]
    return "/".join(keys[name]["S"] for name in ("pk", "sk") if name in keys)


class StandIn:
    """`behaviour(invocation, number)` decides each answer (number counts from 0 over all invocations); it may block,
    as a slow function does."""

    def __init__(self, behaviour=None, port=0, keep=True):
        self.behaviour = behaviour or (lambda invocation, number: Answer())
        self.keep = keep
        self.count = 0
        self.records_received = 0
        self.invocations = []
        self.answered = 0
        self.changed = threading.Condition()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not (self.path.startswith(PREFIX) and self.path.endswith(SUFFIX)):
                    self._send(Answer(404, b'{"message":"not the Invoke API"}'))
                    return
                invocation = Invocation(self.path[len(PREFIX) : -len(SUFFIX)], json.loads(body)["Records"])
                with stand_in.changed:
                    number = stand_in.count
                    stand_in.count += 1
                    stand_in.records_received += len(invocation.records)
                    if stand_in.keep:
                        stand_in.invocations.append(invocation)
                    stand_in.changed.notify_all()
                answer = stand_in.behaviour(invocation, number)
                self._send(answer)
                with stand_in.changed:
                    stand_in.answered += 1
                    stand_in.changed.notify_all()

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

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_invocations(self, count, timeout=60):
        with self.changed:
            if not self.changed.wait_for(lambda: self.count >= count, timeout):
                raise AssertionError(f"{self.count} invocations, not {count}, within {timeout} s")
            return list(self.invocations)

    def records(self):
        with self.changed:
            return [record for invocation in self.invocations for record in invocation.records]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    stand_in = StandIn(port=int(sys.argv[1]), keep=False)
    try:
        stand_in.thread.join()
    except KeyboardInterrupt:
        pass
