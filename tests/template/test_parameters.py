"""What the template's parameters accept: the identity provider has no default and no placeholder gets through."""

import re

import pytest
from cfn import GIVEN, Stack

PLACEHOLDER_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
PLACEHOLDER_AUDIENCE = "example-client-id"


@pytest.fixture(scope="module")
def parameters():
    return Stack().template["Parameters"]


def accepted(spec, value):
    """Whether CloudFormation takes `value` for the parameter: its AllowedPattern must match the whole value, or each
    value of a CommaDelimitedList."""
    values = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
    return all(re.fullmatch(spec["AllowedPattern"], v) for v in values)


def test_the_identity_provider_has_no_default_so_a_deployment_must_name_one(parameters):
    for name in ["JwtIssuer", "JwtAudience"]:
        assert "Default" not in parameters[name], f"{name} has a default: an API refusing every token deploys"


def test_an_issuer_must_be_an_https_url_and_an_audience_a_list_of_ids(parameters):
    issuer, audience = parameters["JwtIssuer"], parameters["JwtAudience"]
    assert accepted(issuer, "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbCdEf123")
    assert accepted(issuer, "https://clinic.eu.auth0.com/")
    for refused in ["", "http://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbCdEf123", "https://a b"]:
        assert not accepted(issuer, refused), refused
    assert accepted(audience, "4tq1kfa8c0example0client0id")
    assert accepted(audience, "4tq1kfa8c0example0client0id,staffportal0client0id00000")
    for refused in ["", "a,,b"]:
        assert not accepted(audience, refused), refused


def test_the_placeholders_that_were_once_defaults_are_refused():
    assert Stack().refused_by_rules() == []
    assert len(Stack(JwtIssuer=PLACEHOLDER_ISSUER).refused_by_rules()) == 1
    # (The page's client is kept among the audiences: only the placeholder rule is asked here.)
    assert len(Stack(JwtAudience=PLACEHOLDER_AUDIENCE, PageClientId=PLACEHOLDER_AUDIENCE).refused_by_rules()) == 1
    assert len(Stack(JwtAudience=f"{GIVEN['PageClientId']},{PLACEHOLDER_AUDIENCE}").refused_by_rules()) == 1


def test_the_pages_app_client_must_be_an_audience_of_the_api():
    assert Stack(JwtAudience="staffportal0client,pageclient0id", PageClientId="pageclient0id").refused_by_rules() == []
    [refused] = Stack(JwtAudience="staffportal0client", PageClientId="pageclient0id").refused_by_rules()
    assert "PageClientId" in refused


PAGE_PARAMETERS = [
    "PageDomainName",
    "PageCertificateArn",
    "PageAuthorizeUrl",
    "PageTokenUrl",
    "PageLogoutUrl",
    "PageClientId",
]


def test_the_pages_sign_in_and_domain_have_no_default_so_a_deployment_must_name_them(parameters):
    for name in PAGE_PARAMETERS:
        assert "Default" not in parameters[name], name
        assert Stack().template["Parameters"][name]["AllowedPattern"], name


def test_the_pages_identity_provider_urls_are_https_urls_with_a_host_and_a_path(parameters):
    for name in ["PageAuthorizeUrl", "PageTokenUrl", "PageLogoutUrl"]:
        spec = parameters[name]
        assert accepted(spec, "https://clinic.auth.eu-central-1.amazoncognito.com/oauth2/token"), name
        assert accepted(spec, "https://login.example.org:8443/realms/clinic/protocol/openid-connect/token"), name
        for refused in [
            "",
            "http://clinic.auth.eu-central-1.amazoncognito.com/oauth2/token",
            "https://clinic.auth.eu-central-1.amazoncognito.com",
            "https:///oauth2/token",
            "https://user@evil.example/oauth2/token",
            "https://a b/oauth2/token",
            "https://a/b,https://c/d",
        ]:
            assert not accepted(spec, refused), f"{name}: {refused!r}"
    client = parameters["PageClientId"]
    assert accepted(client, "4tq1kfa8c0example0client0id")
    for refused in ["", "a b", "a,b"]:
        assert not accepted(client, refused), refused


def test_the_page_domain_is_a_host_name_and_the_certificate_one_cloudfront_can_use(parameters):
    domain, certificate = parameters["PageDomainName"], parameters["PageCertificateArn"]
    for name in ["imports.clinic.example", "a.b-c.example.org", "x1.io"]:
        assert accepted(domain, name), name
    for name in ["", "https://imports.clinic.example", "imports.clinic.example/", "Imports.Clinic.Example", "localhost", "-a.example", "a..example"]:
        assert not accepted(domain, name), name
    assert accepted(certificate, "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    # CloudFront takes certificates from us-east-1 only.
    for arn in ["arn:aws:acm:eu-central-1:123456789012:certificate/0a1b2c3d", "arn:aws:iam::123456789012:server-certificate/x"]:
        assert not accepted(certificate, arn), arn


def in_range(spec, value):
    """Whether CloudFormation takes the number `value` for a Number parameter: within its MinValue and MaxValue."""
    return float(spec.get("MinValue", "-inf")) <= value <= float(spec.get("MaxValue", "inf"))


def test_pre_signed_urls_of_the_import_api_expire_within_their_bounds(parameters):
    # An upload URL lives at most 15 minutes, a report's download URL at most an hour; neither less than a minute.
    for name, default, low, high in (("UploadUrlSeconds", 900, 60, 900), ("ReportUrlSeconds", 300, 60, 3600)):
        spec = parameters[name]
        assert int(spec["Default"]) == default, name
        assert in_range(spec, low) and in_range(spec, high), name
        assert not in_range(spec, low - 1) and not in_range(spec, high + 1), name


def test_the_object_size_limit_is_one_the_importer_accepts(parameters):
    # shared/src/config.rs takes MAX_OBJECT_BYTES from 1 KiB to 5 TiB (10 GiB when unset).
    spec = parameters["MaxObjectBytes"]
    assert int(spec["Default"]) == 10 << 30
    assert in_range(spec, 1 << 10) and in_range(spec, 5 << 40)
    assert not in_range(spec, (1 << 10) - 1) and not in_range(spec, (5 << 40) + 1)


def test_an_import_scope_is_one_scope(parameters):
    for name in ["UploadScope", "ImportReadScope"]:
        assert accepted(parameters[name], parameters[name]["Default"]), name
        for refused in ["", "imports/read imports/upload", "imports/read,imports/upload x"]:
            assert not accepted(parameters[name], refused), f"{name}: {refused!r}"
