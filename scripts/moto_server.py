"""moto's server, with DynamoDB requests applied one at a time.

moto applies TransactWriteItems by copying each table it touches and putting the copy back when a condition fails.
With concurrent requests that put-back can undo writes made in the meantime, which DynamoDB never does (our
idempotency and concurrency tests caught it). Serialising DynamoDB requests restores DynamoDB's semantics; S3
requests stay concurrent.

moto also answers a Query on a table's key by sorting and filtering every item of the table, so with DynamoDB
requests serialised one large table slows every other request down. A Query on the table's own key here looks only
at the partition it names, as DynamoDB does; the results are the same.

moto keeps every item as Python objects: with a few hundred thousand items, one full pass of Python's cyclic
garbage collector takes most of a second, during which the server answers nothing (seen as a checkpoint write
taking over a second in the deadline tests). After each request the objects that survived it are frozen out of the
collector's passes (`gc.freeze`); reference counting still frees everything that is not in a cycle.

moto also keeps a reference to every model object it ever created, for its dashboard (`instances_tracked`),
including the copy of each table that a TransactWriteItems makes: memory grew with the square of the number of
transactions (a few thousand submissions took the server to tens of gigabytes). Here nothing is tracked; the
dashboard's data (`/moto-api/data.json`) still answers, with no models listed.

    python moto_server.py HOST PORT
"""

import gc
import os
import sys
import threading

from moto.core.common_models import BaseModel
from moto.dynamodb.models.table import Table
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

def _untracked(cls, *args, **kwargs):
    return object.__new__(cls)


BaseModel.__new__ = _untracked

_dynamodb = threading.Lock()
_query = Table.query


def _partition_query(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    partition = self.items[hash_key] if hash_key in self.items else {}
    items = list(partition.values()) if self.range_key_attr else [partition] if partition else []
    # Only under the DynamoDB lock: no other request sees the narrowed table.
    self.all_items = lambda: items
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = _partition_query


class SerialDynamoDB:
    """Applies DynamoDB requests one at a time; freezes what each request leaves for the garbage collector."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                with _dynamodb:
                    # moto answers with complete bodies, so the whole request is handled under the lock.
                    return list(self.app(environ, start_response))
            return self.app(environ, start_response)
        finally:
            gc.freeze()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, SerialDynamoDB(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
