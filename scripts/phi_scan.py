"""After the suites: no log line, report or job record may hold patient data.

The tests plant a marker (integration_tests::CANARY) in names, free text, CSV cells, header names and unknown field
names, valid and invalid, through every path. This reads every log the run produced (the emulator's, the services',
the tests' own and the function binaries' under .local/), every object under reports/ in the import bucket and every
item of the import-job table, and fails on any that holds the marker. It also fails if the marker never reached the
data tables or if there was next to nothing to read, either of which would make the check meaningless.

    python phi_scan.py MARKER
"""

import json
import os
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".local"


def scan_items(table):
    items, start = [], None
    dynamodb = boto3.client("dynamodb")
    while True:
        page = dynamodb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def main(marker):
    leaks = []
    logs = [p for p in STATE.rglob("*.log") if p.is_file()]
    lines = 0
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            if marker in line:
                leaks.append(f"{path.relative_to(ROOT)}:{number}")

    bucket = os.environ["RESOURCE_ImportBucket"]
    s3 = boto3.client("s3")
    reports = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/"):
        for entry in page.get("Contents", []):
            reports += 1
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode("utf-8", "replace")
            if marker in body:
                leaks.append(f"s3://{bucket}/{entry['Key']}")

    jobs = scan_items(os.environ["RESOURCE_ImportJobsTable"])
    for job in jobs:
        if marker in json.dumps(job, default=repr):
            leaks.append(f"job record {job['importId']['S']}")

    # The planted marker reached a table (the submissions table is enough, and small: scanning the observations
    # of a whole run would take the local API minutes).
    planted = sum(
        marker in json.dumps(item, default=repr) for item in scan_items(os.environ["RESOURCE_SubmissionsTable"])
    )
    print(f"phi scan: {len(logs)} log files ({lines} lines), {reports} reports, {len(jobs)} job records; "
          f"{planted} stored items hold the marker; {len(leaks)} leaks")
    if leaks:
        sys.exit("patient data outside its tables:\n" + "\n".join(leaks[:50]))
    if planted == 0 or lines < 1000 or reports < 10 or not jobs:
        sys.exit("too little to scan: the marker was not planted, or logs and reports are missing")


if __name__ == "__main__":
    main(sys.argv[1])
