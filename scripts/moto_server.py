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

Tables with streams (the audit trail reads them): the copy of a table that a TransactWriteItems makes shares the
table's stream instead of copying it (a copy holding the stream is in a reference cycle with it, which the frozen
collector never frees: memory grew by gigabytes over a test run), a failed transaction drops the stream records of
the writes it undid, stream reads wait for the DynamoDB request in progress like any other, and GetRecords skips
moto's generic serializer (milliseconds of CPU per record).

The local stand-in for the import bucket's notification (scripts/local_s3_events.py) lists the bucket's versions
five times a second, and moto's ListObjectVersions took about 0.2 ms per version listed and 0.3 ms per version in the
bucket (a thousand versions: a quarter of a second of the server, every time): it deep-copies every version of every
key, content included, to mark the latest one, and answers through its generic serializer, which parses each
timestamp back from text. Here a listed version is a copy of the key's attributes sharing its content (which the
copy never disposes of), and the answer is written directly as the same XML.

    python moto_server.py HOST PORT
"""

import gc
import os
import sys
import threading
from xml.sax.saxutils import escape

from moto import settings
from moto.core.common_models import BaseModel
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.s3.models import FakeKey
from moto.s3.responses import S3Response
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

# A table's stream is shared by the copy moto makes of the table for a transaction, not copied with it: a copy that
# holds the shard is in a reference cycle with it, which the frozen collector never frees (with streams on, memory
# grew by gigabytes over the test run), and readers would lose the stream the copy replaced.
StreamShard.__deepcopy__ = lambda self, memo: self
_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_keeping_streams(self, transact_items):
    lengths = {name: len(t.stream_shard.items) for name, t in self.tables.items() if t.stream_shard is not None}
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        # moto put back its copy of each table: the shared shard drops the records of the writes it undid.
        for name, length in lengths.items():
            table = self.tables.get(name)
            if table is not None and table.stream_shard is not None:
                del table.stream_shard.items[length:]
                table.stream_shard.table = table
        raise


DynamoDBBackend.transact_write_items = _transact_keeping_streams


def _get_records(self):
    # moto's generic serializer took about 2.5 ms of CPU per stream record; the records are plain JSON already.
    limit = self._get_param("Limit")
    iterator = self._get_param("ShardIterator")
    return dynamo_json_dump(self.backend.get_records(iterator, 1000 if limit is None else limit))


DynamoDBStreamsHandler.get_records = _get_records


class _SharedContent:
    """A key's content as a listed copy of the key holds it: read through to the key's, never closed by the copy (a
    FakeKey closes its content when it is collected)."""

    def __init__(self, buffer):
        self._buffer = buffer

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self._buffer, name)


def _listed_version(self, memo):
    """ListObjectVersions' deep copy of a version: the key's attributes (its IsLatest is set on the copy alone) and
    its content shared. It is the only deep copy of a key that moto makes."""
    with self.lock:
        self.etag  # an ETag that moto computes from the content is kept on the key, not on a copy
    listed = object.__new__(FakeKey)
    listed.__dict__.update(self.__dict__)
    # Collected, the copy disposes of nothing of the key's: not its content, not its multipart upload's parts.
    listed.__dict__.update(_value_buffer=_SharedContent(self._value_buffer), multipart=None, disposed=True)
    return listed


FakeKey.__deepcopy__ = _listed_version

# The owner moto names in every listing.
_OWNER = (
    "<Owner><DisplayName>webfile</DisplayName>"
    "<ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner>"
)


def _list_object_versions(self):
    """moto's ListObjectVersions, its answer written as XML directly instead of through the generic serializer."""
    delimiter = self.querystring.get("delimiter", [None])[0]
    key_marker = self.querystring.get("key-marker", [None])[0]
    max_keys = int(self.querystring.get("max-keys", [settings.get_s3_default_max_keys()])[0])
    prefix = self._get_querystring(self.request, self.uri).get("prefix", [""])[0]
    version_id_marker = self.querystring.get("version-id-marker", [None])[0]
    bucket = self.backend.get_bucket(self.bucket_name)
    versions, common_prefixes, delete_markers, next_key_marker, next_version_id_marker = (
        self.backend.list_object_versions(
            self.bucket_name,
            delimiter=delimiter,
            key_marker=key_marker,
            max_keys=max_keys,
            prefix=prefix,
            version_id_marker=version_id_marker,
        )
    )

    def element(name, value):
        return f"<{name}>{escape(str(value))}</{name}>" if value is not None else ""

    def latest(version):
        return "true" if getattr(version, "is_latest", False) else "false"

    truncated = next_key_marker is not None
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        element("IsTruncated", "true" if truncated else "false"),
        element("KeyMarker", key_marker or ""),
        element("VersionIdMarker", version_id_marker or ""),
    ]
    if truncated:
        parts += [element("NextKeyMarker", next_key_marker), element("NextVersionIdMarker", next_version_id_marker)]
    for key in versions:
        parts.append(
            "<Version>"
            + element("ETag", key.etag)
            + element("Size", key.size)
            + element("StorageClass", key.storage_class)
            + element("Key", key.name)
            + element("VersionId", key.version_id if key.version_id is not None else "null")
            + element("IsLatest", latest(key))
            + element("LastModified", key.last_modified_ISO8601)
            + _OWNER
            + "</Version>"
        )
    for marker in delete_markers:
        parts.append(
            "<DeleteMarker>"
            + _OWNER
            + element("Key", marker.name)
            + element("VersionId", marker.version_id)
            + element("IsLatest", latest(marker))
            + element("LastModified", marker.last_modified_ISO8601)
            + "</DeleteMarker>"
        )
    parts += [element("Name", bucket.name), element("Prefix", prefix), element("Delimiter", delimiter)]
    parts.append(element("MaxKeys", max_keys))
    parts += [f"<CommonPrefixes>{element('Prefix', p)}</CommonPrefixes>" for p in common_prefixes]
    parts.append("</ListVersionsResult>")
    return 200, {"Content-Type": "application/xml"}, "".join(parts)


S3Response.list_object_versions = _list_object_versions


class SerialDynamoDB:
    """Applies DynamoDB requests one at a time; freezes what each request leaves for the garbage collector."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            # DynamoDB_20120810.* and DynamoDBStreams_20120810.*: a stream read sees no half-applied transaction.
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
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
