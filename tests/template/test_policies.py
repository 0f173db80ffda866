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


# Functions that touch no data (the page's publisher) and so may not use the key.
WITHOUT_DATA = {"PublishPageFunction"}


def test_each_function_role_is_among_the_keys_data_users(created_key):
    stack = created_key
    roles = stack.of_type("AWS::IAM::Role")
    functions = stack.of_type("AWS::Lambda::Function")
    assert WITHOUT_DATA <= set(functions)
    for function_id in WITHOUT_DATA:
        role_arn = functions.pop(function_id)["Properties"]["Role"]
        for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"):
            assert use_key(stack, action, role_arn) != ALLOW, f"{function_id}: {action}"
    assert functions
    via = {
        "SubmitQuestionnaireFunction": ["dynamodb", "s3"],
        "ImportCsvFunction": ["s3", "dynamodb", "sqs"],
        "ImportApiFunction": ["dynamodb", "s3"],
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


def test_every_log_group_is_encrypted_with_the_key_which_cloudwatch_logs_may_use_for_it_alone(stack):
    groups = stack.of_type("AWS::Logs::LogGroup")
    assert {"SubmitQuestionnaireLogs", "ImportCsvLogs", "ImportApiLogs", "AuditTrailLogs"} <= set(groups)
    logs = {"Service": f"logs.{REGION}.amazonaws.com"}
    for logical_id, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == data_key(stack), logical_id
        if stack.parameters["KmsKeyArn"]:
            continue
        # CloudWatch Logs names the group in the encryption context; without a grant here the group is not created.
        key_policy = stack.of_type("AWS::KMS::Key")["DataKey"]["Properties"]["KeyPolicy"]
        group_arn = stack.arn(logical_id).removesuffix(":*")
        for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
            context = {"kms:EncryptionContext:aws:logs:arn": group_arn}
            assert decide(key_policy, Request(action, stack.arn("DataKey"), logs, context)) == ALLOW, logical_id
    if not stack.parameters["KmsKeyArn"]:
        key_policy = stack.of_type("AWS::KMS::Key")["DataKey"]["Properties"]["KeyPolicy"]
        other = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other-stack/import-api"
        request = Request("kms:Decrypt", stack.arn("DataKey"), logs, {"kms:EncryptionContext:aws:logs:arn": other})
        assert decide(key_policy, request) != ALLOW


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
    writes = {"SubmitQuestionnaireRole": "reads/", "ImportApiRole": "reads/", "AuditTrailRole": "changes/"}
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


# --- the import API: uploads signed for imports/ only, reports read, its own records ---------------------------


def may(stack, role_id, action, resource):
    role = stack.of_type("AWS::IAM::Role")[role_id]
    return decide_all(role_policies(role), Request(action, resource, {"AWS": stack.arn(role_id)})) == ALLOW


def test_the_import_api_role_puts_objects_under_imports_and_audit_reads_and_nowhere_else(stack):
    # A pre-signed upload URL is a PutObject by this role: whatever the URL names, the role decides where it lands.
    imports, audit = stack.arn("ImportBucket"), stack.arn("AuditTrailBucket")
    for key in ("imports/observations/CARDIO-7/visit.csv", "imports/questionnaires/intake/01JEQ8Z5W0.csv"):
        assert may(stack, "ImportApiRole", "s3:PutObject", f"{imports}/{key}"), key
    assert may(stack, "ImportApiRole", "s3:PutObject", f"{audit}/reads/import/01JEQ8Z5W0.json")
    for resource in (
        f"{imports}/reports/01JEQ8Z5W0/summary.json",
        f"{imports}/other/visit.csv",
        f"{imports}/imports.csv",
        imports,
        f"{audit}/changes/x.json",
        f"{audit}/imports/visit.csv",
        f"{stack.arn('ImportAccessLogBucket')}/imports/visit.csv",
    ):
        assert not may(stack, "ImportApiRole", "s3:PutObject", resource), resource
    # Nothing else is done to an object.
    for action in (
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectAcl",
        "s3:PutObjectTagging",
        "s3:RestoreObject",
    ):
        for prefix in ("imports/", "reports/"):
            assert not may(stack, "ImportApiRole", action, f"{imports}/{prefix}x.csv"), f"{action} on {prefix}"


def test_the_import_api_role_reads_reports_and_no_import_or_listing(stack):
    imports = stack.arn("ImportBucket")
    for key in ("reports/01JEQ8Z5W0/summary.json", "reports/01JEQ8Z5W0/rejected-rows.csv"):
        assert may(stack, "ImportApiRole", "s3:GetObject", f"{imports}/{key}"), key
    for action, resource in (
        ("s3:GetObject", f"{imports}/imports/observations/CARDIO-7/visit.csv"),
        ("s3:GetObjectVersion", f"{imports}/imports/observations/CARDIO-7/visit.csv"),
        ("s3:GetObjectVersion", f"{imports}/reports/01JEQ8Z5W0/summary.json"),
        ("s3:GetObject", f"{imports}/other/x"),
        ("s3:ListBucket", imports),
        ("s3:ListBucketVersions", imports),
    ):
        assert not may(stack, "ImportApiRole", action, resource), f"{action} on {resource}"


def test_the_import_api_role_puts_and_reads_job_records_and_queries_only_the_by_site_index(stack):
    table = stack.arn("ImportJobsTable")
    for action in ("dynamodb:GetItem", "dynamodb:PutItem"):
        assert may(stack, "ImportApiRole", action, table), action
    # The index it may query is the one the table has.
    [index] = stack.of_type("AWS::DynamoDB::Table")["ImportJobsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert may(stack, "ImportApiRole", "dynamodb:Query", f"{table}/index/{index['IndexName']}")
    assert index["IndexName"] == "bySite"
    for action, resource in (
        ("dynamodb:Query", table),
        ("dynamodb:Query", f"{table}/index/byStatus"),
        ("dynamodb:Scan", table),
        ("dynamodb:Scan", f"{table}/index/bySite"),
        ("dynamodb:GetItem", f"{table}/index/bySite"),
        # A job's record is the importer's to update; nobody deletes one.
        ("dynamodb:UpdateItem", table),
        ("dynamodb:DeleteItem", table),
        ("dynamodb:BatchWriteItem", table),
        ("dynamodb:PartiQLUpdate", table),
        ("dynamodb:PartiQLDelete", table),
        ("dynamodb:DeleteTable", table),
    ):
        assert not may(stack, "ImportApiRole", action, resource), f"{action} on {resource}"


def test_the_import_api_role_reads_and_writes_no_other_table(stack):
    for logical_id in set(stack.of_type("AWS::DynamoDB::Table")) - {"ImportJobsTable"}:
        table = stack.arn(logical_id)
        for resource in (table, f"{table}/index/bySite", f"{table}/stream/2026-01-01T00:00:00.000"):
            for action in (
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:PutItem",
                "dynamodb:GetRecords",
            ):
                assert not may(stack, "ImportApiRole", action, resource), f"{action} on {resource}"


def test_the_jobs_tables_index_lists_a_sites_uploads_only_newest_first(stack):
    table = stack.of_type("AWS::DynamoDB::Table")["ImportJobsTable"]["Properties"]
    [index] = table["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "bySite",
        "KeySchema": [
            {"AttributeName": "siteKey", "KeyType": "HASH"},
            {"AttributeName": "importId", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    # Sparse: siteKey is no key of the table, so a record without it (a file put into the bucket directly) is not
    # in the index; the sort key is the table's own, a ULID for an upload.
    assert table["KeySchema"] == [{"AttributeName": "importId", "KeyType": "HASH"}]
    assert {"AttributeName": "siteKey", "AttributeType": "S"} in table["AttributeDefinitions"]


def test_the_importer_reads_and_updates_an_upload_record_and_reads_the_uploads_checksum(stack):
    table, imports = stack.arn("ImportJobsTable"), stack.arn("ImportBucket")
    upload = f"{imports}/imports/observations/CARDIO-7/01JEQ8Z5W0.csv"
    # HeadObject is authorized as GetObject (GetObjectVersion for a version); a checksum of an object encrypted with
    # the key needs kms:Decrypt.
    for action, resource in (
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
        ("s3:GetObject", upload),
        ("s3:GetObjectVersion", upload),
    ):
        assert may(stack, "ImportCsvRole", action, resource), f"{action} on {resource}"
    policies = role_policies(stack.of_type("AWS::IAM::Role")["ImportCsvRole"])
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    request = Request("kms:Decrypt", data_key(stack), {"AWS": stack.arn("ImportCsvRole")}, via_s3)
    assert decide_all(policies, request) == ALLOW
    # It lists no site's imports.
    assert not may(stack, "ImportCsvRole", "dynamodb:Query", f"{table}/index/bySite")


@pytest.mark.parametrize("parameters", [{}, {"MaxObjectBytes": "1048576"}])
def test_both_import_functions_take_one_size_limit_and_name_one_bucket(parameters):
    stack = Stack(**parameters)
    functions = stack.of_type("AWS::Lambda::Function")
    variables = [
        functions[function_id]["Properties"]["Environment"]["Variables"]
        for function_id in ("ImportCsvFunction", "ImportApiFunction")
    ]
    # The import API and the importer agree on the largest object imported and on the bucket.
    assert [v["MAX_OBJECT_BYTES"] for v in variables] == [stack.parameters["MaxObjectBytes"]] * 2
    assert [v["IMPORT_BUCKET"] for v in variables] == [stack.ref("ImportBucket")] * 2


def test_the_import_api_function_is_given_exactly_its_variables():
    parameters = {
        "UploadScope": "edc/upload",
        "ImportReadScope": "edc/read",
        "UploadUrlSeconds": "600",
        "ReportUrlSeconds": "120",
        "GroupsClaim": "groups",
        "StaffGroup": "coordinators",
        "SiteGroupPrefix": "site-",
        "StudyGroupPrefix": "enrolled-",
    }
    stack = Stack(**parameters)
    variables = stack.of_type("AWS::Lambda::Function")["ImportApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables == {
        # Globals of every function.
        "RUST_LOG": "info",
        "METRICS_NAMESPACE": stack.parameters["MetricsNamespace"],
        "STACK_NAME": STACK,
        # Its own.
        "POWERTOOLS_SERVICE_NAME": "import-api",
        "IMPORT_BUCKET": stack.ref("ImportBucket"),
        "IMPORT_JOBS_TABLE": stack.ref("ImportJobsTable"),
        "AUDIT_BUCKET": stack.ref("AuditTrailBucket"),
        "API_ID": stack.ref("QuestionnaireApi"),
        "GROUPS_CLAIM": "groups",
        "STAFF_GROUP": "coordinators",
        "SITE_GROUP_PREFIX": "site-",
        "STUDY_GROUP_PREFIX": "enrolled-",
        "UPLOAD_SCOPE": "edc/upload",
        "IMPORT_READ_SCOPE": "edc/read",
        "UPLOAD_URL_SECONDS": "600",
        "REPORT_URL_SECONDS": "120",
        "MAX_OBJECT_BYTES": stack.parameters["MaxObjectBytes"],
    }
    # Groups are read as the questionnaire function reads them.
    questionnaire = stack.of_type("AWS::Lambda::Function")["SubmitQuestionnaireFunction"]
    shared = ("GROUPS_CLAIM", "STAFF_GROUP", "SITE_GROUP_PREFIX", "STUDY_GROUP_PREFIX", "API_ID", "AUDIT_BUCKET")
    assert {k: questionnaire["Properties"]["Environment"]["Variables"][k] for k in shared} == {
        k: variables[k] for k in shared
    }


# --- the HTTP API: every route behind the JWT authorizer, with its scopes ---------------------------------------

# route key -> (the function its integration invokes, the parameters naming the scopes of which a token needs one)
ROUTES = {
    "POST /questionnaires/{kind}": ("SubmitQuestionnaireFunction", ["SubmitScope"]),
    "GET /questionnaires/{kind}/{id}": ("SubmitQuestionnaireFunction", ["ReadScope"]),
    "ANY /questionnaires/{kind}": ("SubmitQuestionnaireFunction", []),
    "ANY /questionnaires/{kind}/{id}": ("SubmitQuestionnaireFunction", []),
    "POST /imports/{id}": ("ImportApiFunction", ["UploadScope"]),
    "GET /imports/{id}": ("ImportApiFunction", ["ImportReadScope", "UploadScope"]),
    "GET /imports": ("ImportApiFunction", ["ImportReadScope", "UploadScope"]),
    "ANY /imports/{id}": ("ImportApiFunction", []),
    "ANY /imports": ("ImportApiFunction", []),
}


def test_every_route_needs_a_token_of_the_apis_authorizer_with_one_of_its_scopes(stack):
    api, authorizer = stack.ref("QuestionnaireApi"), stack.ref("QuestionnaireApiAuthorizer")
    functions = {
        f"integrations/{stack.ref(logical_id)}": stack.logical_id_of(
            integration["Properties"]["IntegrationUri"], "AWS::Lambda::Function"
        )
        for logical_id, integration in stack.of_type("AWS::ApiGatewayV2::Integration").items()
    }
    routes = {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in stack.of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert sorted(routes) == sorted(ROUTES)
    for key, (function_id, scope_parameters) in ROUTES.items():
        route = routes[key]
        assert (route["ApiId"], route["AuthorizationType"], route["AuthorizerId"]) == (api, "JWT", authorizer), key
        scopes = [stack.parameters[name] for name in scope_parameters]
        assert sorted(route.get("AuthorizationScopes", [])) == sorted(scopes), key
        assert functions[route["Target"]] == function_id, key
    # The scopes of the two APIs are not each other's.
    questionnaire_scopes = {stack.parameters[name] for name in ("SubmitScope", "ReadScope")}
    assert not questionnaire_scopes & {stack.parameters[name] for name in ("UploadScope", "ImportReadScope")}


def test_the_stages_first_deployment_serves_every_route(stack):
    stage = only(stack.of_type("AWS::ApiGatewayV2::Stage"), "stage")
    assert set(stack.of_type("AWS::ApiGatewayV2::Route")) <= set(stage["DependsOn"])
    assert stage["Properties"]["AutoDeploy"] is True


@pytest.mark.parametrize("function_id", ["SubmitQuestionnaireFunction", "ImportApiFunction"])
def test_each_api_function_alarms_when_it_fails_or_is_throttled(stack, function_id):
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in stack.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": stack.ref(function_id)}]
    }
    assert {"Errors", "Throttles"} <= watched


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


@pytest.mark.parametrize("function_id", ["SubmitQuestionnaireFunction", "ImportApiFunction"])
def test_each_api_function_is_invoked_by_this_api_only(stack, function_id):
    api = stack.ref("QuestionnaireApi")
    assert invoke_permissions(stack, function_id) == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": stack.ref(function_id),
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/*",
        }
    ]
    assert roles_allowed_to_invoke(stack, function_id) == set()
    assert not stack.of_type("AWS::Lambda::Url")
    # The function knows that API by the same id, and the API has one integration with the function.
    function = stack.of_type("AWS::Lambda::Function")[function_id]
    assert function["Properties"]["Environment"]["Variables"]["API_ID"] == api
    integrations = {
        logical_id: integration["Properties"]
        for logical_id, integration in stack.of_type("AWS::ApiGatewayV2::Integration").items()
        if integration["Properties"]["IntegrationUri"] == stack.arn(function_id)
    }
    integration = only(integrations, f"integration with {function_id}")
    assert (integration["ApiId"], integration["IntegrationType"]) == (api, "AWS_PROXY")


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
