"""The tables the stand-in's tests and its throughput measurement write to: `pk`/`sk` keys, a stream of old and new
images (as the template's clinical tables have)."""


def create_stream_table(client, name):
    """Creates table `name` with its stream on; returns the stream's ARN."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
