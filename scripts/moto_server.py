"""moto's server, with DynamoDB requests applied one at a time.

moto applies TransactWriteItems by copying each table it touches and putting the copy back when a condition fails.
With concurrent requests that put-back can undo writes made in the meantime, which DynamoDB never does (our
idempotency and concurrency tests caught it). Serialising DynamoDB requests restores DynamoDB's semantics; S3
requests stay concurrent.

    python moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_dynamodb = threading.Lock()


class SerialDynamoDB:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _dynamodb:
                # moto answers with complete bodies, so the whole request is handled under the lock.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, SerialDynamoDB(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
