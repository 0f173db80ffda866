"""Reads the audit trail: one clinical record's history of changes, or the reads of one submission.

The trail is the bucket of output AuditTrailBucketName (locally: AUDIT_BUCKET, which scripts/stack exports): one
object of JSON lines per batch of changes under changes/table=<table>/day=<YYYY-MM-DD>/, one object per read under
reads/day=<YYYY-MM-DD>/ (see shared/src/audit). This lists and reads the objects of the days asked for, so it suits a
record's history over days or weeks; over years of a large trial, query the same objects with Athena (README, "Audit
trail"). It prints what the records hold, patient values included: run it where those may be seen.

    python audit_trail.py history TABLE KEY=VALUE [KEY=VALUE] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
    python audit_trail.py reads SUBMISSION_ID [--from YYYY-MM-DD] [--to YYYY-MM-DD]

e.g. history local-ObservationsTable pk='CARDIO-7#S01#SUBJ-001' sk='V1#VITALS#SYSBP'
"""

import argparse
import json
import os
import sys

import boto3


def _objects(s3, bucket, prefix, since, until):
    """(key, body) of every object under `prefix` whose day=… part lies in [since, until]."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            day = next((part[4:] for part in key.split("/") if part.startswith("day=")), "")
            if (since and day < since) or (until and day > until):
                continue
            yield key, s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def history(s3, bucket, table, key, since, until):
    seen, changes = set(), []
    for _, body in _objects(s3, bucket, f"changes/table={table}/", since, until):
        for line in body.splitlines():
            record = json.loads(line)
            # A batch delivered again after a lost answer may repeat a change: its eventId tells.
            if record["key"] == key and record["eventId"] not in seen:
                seen.add(record["eventId"])
                changes.append(record)
    changes.sort(key=lambda c: (len(c["sequenceNumber"]), c["sequenceNumber"]))
    return changes


def reads(s3, bucket, submission_id, since, until):
    found = [json.loads(body) for _, body in _objects(s3, bucket, "reads/", since, until)]
    return sorted((r for r in found if r["recordId"] == submission_id), key=lambda r: r["at"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bucket", default=os.environ.get("AUDIT_BUCKET"), help="default: $AUDIT_BUCKET")
    parser.add_argument("--from", dest="since", help="first day (YYYY-MM-DD) to read")
    parser.add_argument("--to", dest="until", help="last day (YYYY-MM-DD) to read")
    commands = parser.add_subparsers(dest="command", required=True)
    of_record = commands.add_parser("history", help="every change of one record, in order")
    of_record.add_argument("table")
    of_record.add_argument("key", nargs="+", metavar="NAME=VALUE")
    of_reads = commands.add_parser("reads", help="every read of one submission through the API")
    of_reads.add_argument("submission_id")
    args = parser.parse_args()
    if not args.bucket:
        parser.error("no bucket: pass --bucket or set AUDIT_BUCKET")
    s3 = boto3.client("s3")
    if args.command == "history":
        key = dict(part.split("=", 1) for part in args.key)
        found = history(s3, args.bucket, args.table, key, args.since, args.until)
    else:
        found = reads(s3, args.bucket, args.submission_id, args.since, args.until)
    for record in found:
        print(json.dumps(record, ensure_ascii=False))
    if not found:
        sys.exit("nothing recorded for that record in the days read")


if __name__ == "__main__":
    main()
