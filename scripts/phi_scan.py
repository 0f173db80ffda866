"""After the suites: no log line, report or job record may hold patient data.

The tests plant a text marker (integration_tests::CANARY, given as the argument) in names, free text, CSV cells,
header names and unknown field names, and the numbers and dates of tests/canaries.json (an age and a pain level out
of range, an observation value, a collection time in the future) where a message could repeat a value rather than a
text, valid and invalid, through every path. This reads every log the run produced (the emulator's, the services',
the tests' own and the function binaries' under .local/), every object under reports/ in the import bucket and every
item of the import-job table, and fails on any that holds a planted value. A number or date counts only as a token of
its own (not inside a longer number, an id or a timestamp's fraction), so that the ids, ports, sizes and times of a
run cannot match by accident.

It also fails if the check would be meaningless: if the text marker never reached the submissions table or the
observation value the observations table, if no report rejected a row for the rules the other values break (an age
or a pain level out of range, a collection time in the future), or if there was next to nothing to read.

    python phi_scan.py MARKER
"""

import json
import os
import re
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".local"
CANARIES = json.loads((ROOT / "tests" / "canaries.json").read_text())


def token(text):
    """`text` where it stands on its own: not inside a longer number, an id or a decimal fraction."""
    return re.compile(rf"(?<![0-9A-Za-z.]){re.escape(text)}(?![0-9A-Za-z])")


def scan_items(table):
    items, start = [], None
    dynamodb = boto3.client("dynamodb")
    while True:
        page = dynamodb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def observation_value_stored(jobs):
    """Whether the planted observation value reached the observations table: it is stored under its own subject in
    some study and site that an observation import (a job record's key) names. One query per import, not a scan of the
    whole table, which would take the local API minutes after a whole run."""
    dynamodb = boto3.client("dynamodb")
    table = os.environ["RESOURCE_ObservationsTable"]
    sites = set()
    for job in jobs:
        found = re.match(r"imports/observations/([^/#%]+)/([^/#%]+)/", job.get("key", {}).get("S", ""))
        if found:
            sites.add(found.groups())
    for study, site in sorted(sites):
        page = dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{study}#{site}#{CANARIES['observationSubject']}"}},
        )
        if any(item.get("value", {}).get("S") == CANARIES["observationValue"] for item in page["Items"]):
            return True
    return False


def main(marker):
    planted = {
        "text marker": re.compile(re.escape(marker)),
        "age": token(str(CANARIES["age"])),
        "pain level": token(str(CANARIES["painLevel"])),
        "observation value": token(CANARIES["observationValue"]),
        # The date alone: a message might write the time another way.
        "collection time": token(CANARIES["collectedAt"][:10]),
    }

    def holds(text):
        return [name for name, pattern in planted.items() if pattern.search(text)]

    leaks = []
    logs = [p for p in STATE.rglob("*.log") if p.is_file()]
    lines = 0
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            if found := holds(line):
                leaks.append(f"{path.relative_to(ROOT)}:{number}: {', '.join(found)}")

    bucket = os.environ["RESOURCE_ImportBucket"]
    s3 = boto3.client("s3")
    reports = 0
    rejected_for = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/"):
        for entry in page.get("Contents", []):
            reports += 1
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode("utf-8", "replace")
            if found := holds(body):
                leaks.append(f"s3://{bucket}/{entry['Key']}: {', '.join(found)}")
            # Rejected-rows lines: line,column,code,message.
            rejected_for.update(re.findall(r"^\d+,(age|painLevel|collected_at),(out_of_range|in_future),", body, re.M))

    jobs = scan_items(os.environ["RESOURCE_ImportJobsTable"])
    for job in jobs:
        if found := holds(json.dumps(job, default=repr)):
            leaks.append(f"job record {job['importId']['S']}: {', '.join(found)}")

    # The text marker reached a table (the submissions table is enough, and small), and so did the observation value.
    # The other values break a rule and are stored nowhere: what shows they went through is a report rejecting a row
    # for that rule.
    stored = sum(
        marker in json.dumps(item, default=repr) for item in scan_items(os.environ["RESOURCE_SubmissionsTable"])
    )
    missing = [] if stored else ["the text marker in the submissions table"]
    if not observation_value_stored(jobs):
        missing.append("the observation value in the observations table")
    for column, code in [("age", "out_of_range"), ("painLevel", "out_of_range"), ("collected_at", "in_future")]:
        if (column, code) not in rejected_for:
            missing.append(f"a report rejecting a row for {column} {code}")
    print(f"phi scan: {len(logs)} log files ({lines} lines), {reports} reports, {len(jobs)} job records; "
          f"{stored} stored items hold the text marker; looked for {', '.join(planted)}; {len(leaks)} leaks")
    if leaks:
        sys.exit("patient data outside its tables:\n" + "\n".join(leaks[:50]))
    if missing:
        sys.exit("the scan would prove nothing, the planted values are not where they should be: " + "; ".join(missing))
    if lines < 1000 or reports < 10 or not jobs:
        sys.exit("too little to scan: logs, reports or job records are missing")


if __name__ == "__main__":
    main(sys.argv[1])
