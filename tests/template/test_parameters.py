"""What the template's parameters accept: the identity provider has no default and no placeholder gets through."""

import re

import pytest
from cfn import Stack

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
    assert len(Stack(JwtAudience=PLACEHOLDER_AUDIENCE).refused_by_rules()) == 1
    assert len(Stack(JwtAudience=f"4tq1kfa8c0example0client0id,{PLACEHOLDER_AUDIENCE}").refused_by_rules()) == 1


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
