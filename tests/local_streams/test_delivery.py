"""scripts/local_streams.py against the project's moto server: what reaches the function, in which batches and order,
what a failure, a partial failure or a timeout does, and what /drain answers. Each test writes its own template."""

import threading

import pytest
from conftest import REGION, Table
from stand_in import EMULATOR_FUNCTION_ERROR, LAMBDA_FUNCTION_ERROR, Answer, key_of


def test_records_of_a_shard_arrive_in_order_in_batches_of_batch_size(local_streams, stand_in, table):
    # GIVEN 50 writes in the stream before the mapping starts
    table.put_all(f"k{i:02}" for i in range(50))
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON", "BatchSize": 7})

    # WHEN they are drained
    [status] = streams.drained()

    # THEN each invocation carried BatchSize records (the backlog fills every batch but the last), in write order
    assert [len(i.records) for i in stand_in.invocations] == [7] * 7 + [1]
    records = stand_in.records()
    assert [key_of(r) for r in records] == [f"k{i:02}/-" for i in range(50)]
    sequence_numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence_numbers == sorted(sequence_numbers)
    assert (status["delivered"], status["invocations"], status["pending"]) == (50, 8, 0)


def test_each_record_is_the_event_lambda_delivers(local_streams, stand_in, table, dynamodb):
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON"})
    table.put("a", name="first")
    dynamodb.update_item(
        TableName=table.name,
        Key={"pk": {"S": "a"}, "sk": {"S": "-"}},
        UpdateExpression="SET #n = :n",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":n": {"S": "second"}},
    )
    streams.drained()

    insert, modify = stand_in.records()
    for record in (insert, modify):
        assert set(record) == {
            "eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN",
        }
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == REGION
        assert record["eventSourceARN"] == table.stream_arn
        change = record["dynamodb"]
        # Whole epoch seconds, as a number.
        assert isinstance(change["ApproximateCreationDateTime"], int)
        assert change["Keys"] == {"pk": {"S": "a"}, "sk": {"S": "-"}}
        assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(change["SizeBytes"], int) and change["SizeBytes"] > 0
        assert isinstance(change["SequenceNumber"], str)
    assert insert["eventName"] == "INSERT" and "OldImage" not in insert["dynamodb"]
    assert insert["dynamodb"]["NewImage"] == Table.item("a", name="first")
    assert modify["eventName"] == "MODIFY"
    assert modify["dynamodb"]["OldImage"] == Table.item("a", name="first")
    assert modify["dynamodb"]["NewImage"] == Table.item("a", name="second")


def test_a_deleted_item_arrives_as_remove_with_its_old_image(local_streams, stand_in, table):
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON"})
    table.put("gone", note="kept in the old image")
    table.delete("gone")
    # Deleting what is not there changes nothing and writes no record.
    table.delete("never-there")
    streams.drained()

    insert, remove = stand_in.records()
    assert remove["eventName"] == "REMOVE"
    assert remove["dynamodb"]["Keys"] == {"pk": {"S": "gone"}, "sk": {"S": "-"}}
    assert remove["dynamodb"]["OldImage"] == Table.item("gone", note="kept in the old image")
    assert "NewImage" not in remove["dynamodb"]


@pytest.mark.parametrize(
    "failure", [EMULATOR_FUNCTION_ERROR, LAMBDA_FUNCTION_ERROR], ids=["emulator-500", "lambda-function-error"]
)
def test_a_failed_invocation_is_retried_with_the_same_batch(local_streams, stand_in, table, failure):
    stand_in.behaviour = lambda invocation, number: failure if number < 2 else Answer()
    table.put_all(["a", "b", "c"])
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10})

    [status] = streams.drained()

    first, second, third = stand_in.invocations
    assert first.records == second.records == third.records
    assert first.keys == ["a/-", "b/-", "c/-"]
    assert (status["delivered"], status["failedInvocations"], status["discarded"]) == (3, 2, 0)


def test_a_batch_failing_beyond_maximum_retry_attempts_is_discarded_and_the_next_one_delivered(
    local_streams, stand_in, table
):
    stand_in.behaviour = lambda invocation, number: (
        EMULATOR_FUNCTION_ERROR if "poison/-" in invocation.keys else Answer()
    )
    table.put_all(["a", "poison", "b", "c"])
    streams = local_streams(
        table, {"StartingPosition": "TRIM_HORIZON", "BatchSize": 2, "MaximumRetryAttempts": 1}
    )

    [status] = streams.drained()

    # One attempt and one retry, then the next batch.
    assert [i.keys for i in stand_in.invocations] == [["a/-", "poison/-"], ["a/-", "poison/-"], ["b/-", "c/-"]]
    assert (status["delivered"], status["discarded"], status["pending"]) == (2, 2, 0)


