"""What template.yaml's policies allow and refuse, decided request by request (iam.py) on the template as SAM expands
it for CloudFormation (cfn.py). Where a rule holds for a kind of resource (every bucket refuses plain HTTP), the
tests go through every resource of that kind, so that one added later without the rule fails them."""

import pytest
from cfn import ACCOUNT, REGION, STACK, Stack
from iam import ALLOW, DENY, Request, decide

EXISTING_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0d8b1f4e-5a3c-4e2b-9f61-7c2d3e4f5a6b"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/9a9a9a9a-1111-4222-8333-444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/KeyAdministrator"
UPLOADER = f"arn:aws:iam::{ACCOUNT}:role/uploader"
OTHER_ACCOUNT_ROLE = "arn:aws:iam::999999999999:role/uploader"
SSE = "s3:x-amz-server-side-encryption"
SSE_KEY_ID = "s3:x-amz-server-side-encryption-aws-kms-key-id"
SSE_CUSTOMER = "s3:x-amz-server-side-encryption-customer-algorithm"
# What using a key on data means (GenerateDataKey* and ReEncrypt* as KMS spells out their actions).
DATA_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
]
ADMIN_ACTIONS = [
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]


@pytest.fixture(scope="module")
def created_key():
    return Stack()


@pytest.fixture(scope="module", params=["created key", "existing key"])
def stack(request):
    return Stack() if request.param == "created key" else Stack(KmsKeyArn=EXISTING_KEY)


def data_key(stack):
    return stack.parameters["KmsKeyArn"] or stack.arn("DataKey")


def only(resources, what):
    assert len(resources) == 1, f"expected one {what}, found {sorted(resources)}"
    return next(iter(resources.values()))


def attached(stack, policy_type, target_property, logical_id):
    """The statements of every `policy_type` resource whose `target_property` names the resource."""
    reference = stack.ref(logical_id)
    statements = []
    for policy in stack.of_type(policy_type).values():
        targets = policy["Properties"][target_property]
        if reference in (targets if isinstance(targets, list) else [targets]):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return {"Version": "2012-10-17", "Statement": statements}


def role_policies(role):
    """The identity policy documents of a role of the template (managed ones could not be decided here)."""
    assert not role["Properties"].get("ManagedPolicyArns"), "a managed policy's statements are not in the template"
    return [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]


def decide_all(documents, request):
    decisions = [decide(document, request) for document in documents]
    return DENY if DENY in decisions else ALLOW if ALLOW in decisions else "ImplicitDeny"


# --- the import bucket: the stack's key and no other encryption ---------------------------------------------------


def upload(stack, headers):
    bucket = stack.arn("ImportBucket")
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": UPLOADER, **headers}
    request = Request("s3:PutObject", f"{bucket}/imports/observations/CARDIO-7/visit.csv", {"AWS": UPLOADER}, context)
    return decide(attached(stack, "AWS::S3::BucketPolicy", "Bucket", "ImportBucket"), request)


def test_an_upload_asking_for_sse_s3_another_key_or_dsse_is_denied(stack):
    key = data_key(stack)
    asking = {
        "SSE-S3": {SSE: "AES256"},
        "SSE-S3 naming the stack's key": {SSE: "AES256", SSE_KEY_ID: key},
        "dual-layer SSE-KMS": {SSE: "aws:kms:dsse"},
        "dual-layer SSE-KMS with the stack's key": {SSE: "aws:kms:dsse", SSE_KEY_ID: key},
        "another key": {SSE: "aws:kms", SSE_KEY_ID: OTHER_KEY},
        "SSE-KMS without a key id (the AWS managed key aws/s3)": {SSE: "aws:kms"},
        "a customer-provided key": {SSE_CUSTOMER: "AES256"},
        "a customer-provided key besides the stack's": {SSE: "aws:kms", SSE_KEY_ID: key, SSE_CUSTOMER: "AES256"},
    }
    for name, headers in asking.items():
        assert upload(stack, headers) == DENY, name


