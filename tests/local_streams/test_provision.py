"""template.yaml's clinical tables get their streams locally: scripts/local_stack.py provision creates them as the
stack does (scripts/lib.sh start_aws), on the test's moto server."""

import subprocess
import sys

import boto3
from conftest import SCRIPTS


def provision(tmp_path, monkeypatch):
    """Runs `local_stack.py provision` on the test's moto server, writing the env files into `tmp_path`."""
    # The stack's region: provision creates buckets without a location constraint, as us-east-1 wants them.
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = subprocess.run(
        [sys.executable, SCRIPTS / "local_stack.py", "provision", tmp_path / "functions.env", tmp_path / "res.env"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_provision_creates_the_clinical_tables_with_streams_of_old_and_new_images(tmp_path, monkeypatch):
    provision(tmp_path, monkeypatch)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")

    for table in ("SubmissionsTable", "ObservationsTable"):
        description = dynamodb.describe_table(TableName=table)["Table"]
        assert description["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert description["LatestStreamArn"].startswith(description["TableArn"] + "/stream/")
    # Job records are not clinical records: no audit trail, no stream.
    assert "StreamSpecification" not in dynamodb.describe_table(TableName="ImportJobsTable")["Table"]


def test_the_functions_variables_are_the_templates_but_those_that_differ_between_functions(tmp_path, monkeypatch):
    provision(tmp_path, monkeypatch)
    env = dict(line.split("=", 1) for line in (tmp_path / "functions.env").read_text().splitlines())
    # The metrics' Stack dimension, as AWS::StackName resolves locally.
    assert env["STACK_NAME"] == "local"
    assert env["METRICS_NAMESPACE"] == "ClinicalIngest"
    # One value per function in template.yaml: one env file for all cannot hold it.
    assert "POWERTOOLS_SERVICE_NAME" not in env
    # What the importer and the import API share is one value each, so it is there: the size limit and the bucket.
    assert env["MAX_OBJECT_BYTES"] == "10737418240"
    assert env["IMPORT_BUCKET"] == "local-123456789012-us-east-1-edc-imports"


def test_provision_creates_the_jobs_tables_sparse_index_of_a_sites_imports_newest_first(tmp_path, monkeypatch):
    provision(tmp_path, monkeypatch)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")

    [index] = dynamodb.describe_table(TableName="ImportJobsTable")["Table"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "bySite"
    assert index["KeySchema"] == [
        {"AttributeName": "siteKey", "KeyType": "HASH"},
        {"AttributeName": "importId", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}

    # Uploads started through the API carry siteKey and ULID import ids; a job of a file put into the bucket directly
    # has neither and stays out of the index.
    uploads = ["01JEQ8Z5W0AAAAAAAAAAAAAAAA", "01JEQ8Z5W1BBBBBBBBBBBBBBBB", "01JEQ8Z5W2CCCCCCCCCCCCCCCC"]
    for import_id in uploads:
        item = {"importId": {"S": import_id}, "siteKey": {"S": "CARDIO-7#0042"}, "status": {"S": "pending"}}
        dynamodb.put_item(TableName="ImportJobsTable", Item=item)
    other_site = {"importId": {"S": "01JEQ8Z5W3DDDDDDDDDDDDDDDD"}, "siteKey": {"S": "CARDIO-7#0043"}}
    dynamodb.put_item(TableName="ImportJobsTable", Item=other_site)
    dynamodb.put_item(TableName="ImportJobsTable", Item={"importId": {"S": "imports/observations/visit.csv#v1"}})

    answer = dynamodb.query(
        TableName="ImportJobsTable",
        IndexName="bySite",
        KeyConditionExpression="siteKey = :site",
        ExpressionAttributeValues={":site": {"S": "CARDIO-7#0042"}},
        ScanIndexForward=False,
    )
    assert [item["importId"]["S"] for item in answer["Items"]] == uploads[::-1]
    # Projection ALL: the record itself, not only its keys.
    assert all(item["status"] == {"S": "pending"} for item in answer["Items"])