@pytest.mark.parametrize("bisect", [False, True], ids=["from-the-checkpoint", "bisected"])
def test_batch_item_failures_resume_at_the_lowest_failed_record(local_streams, stand_in, table, bisect):
    def behaviour(invocation, number):
        if number == 0:
            # While the function works, two more records arrive. The fourth and third records failed: the batch
            # resumes at the third.
            table.put_all(["r5", "r6"])
            return Answer.failures(invocation.sequence_numbers[3], invocation.sequence_numbers[2])
        return Answer(body=b'{"batchItemFailures": []}')

    stand_in.behaviour = behaviour
    table.put_all(f"r{i}" for i in range(5))
    streams = local_streams(
        table,
        {
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": bisect,
        },
    )

    [status] = streams.drained()

    first, *rest = stand_in.invocations
    assert first.keys == ["r0/-", "r1/-", "r2/-", "r3/-", "r4/-"]
    assert rest[0].records[:3] == first.records[2:]
    # Lambda reads again from the checkpoint; when it bisects, it retries the rest of the batch only.
    if bisect:
        assert [i.keys for i in rest] == [["r2/-", "r3/-", "r4/-"], ["r5/-", "r6/-"]]
    else:
        assert [i.keys for i in rest] == [["r2/-", "r3/-", "r4/-", "r5/-", "r6/-"]]
    assert (status["delivered"], status["failedInvocations"]) == (7, 1)


def test_batch_item_failures_count_only_with_report_batch_item_failures(local_streams, stand_in, table):
    stand_in.behaviour = lambda invocation, number: Answer.failures(invocation.sequence_numbers[0])
    table.put_all(["a", "b"])
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON"})

    [status] = streams.drained()

    assert len(stand_in.invocations) == 1
    assert status["delivered"] == 2


def test_a_failing_batch_is_split_in_two_with_bisect_on_function_error(local_streams, stand_in, table):
    stand_in.behaviour = lambda invocation, number: (
        EMULATOR_FUNCTION_ERROR if "poison/-" in invocation.keys else Answer()
    )
    table.put_all(["a", "b", "poison", "c"])
    streams = local_streams(
        table,
        {
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 4,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 0,
        },
    )

    [status] = streams.drained()

    assert [i.keys for i in stand_in.invocations] == [
        ["a/-", "b/-", "poison/-", "c/-"],
        ["a/-", "b/-"],
        ["poison/-", "c/-"],
        ["poison/-"],
        ["c/-"],
    ]
    assert (status["delivered"], status["discarded"]) == (3, 1)


@pytest.mark.parametrize("position", ["LATEST", "TRIM_HORIZON"])
def test_starting_position_decides_whether_records_from_before_the_start_arrive(
    local_streams, stand_in, table, position
):
    table.put_all(["before-1", "before-2"])
    streams = local_streams(table, {"StartingPosition": position})
    table.put_all(["after-1", "after-2"])

    streams.drained()

    after = ["after-1/-", "after-2/-"]
    expected = after if position == "LATEST" else ["before-1/-", "before-2/-", *after]
    assert [key_of(r) for r in stand_in.records()] == expected


def test_records_written_while_it_runs_arrive_in_later_invocations(local_streams, stand_in, table):
    streams = local_streams(table, {"StartingPosition": "LATEST"})
    for round_ in range(3):
        table.put_all([f"round-{round_}"])
        streams.drained()
        assert key_of(stand_in.records()[-1]) == f"round-{round_}/-"
    assert len(stand_in.invocations) == 3


def test_drain_waits_for_the_function_to_answer(local_streams, stand_in, table):
    release = threading.Event()

    def slow(invocation, number):
        release.wait(60)
        return Answer()

    stand_in.behaviour = slow
    table.put_all(["a", "b", "c"])
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON"})
    stand_in.wait_for_invocations(1)

    # WHEN the function has the batch but has not answered: not drained, and the batch is what is pending
    status, body = streams.drain(timeout=1)
    assert status == 504
    [pending] = body["streams"]
    assert (pending["unacknowledged"], pending["unread"], pending["pending"], pending["delivered"]) == (3, 0, 3, 0)

    # WHEN it answers while a drain waits: that drain answers 200, with the batch delivered
    answer = {}
    waiting = threading.Thread(target=lambda: answer.update(zip(("status", "body"), streams.drain(timeout=60))))
    waiting.start()
    release.set()
    waiting.join()
    assert answer["status"] == 200
    [done] = answer["body"]["streams"]
    assert (done["delivered"], done["pending"]) == (3, 0)


