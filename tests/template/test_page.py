"""The coordinator page as template.yaml deploys it: a private bucket that only this stack's distribution reads,
the security headers the page is served with, CORS for the page's origin alone on the API and the import bucket,
and a publisher that may touch the page bucket and nothing else."""

import re

import pytest
from cfn import ACCOUNT, GIVEN, REGION, STACK, Stack
from iam import ALLOW, DENY, Request, decide
from test_policies import attached, decide_all, only, role_policies

PAGE_ORIGIN = f"https://{GIVEN['PageDomainName']}"
CLOUDFRONT = {"Service": "cloudfront.amazonaws.com"}
# The CSP of the page's contract, with the origins the page may call as variables.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ${ApiOrigin} ${UploadOrigin} ${IdpOrigin}; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@pytest.fixture(scope="module", params=["created key", "existing key"])
def stack(request):
    if request.param == "created key":
        return Stack()
    return Stack(KmsKeyArn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0d8b1f4e-5a3c-4e2b-9f61-7c2d3e4f5a6b")


def distribution_arn(stack):
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{stack.ref('CoordinatorPageDistribution')}"


def api_origin(stack):
    return f"https://{stack.ref('QuestionnaireApi')}.execute-api.{REGION}.amazonaws.com"


# --- the bucket: private, read by this distribution only -------------------------------------------------------


def test_the_page_bucket_is_private_encrypted_versioned_and_logged(stack):
    bucket = stack.of_type("AWS::S3::Bucket")["CoordinatorPageBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [default] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert default["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    logging = bucket["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == stack.ref("ImportAccessLogBucket")
    # The log bucket accepts this bucket's logs under the prefix it writes them to.
    log_policy = attached(stack, "AWS::S3::BucketPolicy", "Bucket", "ImportAccessLogBucket")
    context = {"aws:SourceArn": stack.arn("CoordinatorPageBucket"), "aws:SourceAccount": ACCOUNT, "aws:SecureTransport": "true"}
    target = f"{stack.arn('ImportAccessLogBucket')}/{logging['LogFilePrefix']}2026-12-05-10-00-00-ABCDEF"
    assert decide(log_policy, Request("s3:PutObject", target, {"Service": "logging.s3.amazonaws.com"}, context)) == ALLOW


def test_only_this_stacks_distribution_reads_the_page_and_nobody_writes_it_through_the_bucket_policy(stack):
    policy = attached(stack, "AWS::S3::BucketPolicy", "Bucket", "CoordinatorPageBucket")
    bucket = stack.arn("CoordinatorPageBucket")
    page = f"{bucket}/index.html"
    tls = {"aws:SecureTransport": "true"}
    ours = {**tls, "AWS:SourceArn": distribution_arn(stack), "aws:SourceAccount": ACCOUNT}
    assert decide(policy, Request("s3:GetObject", page, CLOUDFRONT, ours)) == ALLOW
    other_distribution = f"arn:aws:cloudfront::{ACCOUNT}:distribution/EOTHERDISTRIB1"
    other_account = f"arn:aws:cloudfront::999999999999:distribution/{stack.ref('CoordinatorPageDistribution')}"
    # CloudFront sends the distribution's account too: another distribution of this account is refused all the same.
    for source in (other_distribution, other_account):
        account = source.split(":")[4]
        context = {**tls, "AWS:SourceArn": source, "aws:SourceAccount": account}
        request = Request("s3:GetObject", page, CLOUDFRONT, context)
        assert decide(policy, request) != ALLOW, source
    assert decide(policy, Request("s3:GetObject", page, CLOUDFRONT, tls)) != ALLOW
    # CloudFront reads objects, nothing more; no one else is granted anything.
    for action, resource in (("s3:PutObject", page), ("s3:DeleteObject", page), ("s3:ListBucket", bucket)):
        assert decide(policy, Request(action, resource, CLOUDFRONT, ours)) != ALLOW, action
    for caller in (f"arn:aws:iam::{ACCOUNT}:role/uploader", "arn:aws:iam::999999999999:root"):
        assert decide(policy, Request("s3:GetObject", page, {"AWS": caller}, tls)) != ALLOW, caller
    assert decide(policy, Request("s3:GetObject", page, {}, tls)) != ALLOW


def test_cloudfront_signs_every_request_to_the_bucket_with_origin_access_control(stack):
    oac = only(stack.of_type("AWS::CloudFront::OriginAccessControl"), "origin access control")["Properties"]
    assert oac["OriginAccessControlConfig"] | {"Name": None, "Description": None} == {
        "Name": None,
        "Description": None,
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    config = stack.of_type("AWS::CloudFront::Distribution")["CoordinatorPageDistribution"]["Properties"]
    [origin] = config["DistributionConfig"]["Origins"]
    assert origin["DomainName"] == stack.get_att("CoordinatorPageBucket", "RegionalDomainName")
    assert origin["OriginAccessControlId"] == stack.ref("CoordinatorPageOriginAccess")
    # No legacy origin access identity besides it.
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


# --- the distribution and the page's headers ----------------------------------------------------------------------


def test_the_distribution_serves_the_page_over_https_only_with_its_headers_and_the_managed_cache_policy(stack):
    config = stack.of_type("AWS::CloudFront::Distribution")["CoordinatorPageDistribution"]["Properties"]
    config = config["DistributionConfig"]
    behaviour = config["DefaultCacheBehavior"]
    assert not config.get("CacheBehaviors")
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["ResponseHeadersPolicyId"] == stack.ref("CoordinatorPageHeaders")
    # Managed-CachingOptimized.
    assert behaviour["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert sorted(behaviour["AllowedMethods"]) == ["GET", "HEAD"]
    assert (config["DefaultRootObject"], config["HttpVersion"], config["Enabled"]) == ("index.html", "http2and3", True)
    assert config["Aliases"] == [GIVEN["PageDomainName"]]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": GIVEN["PageCertificateArn"],
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }


def test_the_csp_is_the_contracts_text_with_its_three_origins_bound_to_the_stacks(stack):
    raw = stack.resources["CoordinatorPageHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    sub = raw["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    # The shape the local page server reads: the text, and a map binding exactly these variables.
    text, variables = sub
    assert text == CSP
    assert sorted(variables) == ["ApiOrigin", "IdpOrigin", "UploadOrigin"]
    headers = stack.of_type("AWS::CloudFront::ResponseHeadersPolicy")["CoordinatorPageHeaders"]["Properties"]
    security = headers["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    imports = f"https://{stack.ref('ImportBucket')}.s3.{REGION}.amazonaws.com"
    idp = f"https://clinic.auth.{REGION}.amazoncognito.com"
    expected = CSP.replace("${ApiOrigin}", api_origin(stack)).replace("${UploadOrigin}", imports)
    assert security["ContentSecurityPolicy"] == {"ContentSecurityPolicy": expected.replace("${IdpOrigin}", idp), "Override": True}
    assert security["StrictTransportSecurity"] == {"AccessControlMaxAgeSec": 63072000, "IncludeSubdomains": True, "Override": True}
    assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}


def test_the_identity_providers_origin_in_the_csp_is_the_token_urls():
    stack = Stack(PageTokenUrl="https://login.example.org:8443/realms/clinic/protocol/openid-connect/token")
    headers = stack.of_type("AWS::CloudFront::ResponseHeadersPolicy")["CoordinatorPageHeaders"]["Properties"]
    csp = headers["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    connect = re.search(r"connect-src ([^;]*);", csp).group(1).split()
    assert connect[-1] == "https://login.example.org:8443"
    # Every origin the page may call is exact: no wildcard.
    assert not [source for source in connect if "*" in source]


# --- CORS: the page's origin alone --------------------------------------------------------------------------------


def test_the_api_answers_cors_for_the_pages_origin_alone(stack):
    api = stack.of_type("AWS::ApiGatewayV2::Api")["QuestionnaireApi"]["Properties"]
    assert api["CorsConfiguration"] == {
        "AllowOrigins": [PAGE_ORIGIN],
        "AllowHeaders": ["authorization", "content-type"],
        "AllowMethods": ["GET", "POST"],
        "MaxAge": 600,
    }


def test_the_import_bucket_takes_the_pages_uploads_and_report_reads_from_its_origin_alone(stack):
    bucket = stack.of_type("AWS::S3::Bucket")["ImportBucket"]["Properties"]
    [rule] = bucket["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [PAGE_ORIGIN]
    assert sorted(rule["AllowedMethods"]) == ["GET", "PUT"]
    assert sorted(rule["AllowedHeaders"]) == ["content-type", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"]
    assert rule["ExposedHeaders"] == ["ETag"]


def test_the_page_url_is_the_origin_cors_allows():
    outputs = Stack().template["Outputs"]
    assert Stack().resolve(outputs["CoordinatorPageUrl"]["Value"]) == PAGE_ORIGIN + "/"


# --- the publisher ------------------------------------------------------------------------------------------------


def test_the_published_configuration_is_the_pages_contract_from_the_stacks_values():
    stack = Stack(GroupsClaim="groups", StaffGroup="coordinators", SiteGroupPrefix="site-", UploadScope="edc/upload")
    page = only(stack.of_type("Custom::CoordinatorPage"), "page")["Properties"]
    function = stack.of_type("AWS::Lambda::Function")["PublishPageFunction"]
    assert page.pop("ServiceToken") == stack.arn("PublishPageFunction")
    # CloudFormation's wait for an answer: the function's first attempt and Lambda's two retries, not an hour.
    assert page.pop("ServiceTimeout") == "600"
    # Changes with every new version of the function (its code embeds the page): CloudFormation then sends an Update.
    version = page.pop("codeVersion")
    versions = stack.of_type("AWS::Lambda::Version")
    [version_id] = [v for v, r in versions.items() if r["Properties"]["FunctionName"] == stack.ref("PublishPageFunction")]
    assert version == stack.ref(version_id)
    assert function["Properties"]["Role"] == stack.arn("PublishPageRole")
    assert page == {
        "bucketName": stack.ref("CoordinatorPageBucket"),
        "apiUrl": api_origin(stack),
        "authorizeUrl": GIVEN["PageAuthorizeUrl"],
        "tokenUrl": GIVEN["PageTokenUrl"],
        "logoutUrl": GIVEN["PageLogoutUrl"],
        "clientId": GIVEN["PageClientId"],
        "scopes": "openid edc/upload imports/read",
        "groupsClaim": "groups",
        "sitePrefix": "site-",
        "staffGroup": "coordinators",
        "datasets": ["observations"],
    }


def test_the_publisher_touches_the_page_bucket_and_nothing_else(stack):
    role = stack.of_type("AWS::IAM::Role")["PublishPageRole"]
    policies = role_policies(role)
    principal = {"AWS": stack.arn("PublishPageRole")}

    def may(action, resource):
        return decide_all(policies, Request(action, resource, principal)) == ALLOW

    page = stack.arn("CoordinatorPageBucket")
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert may(action, f"{page}/index.html"), action
    for action in ("s3:ListBucket", "s3:ListBucketVersions"):
        assert may(action, page), action
    # Not the page's configuration of the bucket, nor a read of it.
    for action, resource in (
        ("s3:GetObject", f"{page}/config.json"),
        ("s3:PutBucketPolicy", page),
        ("s3:DeleteBucket", page),
        ("s3:PutBucketVersioning", page),
        ("s3:PutObjectAcl", f"{page}/index.html"),
    ):
        assert not may(action, resource), f"{action} on {resource}"
    # No other bucket (any object, any action it has on the page), no table, no key, no function.
    others = [logical_id for logical_id in stack.of_type("AWS::S3::Bucket") if logical_id != "CoordinatorPageBucket"]
    assert {"ImportBucket", "AuditTrailBucket", "ImportAccessLogBucket"} <= set(others)
    for logical_id in others:
        bucket = stack.arn(logical_id)
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject"):
            assert not may(action, f"{bucket}/imports/x.csv"), f"{action} on {logical_id}"
        assert not may("s3:ListBucket", bucket), logical_id
    for logical_id in stack.of_type("AWS::DynamoDB::Table"):
        assert not may("dynamodb:GetItem", stack.arn(logical_id)), logical_id
    if not stack.parameters["KmsKeyArn"]:
        assert not may("kms:Decrypt", stack.arn("DataKey"))
    assert not may("lambda:InvokeFunction", stack.arn("ImportCsvFunction"))


def test_the_publisher_logs_to_its_own_encrypted_group_and_is_invoked_by_no_one_else(stack):
    function = stack.of_type("AWS::Lambda::Function")["PublishPageFunction"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == stack.ref("PublishPageLogs")
    # CloudFormation invokes it with the deployer's permissions; no resource policy opens it to anyone.
    for permission in stack.of_type("AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] not in (stack.ref("PublishPageFunction"), stack.arn("PublishPageFunction"))
    policy = attached(stack, "AWS::S3::BucketPolicy", "Bucket", "CoordinatorPageBucket")
    plain = Request("s3:PutObject", f"{stack.arn('CoordinatorPageBucket')}/index.html", {"AWS": stack.arn("PublishPageRole")}, {"aws:SecureTransport": "false"})
    assert decide(policy, plain) == DENY