def test_an_upload_with_the_stacks_key_or_without_encryption_headers_is_not_denied(stack):
    # Without headers (also every part of a multipart upload) the bucket default applies: the same key, by ARN.
    assert upload(stack, {}) != DENY
    assert upload(stack, {SSE: "aws:kms", SSE_KEY_ID: data_key(stack)}) != DENY
    encryption = stack.of_type("AWS::S3::Bucket")["ImportBucket"]["Properties"]["BucketEncryption"]
    [default] = encryption["ServerSideEncryptionConfiguration"]
    assert default["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key(stack)}


# --- TLS everywhere -----------------------------------------------------------------------------------------------

# resource type -> (its policy's type, the policy's property naming it, what to ask of it: (action, resource suffix))
TLS_ONLY = {
    "AWS::S3::Bucket": (
        "AWS::S3::BucketPolicy",
        "Bucket",
        [("s3:GetObject", "/any/key"), ("s3:PutObject", "/any/key"), ("s3:DeleteObject", "/k"), ("s3:ListBucket", "")],
    ),
    "AWS::SQS::Queue": (
        "AWS::SQS::QueuePolicy",
        "Queues",
        [("sqs:ReceiveMessage", ""), ("sqs:SendMessage", ""), ("sqs:PurgeQueue", ""), ("sqs:SetQueueAttributes", "")],
    ),
    "AWS::SNS::Topic": (
        "AWS::SNS::TopicPolicy",
        "Topics",
        [("sns:Subscribe", ""), ("sns:Publish", ""), ("sns:GetTopicAttributes", ""), ("sns:SetTopicAttributes", "")],
    ),
}


def test_every_bucket_queue_and_topic_denies_requests_without_tls(stack):
    checked = []
    for resource_type, (policy_type, target, asks) in TLS_ONLY.items():
        for logical_id in stack.of_type(resource_type):
            policy = attached(stack, policy_type, target, logical_id)
            arn = stack.arn(logical_id)
            for caller in (UPLOADER, ROOT, OTHER_ACCOUNT_ROLE):
                for action, suffix in asks:
                    plain = Request(action, arn + suffix, {"AWS": caller}, {"aws:SecureTransport": "false"})
                    assert decide(policy, plain) == DENY, f"{logical_id}: {action} by {caller} over plain HTTP"
            # Only plain HTTP: the same first request over TLS is not denied by this.
            action, suffix = asks[0]
            tls = Request(action, arn + suffix, {"AWS": UPLOADER}, {"aws:SecureTransport": "true"})
            assert decide(policy, tls) != DENY, f"{logical_id}: {action} over TLS"
            checked.append(logical_id)
    assert {"ImportBucket", "ImportAccessLogBucket", "ImportFailureQueue", "AlarmTopic"} <= set(checked)


def test_this_stacks_alarms_publish_to_the_topic_and_the_account_manages_it(stack):
    topic = stack.arn("AlarmTopic")
    policy = attached(stack, "AWS::SNS::TopicPolicy", "Topics", "AlarmTopic")
    alarms = stack.of_type("AWS::CloudWatch::Alarm")
    assert alarms
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [topic], logical_id
        source = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm['Properties']['AlarmName']}"
        context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": source, "aws:SecureTransport": "true"}
        publish = Request("sns:Publish", topic, {"Service": "cloudwatch.amazonaws.com"}, context)
        assert decide(policy, publish) == ALLOW, logical_id
        if not stack.parameters["KmsKeyArn"]:
            # The topic is encrypted: the alarm must be able to use the key as well.
            key_policy = stack.of_type("AWS::KMS::Key")["DataKey"]["Properties"]["KeyPolicy"]
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                request = Request(action, stack.arn("DataKey"), publish.principal, context)
                assert decide(key_policy, request) == ALLOW, f"{logical_id}: {action}"
    # Another stack's alarm, or one of another account, may not.
    for source, account in (
        (f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:other-stack-errors", ACCOUNT),
        (f"arn:aws:cloudwatch:{REGION}:999999999999:alarm:{STACK}-errors", "999999999999"),
    ):
        context = {"aws:SourceAccount": account, "aws:SourceArn": source, "aws:SecureTransport": "true"}
        assert decide(policy, Request("sns:Publish", topic, {"Service": "cloudwatch.amazonaws.com"}, context)) != ALLOW
    for action in ("sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic"):
        request = Request(action, topic, {"AWS": KEY_ADMIN}, {"aws:SecureTransport": "true"})
        assert decide(policy, request) == ALLOW, action
        outsider = Request(action, topic, {"AWS": OTHER_ACCOUNT_ROLE}, {"aws:SecureTransport": "true"})
        assert decide(policy, outsider) != ALLOW, action


# The dimension sets the functions write their metrics with (shared/src/telemetry/metrics.rs): an alarm must name
# exactly one of them, or it reads a metric nobody writes.
METRIC_DIMENSIONS = {"Submissions": {"Stack", "Outcome"}}
DEFAULT_METRIC_DIMENSIONS = {"Stack"}


def metrics_read(alarm):
    """The metrics an alarm reads: its own, or those of its metric math."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [properties]
    return [query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query]


def test_every_alarm_on_the_functions_metrics_reads_this_stacks_own_and_their_whole_dimension_set(stack):
    namespace = stack.parameters["MetricsNamespace"]
    read = []
    for logical_id, alarm in stack.of_type("AWS::CloudWatch::Alarm").items():
        for metric in metrics_read(alarm):
            if metric["Namespace"] != namespace:
                continue
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            name = metric["MetricName"]
            assert dimensions.get("Stack") == STACK, f"{logical_id}: {name} of any stack sharing the namespace"
            assert set(dimensions) == METRIC_DIMENSIONS.get(name, DEFAULT_METRIC_DIMENSIONS), f"{logical_id}: {name}"
            read.append(name)
    assert {"ImportsNotCompleted", "RowsRejected", "RowsImported"} <= set(read)
    # The functions are told the stack's name for that dimension.
    for logical_id, function in stack.of_type("AWS::Lambda::Function").items():
        assert function["Properties"]["Environment"]["Variables"]["STACK_NAME"] == STACK, logical_id


# --- the key: administered by the account, used by the stack's roles and named users ----------------------------


def use_key(stack, action, principal, **context):
    key_policy = stack.of_type("AWS::KMS::Key")["DataKey"]["Properties"]["KeyPolicy"]
    request_context = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true", **context}
    return decide(key_policy, Request(action, stack.arn("DataKey"), {"AWS": principal}, request_context))


def test_the_account_root_administers_the_key_but_cannot_decrypt_or_generate_data_keys(created_key):
    for principal in (ROOT, KEY_ADMIN):
        for action in ADMIN_ACTIONS:
            assert use_key(created_key, action, principal) == ALLOW, f"{principal}: {action}"
        for action in DATA_ACTIONS:
            assert use_key(created_key, action, principal) != ALLOW, f"{principal}: {action}"
            # Not through a service either.
            via = {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
            assert use_key(created_key, action, principal, **via) != ALLOW, f"{principal}: {action} via DynamoDB"


def test_the_account_creates_grants_only_for_aws_resources(created_key):
    for principal in (ROOT, KEY_ADMIN):
        assert use_key(created_key, "kms:CreateGrant", principal, **{"kms:GrantIsForAWSResource": "true"}) == ALLOW
        assert use_key(created_key, "kms:CreateGrant", principal, **{"kms:GrantIsForAWSResource": "false"}) != ALLOW
        assert use_key(created_key, "kms:CreateGrant", principal) != ALLOW


def test_each_function_role_is_among_the_keys_data_users(created_key):
    stack = created_key
    roles = stack.of_type("AWS::IAM::Role")
    functions = stack.of_type("AWS::Lambda::Function")
    assert functions
    via = {
        "SubmitQuestionnaireFunction": ["dynamodb", "s3"],
        "ImportCsvFunction": ["s3", "dynamodb", "sqs"],
        "AuditTrailFunction": ["dynamodb", "s3"],
    }
    for function_id, function in functions.items():
        role_arn = function["Properties"]["Role"]
        for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"):
            assert use_key(stack, action, role_arn) == ALLOW, f"{function_id}: {action}"
        # Its role's own policy (which the key policy delegates to) lets it through the services it calls.
        policies = role_policies(roles[stack.logical_id_of(role_arn, "AWS::IAM::Role")])
        for service in via.get(function_id, []):
            for action in ("kms:Decrypt", "kms:GenerateDataKey"):
                context = {"kms:ViaService": f"{service}.{REGION}.amazonaws.com"}
                request = Request(action, stack.arn("DataKey"), {"AWS": role_arn}, context)
                assert decide_all(policies, request) == ALLOW, f"{function_id}: {action} via {service}"
    assert set(via) <= set(functions)
    # A name is not a prefix, and another account's role of the same name is not the stack's.
    for stranger in (
        f"arn:aws:iam::{ACCOUNT}:role/{STACK}-import-csv-2",
        f"arn:aws:iam::999999999999:role/{STACK}-import-csv",
    ):
        assert use_key(stack, "kms:Decrypt", stranger) != ALLOW, stranger


def test_named_data_key_users_and_no_others_use_the_key():
    nobody = Stack()
    assert use_key(nobody, "kms:GenerateDataKey", UPLOADER) != ALLOW
    named = Stack(DataKeyUserArns=f"arn:aws:iam::{ACCOUNT}:role/uploaders-*,arn:aws:iam::{ACCOUNT}:user/data-manager")
    for principal in (f"arn:aws:iam::{ACCOUNT}:role/uploaders-site-0042", f"arn:aws:iam::{ACCOUNT}:user/data-manager"):
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert use_key(named, action, principal) == ALLOW, f"{principal}: {action}"
    assert use_key(named, "kms:Decrypt", UPLOADER) != ALLOW
    assert use_key(named, "kms:Decrypt", "arn:aws:iam::999999999999:role/uploaders-site-0042") != ALLOW


# --- data kept --------------------------------------------------------------------------------------------------


def test_every_table_is_retained_deletion_protected_and_point_in_time_recoverable(stack):
    tables = stack.of_type("AWS::DynamoDB::Table")
    assert {"SubmissionsTable", "ObservationsTable", "ImportJobsTable"} <= set(tables)
    for logical_id, table in tables.items():
        assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain"), logical_id
        assert table["Properties"].get("DeletionProtectionEnabled") is True, logical_id
        recovery = table["Properties"].get("PointInTimeRecoverySpecification", {})
        assert recovery.get("PointInTimeRecoveryEnabled") is True, logical_id


# --- the audit trail: every change and read recorded, nothing ever deleted or unlocked ---------------------------

AUDIT_RECORD_ACTIONS = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
]


def test_the_audit_trail_locks_every_record_in_compliance_mode_for_the_retention_asked(stack):
    bucket = stack.of_type("AWS::S3::Bucket")["AuditTrailBucket"]
    assert (bucket.get("DeletionPolicy"), bucket.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    properties = bucket["Properties"]
    assert properties["ObjectLockEnabled"] is True
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": stack.parameters["AuditRetentionDays"]}},
    }
    # No lifecycle rule removes records (a noncurrent version or a current one) behind the lock's back.
    for rule in properties.get("LifecycleConfiguration", {}).get("Rules", []):
        assert not {"ExpirationInDays", "ExpirationDate", "NoncurrentVersionExpiration"} & set(rule), rule
    [default] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert default["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key(stack)}


def test_nobody_may_delete_or_unlock_an_audit_record_whatever_their_iam_policies_say(stack):
    policy = attached(stack, "AWS::S3::BucketPolicy", "Bucket", "AuditTrailBucket")
    record = stack.arn("AuditTrailBucket") + "/changes/table=t/day=2026-12-04/1-2.jsonl"
    callers = [ROOT, KEY_ADMIN] + [stack.arn(role) for role in stack.of_type("AWS::IAM::Role")]
    for caller in callers:
        for action in AUDIT_RECORD_ACTIONS:
            request = Request(action, record, {"AWS": caller}, {"aws:SecureTransport": "true"})
            assert decide(policy, request) == DENY, f"{action} by {caller}"
        unlock = Request(
            "s3:PutBucketObjectLockConfiguration",
            stack.arn("AuditTrailBucket"),
            {"AWS": caller},
            {"aws:SecureTransport": "true"},
        )
        assert decide(policy, unlock) == DENY, caller


def test_each_function_role_writes_only_new_records_of_its_own_kind_and_reads_none(stack):
    bucket = stack.arn("AuditTrailBucket")
    writes = {"SubmitQuestionnaireRole": "reads/", "AuditTrailRole": "changes/"}
    for logical_id, role in stack.of_type("AWS::IAM::Role").items():
        policies = role_policies(role)
        principal = {"AWS": stack.arn(logical_id)}
        for prefix in ("reads/", "changes/", "other/"):
            put = Request("s3:PutObject", f"{bucket}/{prefix}x.json", principal)
            expected = ALLOW if writes.get(logical_id) == prefix else "ImplicitDeny"
            assert decide_all(policies, put) == expected, f"{logical_id}: put under {prefix}"
        for action in AUDIT_RECORD_ACTIONS + ["s3:GetObject", "s3:GetObjectVersion", "s3:PutBucketPolicy"]:
            for prefix in ("reads/", "changes/"):
                request = Request(action, f"{bucket}/{prefix}x.json", principal)
                assert decide_all(policies, request) != ALLOW, f"{logical_id}: {action} on {prefix}"
    assert set(writes) <= set(stack.of_type("AWS::IAM::Role"))


def test_every_change_of_both_clinical_tables_reaches_the_audit_function_and_is_never_skipped(stack):
    function = stack.ref("AuditTrailFunction")
    mappings = {
        mapping["Properties"]["EventSourceArn"]: mapping["Properties"]
        for mapping in stack.of_type("AWS::Lambda::EventSourceMapping").values()
        if mapping["Properties"]["FunctionName"] == function
    }
    tables = stack.of_type("AWS::DynamoDB::Table")
    for logical_id in ("SubmissionsTable", "ObservationsTable"):
        stream = tables[logical_id]["Properties"]["StreamSpecification"]
        assert stream == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, logical_id
        mapping = mappings[stack.get_att(logical_id, "StreamArn")]
        assert mapping["StartingPosition"] == "TRIM_HORIZON", logical_id
        assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (-1, -1), logical_id
        assert "FilterCriteria" not in mapping, logical_id
    lag = [
        alarm["Properties"]
        for alarm in stack.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "IteratorAge"
    ]
    assert [a["Dimensions"] for a in lag] == [[{"Name": "FunctionName", "Value": function}]]
    # The role may read those streams and no table.
    policies = role_policies(stack.of_type("AWS::IAM::Role")["AuditTrailRole"])
    principal = {"AWS": stack.arn("AuditTrailRole")}
    for logical_id in ("SubmissionsTable", "ObservationsTable"):
        for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"):
            request = Request(action, stack.get_att(logical_id, "StreamArn"), principal)
            assert decide_all(policies, request) == ALLOW, f"{action} on {logical_id}'s stream"
        for action in ("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:PutItem"):
            assert decide_all(policies, Request(action, stack.arn(logical_id), principal)) != ALLOW, action


# --- who may invoke the functions -------------------------------------------------------------------------------


def invoke_permissions(stack, function_id):
    return [
        permission["Properties"]
        for permission in stack.of_type("AWS::Lambda::Permission").values()
        if stack.logical_id_of(permission["Properties"]["FunctionName"], "AWS::Lambda::Function") == function_id
    ]


def roles_allowed_to_invoke(stack, function_id):
    request = Request("lambda:InvokeFunction", stack.arn(function_id), {"AWS": UPLOADER})
    return {
        logical_id
        for logical_id, role in stack.of_type("AWS::IAM::Role").items()
        if decide_all(role_policies(role), request) == ALLOW
    }


def test_the_questionnaire_function_is_invoked_by_this_api_only(stack):
    api = stack.ref("QuestionnaireApi")
    assert invoke_permissions(stack, "SubmitQuestionnaireFunction") == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": stack.ref("SubmitQuestionnaireFunction"),
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/*",
        }
    ]
    assert roles_allowed_to_invoke(stack, "SubmitQuestionnaireFunction") == set()
    assert not stack.of_type("AWS::Lambda::Url")
    # The function knows that API by the same id, and the API's integration is the function.
    function = stack.of_type("AWS::Lambda::Function")["SubmitQuestionnaireFunction"]
    assert function["Properties"]["Environment"]["Variables"]["API_ID"] == api
    integration = only(stack.of_type("AWS::ApiGatewayV2::Integration"), "integration")["Properties"]
    assert (integration["ApiId"], integration["IntegrationUri"]) == (api, stack.arn("SubmitQuestionnaireFunction"))


def test_the_import_function_is_invoked_by_the_import_bucket_and_itself_only(stack):
    assert invoke_permissions(stack, "ImportCsvFunction") == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": stack.ref("ImportCsvFunction"),
            "Principal": "s3.amazonaws.com",
            "SourceAccount": ACCOUNT,
            "SourceArn": stack.arn("ImportBucket"),
        }
    ]
    assert roles_allowed_to_invoke(stack, "ImportCsvFunction") == {"ImportCsvRole"}
    function = stack.of_type("AWS::Lambda::Function")["ImportCsvFunction"]
    assert function["Properties"]["Role"] == stack.arn("ImportCsvRole")


# --- nobody at large ----------------------------------------------------------------------------------------------


def policy_documents(value):
    """Every policy document (a mapping with a Statement) inside `value`."""
    if isinstance(value, dict):
        if "Statement" in value:
            yield value
        for item in value.values():
            yield from policy_documents(item)
    elif isinstance(value, list):
        for item in value:
            yield from policy_documents(item)


def anyone(principal):
    if principal == "*":
        return True
    values = principal.values() if isinstance(principal, dict) else [principal]
    return any("*" in value for named in values for value in (named if isinstance(named, list) else [named]))


def test_no_policy_allows_principal_star(stack):
    documents = 0
    for logical_id, resource in stack.resources.items():
        resolved = stack.resolve(resource)
        for document in policy_documents(resolved.get("Properties", {})):
            documents += 1
            statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
            for statement in statements:
                if statement["Effect"] == "Allow" and "Principal" in statement:
                    assert not anyone(statement["Principal"]), f"{logical_id}: {statement.get('Sid')}"
        if resource["Type"] == "AWS::Lambda::Permission":
            assert "*" not in resolved["Properties"]["Principal"], logical_id
    assert documents > 5
