"""Throughput of scripts/local_streams.py against moto: writes ROWS observation-like items in BatchWriteItems of 25
(as the import does) into a table whose stream a mapping reads, while it reads, then drains; prints the time, rows
per second and the CPU seconds each process used. Not a test (no timing assertions); a measurement to repeat.

    python throughput.py [--rows 20000] [--batch-size 100] [--endpoint URL] [--invoke-port PORT --binary NAME]

Without --endpoint it starts scripts/moto_server.py (--moto-pid names a running one, for its CPU time); without
--invoke-port, stand_in.py (a function that acknowledges every batch at once). With --invoke-port and --binary it
invokes that function of a running `cargo lambda watch` (e.g. the workspace's echoing `hello-lambda`).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from tables import create_stream_table

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parents[1] / "scripts"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def item(i):
    subject = f"SUBJ-{i // 40:05}"
    return {
        "pk": {"S": f"STUDY-1#SITE-01#{subject}"},
        "sk": {"S": f"V{i % 40:02}#VITALS#ITEM"},
        "study_id": {"S": "STUDY-1"},
        "site_id": {"S": "SITE-01"},
        "subject_id": {"S": subject},
        "visit": {"S": f"V{i % 40:02}"},
        "form": {"S": "VITALS"},
        "item": {"S": "ITEM"},
        "value": {"S": "120.5"},
        "unit": {"S": "mmHg"},
        "collected_at": {"S": "2026-01-01T08:00:00Z"},
        "importId": {"S": "0123456789abcdef0123456789abcdef"},
        "line": {"N": str(i + 2)},
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--endpoint")
    parser.add_argument("--invoke-port", type=int)
    parser.add_argument("--binary", default="consumer")
    parser.add_argument("--moto-pid", type=int, help="with --endpoint: the server's process, for its CPU time")
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    processes = {}
    if not args.endpoint:
        moto = subprocess.Popen([sys.executable, str(SCRIPTS / "moto_server.py"), "127.0.0.1", "0"],
                                stderr=subprocess.PIPE, text=True)
        for line in moto.stderr:
            if "Running on http://" in line:
                args.endpoint = line.split("Running on ", 1)[1].split()[0]
                break
        threading.Thread(target=lambda: [None for _ in moto.stderr], daemon=True).start()
        processes["moto"] = moto
    os.environ["AWS_ENDPOINT_URL"] = args.endpoint
    watched = {"moto": args.moto_pid} if args.moto_pid else {}
    if not args.invoke_port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.invoke_port = s.getsockname()[1]
        processes["stand-in"] = subprocess.Popen([sys.executable, str(HERE / "stand_in.py"), str(args.invoke_port)])

    dynamodb = boto3.client("dynamodb")
    table = f"throughput-{int(time.time())}"
    create_stream_table(dynamodb, table)
    workdir = Path(tempfile.mkdtemp(prefix="streams-throughput-"))
    template = workdir / "template.yaml"
    template.write_text(f"""\
Resources:
  Observations:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {table}
  Consumer:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: {args.binary}
    Properties:
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Observations.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: {args.batch_size}
""")
    log = open(workdir / "local-streams.log", "w")
    poller = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "local_streams.py"), "serve", "--template", str(template)],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "LAMBDA_INVOKE_PORT": str(args.invoke_port)},
    )
    url = poller.stdout.readline().strip()
    processes["local_streams"] = poller
    watched.update({name: p.pid for name, p in processes.items()})
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}

    started = time.monotonic()
    for start in range(0, args.rows, 25):
        requests = [{"PutRequest": {"Item": item(i)}} for i in range(start, min(args.rows, start + 25))]
        dynamodb.batch_write_item(RequestItems={table: requests})
    written = time.monotonic()
    request = urllib.request.Request(url + "/drain", data=json.dumps({"timeoutSeconds": 3600}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=3700) as response:
        [status] = json.loads(response.read())["streams"]
    drained = time.monotonic()
    used = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}

    print(f"{args.rows} rows, BatchSize {args.batch_size}, function {args.binary} on port {args.invoke_port}")
    print(f"  written in {written - started:.1f} s ({args.rows / (written - started):.0f} rows/s) while being read")
    print(f"  all delivered {drained - started:.1f} s after the first write ({args.rows / (drained - started):.0f}"
          f" records/s), {drained - written:.1f} s after the last")
    print(f"  delivered {status['delivered']} in {status['invocations']} invocations")
    print("  CPU seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items()))
    for process in processes.values():
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