def test_drain_times_out_with_pending_counts_while_the_function_keeps_failing(local_streams, stand_in, table):
    stand_in.behaviour = lambda invocation, number: EMULATOR_FUNCTION_ERROR
    table.put_all(["a", "b", "c", "d", "e"])
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON", "BatchSize": 3})

    status, body = streams.drain(timeout=1)

    assert status == 504 and body["drained"] is False
    [pending] = body["streams"]
    # The batch being retried, and the two records behind it.
    assert (pending["unacknowledged"], pending["unread"], pending["pending"], pending["delivered"]) == (3, 2, 5, 0)
    assert pending["failedInvocations"] >= 1
    assert "HTTP 500" in pending["lastError"]
    assert pending["function"] == "consumer" and pending["table"] == "Records" and pending["tableName"] == table.name


def test_a_partial_batch_waits_for_the_batching_window_and_a_full_one_does_not(local_streams, stand_in, table):
    streams = local_streams(
        table, {"StartingPosition": "TRIM_HORIZON", "BatchSize": 3, "MaximumBatchingWindowInSeconds": 300}
    )
    table.put_all(["a", "b", "c", "d"])
    stand_in.wait_for_invocations(1)

    # The fourth record waits for two more (or 300 s).
    status, body = streams.drain(timeout=1)
    assert status == 504
    assert (body["streams"][0]["delivered"], body["streams"][0]["pending"]) == (3, 1)

    table.put_all(["e", "f"])
    streams.drained()
    assert [i.keys for i in stand_in.invocations] == [["a/-", "b/-", "c/-"], ["d/-", "e/-", "f/-"]]


def test_filter_criteria_leave_out_records_no_pattern_matches(local_streams, stand_in, table, dynamodb):
    streams = local_streams(
        table,
        {
            "StartingPosition": "TRIM_HORIZON",
            "FilterCriteria": {
                "Filters": [
                    {"Pattern": '{"eventName": ["INSERT"]}'},
                    {"Pattern": '{"dynamodb": {"OldImage": {"state": {"S": [{"prefix": "clos"}]}}}}'},
                ]
            },
        },
    )
    table.put("a", state="open")
    table.put("a", state="closed")
    table.put("a", state="reopened")
    table.delete("a")

    [status] = streams.drained()

    # The insert, and the change whose old image was closed.
    assert [(r["eventName"], r["dynamodb"]["NewImage"]["state"]["S"]) for r in stand_in.records()] == [
        ("INSERT", "open"),
        ("MODIFY", "reopened"),
    ]
    assert (status["delivered"], status["filtered"]) == (2, 2)


def test_a_transaction_that_failed_is_never_delivered_and_later_writes_are(local_streams, stand_in, table, dynamodb):
    # moto undoes a failed TransactWriteItems by putting back a copy of the table, stream included: a reader holding
    # an earlier shard iterator would see the undone write and nothing written after it.
    streams = local_streams(table, {"StartingPosition": "TRIM_HORIZON"})
    table.put("kept")
    streams.drained()

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table.name, "Item": Table.item("undone")}},
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": Table.item("kept"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    table.put("after")
    streams.drained()

    assert [key_of(r) for r in stand_in.records()] == ["kept/-", "after/-"]


def test_no_record_content_reaches_the_log_or_the_answers(local_streams, stand_in, table):
    marker = "PHICANARY-streams"

    def behaviour(invocation, number):
        if number == 0:
            return Answer(500, f'{{"errorMessage": "{marker}"}}'.encode())
        if number == 1:
            return Answer.failures(invocation.sequence_numbers[1])
        return Answer(body=f'{{"echo": "{marker}"}}'.encode())

    stand_in.behaviour = behaviour
    table.put_all([f"{marker}-key-{i}" for i in range(3)], **{"name": f"{marker} name", f"{marker}-attribute": "x"})
    streams = local_streams(
        table,
        {
            "StartingPosition": "TRIM_HORIZON",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
        },
    )
    table.delete(f"{marker}-key-0")

    status, drained = streams.drain()
    _, answer = streams.request("GET", "/status")

    assert status == 200 and len(stand_in.invocations) == 3
    assert marker in str(stand_in.records())
    assert marker not in streams.log_text()
    assert marker not in str(drained) + str(answer)


def test_without_dynamodb_events_it_reads_nothing_and_drains_at_once(local_streams, table):
    template = f"""\
Resources:
  {table.logical_id}:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {table.name}
  ApiFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: some-api
    Properties:
      Events:
        Get:
          Type: HttpApi
          Properties:
            Method: GET
            Path: /
"""
    # No Invoke API either: nothing is invoked.
    streams = local_streams(template=template, invoke=False)
    table.put("ignored")

    status, body = streams.drain(timeout=0)

    assert (status, body) == (200, {"drained": True, "streams": []})
