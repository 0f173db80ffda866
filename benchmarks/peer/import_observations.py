"""Conventional Python import of an observations CSV, the baseline the benchmark compares with.

This is the script a typical team would write for the job the Rust import Lambda does: stream the object
from S3, parse it with csv.DictReader, apply light validation, and write the valid rows to DynamoDB with
boto3's batch_writer from a thread pool. It writes the same items (same keys) as the Rust import, so both
can run against the same files and the same DynamoDB/S3 endpoint (taken, with region and credentials, from
the usual AWS_* environment variables).

    python benchmarks/peer/import_observations.py --bucket B --key imports/observations/<study>/<site>/<file> \
        --table T [--threads 8]

Prints one line of JSON to stdout: rows, imported, rejected, wall_s, cpu_s and peak_rss_kib.
"""

import argparse
import concurrent.futures as cf
import csv
import io
import json
import resource
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import boto3
from botocore.config import Config

REQUIRED = ("study_id", "site_id", "subject_id", "visit", "form", "item", "value", "collected_at")
CHUNK_ROWS = 500


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    started = time.perf_counter()
    parts = args.key.split("/")
    if len(parts) < 5 or parts[:2] != ["imports", "observations"] or not parts[2] or not parts[3]:
        sys.exit(f"key must look like imports/observations/<study>/<site>/<file>: {args.key}")
    study, site = parts[2], parts[3]
    imported_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    import_id = str(uuid.uuid4())

    session = boto3.Session()
    config = Config(max_pool_connections=args.threads + 2)
    s3 = session.client("s3", config=config)
    local = threading.local()
    session_lock = threading.Lock()  # creating clients from one session concurrently is not safe

    def table():
        if not hasattr(local, "table"):
            with session_lock:
                local.table = session.resource("dynamodb", config=config).Table(args.table)
        return local.table

    def write_chunk(items):
        with table().batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for item in items:
                batch.put_item(Item=item)
        return len(items)

    def to_item(row, line):
        if any(not (row.get(column) or "").strip() for column in REQUIRED):
            return None
        if row["study_id"] != study or row["site_id"] != site:
            return None
        try:
            datetime.fromisoformat(row["collected_at"].replace("Z", "+00:00"))
        except ValueError:
            return None
        item = {
            "pk": f"{row['study_id']}#{row['site_id']}#{row['subject_id']}",
            "sk": f"{row['visit']}#{row['form']}#{row['item']}",
            "studyId": row["study_id"],
            "siteId": row["site_id"],
            "subjectId": row["subject_id"],
            "visit": row["visit"],
            "form": row["form"],
            "item": row["item"],
            "value": row["value"],
            "collectedAt": row["collected_at"],
            "importedAt": imported_at,
            "provenance": {"bucket": args.bucket, "key": args.key, "line": line, "importId": import_id},
        }
        if row.get("unit"):
            item["unit"] = row["unit"]
        return item

    rows = imported = rejected = 0
    body = s3.get_object(Bucket=args.bucket, Key=args.key)["Body"]
    with io.TextIOWrapper(body, encoding="utf-8-sig", newline="") as text, \
            cf.ThreadPoolExecutor(max_workers=args.threads) as pool:
        pending, chunk = set(), []

        def submit(items):
            nonlocal imported, pending
            while len(pending) >= 2 * args.threads:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                imported += sum(f.result() for f in done)
            pending.add(pool.submit(write_chunk, items))

        for line, row in enumerate(csv.DictReader(text), start=2):
            rows += 1
            item = to_item(row, line)
            if item is None:
                rejected += 1
                continue
            chunk.append(item)
            if len(chunk) == CHUNK_ROWS:
                submit(chunk)
                chunk = []
        if chunk:
            submit(chunk)
        imported += sum(f.result() for f in cf.as_completed(pending))

    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only; ru_maxrss is in KiB on Linux
    print(json.dumps({"rows": rows, "imported": imported, "rejected": rejected,
                      "wall_s": round(time.perf_counter() - started, 3),
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_kib": usage.ru_maxrss}))


if __name__ == "__main__":
    main()
