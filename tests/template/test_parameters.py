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
