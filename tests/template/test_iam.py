"""The evaluator the template's policy tests rely on, against the rules of IAM's documentation it implements."""

import pytest
from iam import ALLOW, DENY, IMPLICIT_DENY, Request, Unsupported, decide

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/uploader"
BUCKET = "arn:aws:s3:::bucket"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**extra):
    return {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": f"{BUCKET}/*", **extra}


def deny(**extra):
    return {**allow(**extra), "Effect": "Deny"}


def get(context=None, principal=ROLE, action="s3:GetObject", resource=f"{BUCKET}/key"):
    return Request(action, resource, {"AWS": principal} if principal else {}, context or {})


def when(operator, key, values):
    """A statement that allows exactly when its one condition holds."""
    return policy(allow(Condition={operator: {key: values}}))


def holds(operator, key, values, context):
    return decide(when(operator, key, values), get(context)) == ALLOW


def test_nothing_is_allowed_without_an_allow():
    assert decide(policy(), get()) == IMPLICIT_DENY
    assert decide(policy(allow(Action="s3:PutObject")), get()) == IMPLICIT_DENY


def test_an_explicit_deny_wins_over_an_allow_in_either_order():
    assert decide(policy(allow()), get()) == ALLOW
    assert decide(policy(allow(), deny()), get()) == DENY
    assert decide(policy(deny(), allow()), get()) == DENY


def test_actions_match_case_insensitively_with_wildcards():
    for pattern in ("s3:GetObject", "S3:getobject", "s3:*", "s3:Get*", "s3:GetObjec?", "*"):
        assert decide(policy(allow(Action=pattern)), get()) == ALLOW, pattern
    for pattern in ("s3:GetObjectVersion", "s3:Get", "s3:GetObjec", "s3:?etObjects", "kms:*"):
        assert decide(policy(allow(Action=pattern)), get()) == IMPLICIT_DENY, pattern
    assert decide(policy(allow(Action=["kms:Decrypt", "s3:GetObject"])), get()) == ALLOW


def test_resources_match_case_sensitively_with_wildcards():
    assert decide(policy(allow(Resource="*")), get()) == ALLOW
    assert decide(policy(allow(Resource=[BUCKET, f"{BUCKET}/k?y"])), get()) == ALLOW
    assert decide(policy(allow(Resource=f"{BUCKET}/KEY")), get()) == IMPLICIT_DENY
    # A bucket's ARN is not its objects', and the reverse.
    assert decide(policy(allow(Resource=BUCKET)), get()) == IMPLICIT_DENY
    assert decide(policy(allow()), get(resource=BUCKET)) == IMPLICIT_DENY
    # Nothing but * and ? is a wildcard.
    assert decide(policy(allow(Resource="arn:aws:s3:::[b]ucket/key")), get()) == IMPLICIT_DENY


def test_not_action_and_not_resource_apply_to_everything_else():
    statement = {k: v for k, v in deny().items() if k != "Action"}
    assert decide(policy(allow(), {**statement, "NotAction": "s3:Get*"}), get()) == ALLOW
    assert decide(policy(allow(), {**statement, "NotAction": "s3:Put*"}), get()) == DENY
    statement = {k: v for k, v in deny().items() if k != "Resource"}
    assert decide(policy(allow(), {**statement, "NotResource": f"{BUCKET}/key"}), get()) == ALLOW


def test_principals_anyone_an_account_a_role_or_a_service():
    other = "arn:aws:iam::999999999999:role/uploader"
    assert decide(policy(allow(Principal="*")), get(principal=None)) == ALLOW
    assert decide(policy(allow(Principal={"AWS": "*"})), get(principal=other)) == ALLOW
    # The account (root or bare id) stands for all of its principals, the root user included; no other account's.
    for account in (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT):
        session = f"arn:aws:sts::{ACCOUNT}:assumed-role/uploader/session"
        for principal in (ROLE, session, f"arn:aws:iam::{ACCOUNT}:root"):
            assert decide(policy(allow(Principal={"AWS": account})), get(principal=principal)) == ALLOW
        assert decide(policy(allow(Principal={"AWS": account})), get(principal=other)) == IMPLICIT_DENY
        assert decide(policy(allow(Principal={"AWS": account})), get(principal=None)) == IMPLICIT_DENY
    # A role is that role only.
    assert decide(policy(allow(Principal={"AWS": [other, ROLE]})), get()) == ALLOW
    assert decide(policy(allow(Principal={"AWS": f"{ROLE}s"})), get()) == IMPLICIT_DENY
    # A service is that service only, and not an account's principal.
    service = Request("sns:Publish", "t", {"Service": "cloudwatch.amazonaws.com"})
    topic = {"Effect": "Allow", "Action": "sns:Publish", "Resource": "t"}
    assert decide(policy({**topic, "Principal": {"Service": "cloudwatch.amazonaws.com"}}), service) == ALLOW
    assert decide(policy({**topic, "Principal": {"Service": "events.amazonaws.com"}}), service) == IMPLICIT_DENY
    assert decide(policy({**topic, "Principal": {"AWS": ACCOUNT}}), service) == IMPLICIT_DENY
    # Without Principal (an identity policy) the statement applies to whoever holds it.
    assert decide(policy({k: v for k, v in allow().items() if k != "Principal"}), get()) == ALLOW


def test_string_operators():
    key = "s3:x-amz-server-side-encryption"
    assert holds("StringEquals", key, "aws:kms", {key: "aws:kms"})
    assert not holds("StringEquals", key, "aws:kms", {key: "AWS:KMS"})
    assert holds("StringEqualsIgnoreCase", key, "aws:kms", {key: "AWS:KMS"})
    assert not holds("StringNotEqualsIgnoreCase", key, "aws:kms", {key: "AWS:KMS"})
    assert holds("StringNotEquals", key, "aws:kms", {key: "AES256"})
    assert not holds("StringNotEquals", key, "aws:kms", {key: "aws:kms"})
    assert holds("StringLike", key, "aws:*", {key: "aws:kms:dsse"})
    assert not holds("StringLike", key, "aws:kms", {key: "aws:kms:dsse"})
    assert holds("StringNotLike", key, "aws:kms", {key: "aws:kms:dsse"})
    assert not holds("StringNotLike", key, "aws:k?s*", {key: "aws:kms:dsse"})


def test_several_values_of_a_key_match_if_any_does_and_a_negated_operator_if_none_does():
    key = "s3:x-amz-server-side-encryption"
    assert holds("StringEquals", key, ["AES256", "aws:kms"], {key: "aws:kms"})
    assert not holds("StringEquals", key, ["AES256", "aws:kms"], {key: "aws:kms:dsse"})
    assert holds("StringNotEquals", key, ["AES256", "aws:kms"], {key: "aws:kms:dsse"})
    assert not holds("StringNotEquals", key, ["AES256", "aws:kms"], {key: "aws:kms"})


def test_operators_and_keys_must_all_hold():
    statement = allow(Condition={"StringEquals": {"a": "1", "b": "2"}, "Bool": {"aws:SecureTransport": "true"}})
    assert decide(policy(statement), get({"a": "1", "b": "2", "aws:SecureTransport": "true"})) == ALLOW
    assert decide(policy(statement), get({"a": "1", "b": "3", "aws:SecureTransport": "true"})) == IMPLICIT_DENY
    assert decide(policy(statement), get({"a": "1", "b": "2", "aws:SecureTransport": "false"})) == IMPLICIT_DENY


def test_condition_key_names_are_case_insensitive_and_values_are_not():
    assert holds("StringEquals", "AWS:SourceAccount", ACCOUNT, {"aws:sourceaccount": ACCOUNT})
    assert not holds("StringEquals", "aws:SourceArn", "arn:aws:s3:::b", {"aws:SourceArn": "arn:aws:s3:::B"})


def test_arn_operators_match_each_part_with_wildcards():
    key = "aws:PrincipalArn"
    for operator in ("ArnEquals", "ArnLike"):
        assert holds(operator, key, ROLE, {key: ROLE})
        assert holds(operator, key, f"arn:aws:iam::{ACCOUNT}:role/upl*", {key: ROLE})
        assert holds(operator, key, "arn:aws:iam::*:role/uploader", {key: ROLE})
        assert not holds(operator, key, f"arn:aws:iam::{ACCOUNT}:role/other", {key: ROLE})
        assert not holds(operator, key, f"arn:aws:iam::{ACCOUNT}:role/uploader", {key: f"{ROLE}-2"})
        # Not an ARN at all: no match; and a wildcard stays within its part.
        assert not holds(operator, key, "*", {key: "uploader"})
        assert not holds(operator, key, "arn:*:role/uploader", {key: ROLE})
        odd = f"arn:aws:iam::{ACCOUNT}:x:role/uploader"
        assert not holds(operator, key, "arn:aws:iam::*:role/uploader", {key: odd})
    assert holds("ArnNotLike", key, f"arn:aws:iam::{ACCOUNT}:role/other*", {key: ROLE})
    assert not holds("ArnNotEquals", key, ROLE, {key: ROLE})


def test_bool_compares_truth_values_whatever_their_spelling():
    key = "aws:SecureTransport"
    assert holds("Bool", key, "false", {key: "false"})
    assert holds("Bool", key, False, {key: "FALSE"})
    assert holds("Bool", key, "true", {key: True})
    assert not holds("Bool", key, "false", {key: "true"})
    with pytest.raises(Unsupported):
        holds("Bool", key, "maybe", {key: "true"})


def test_a_missing_key_fails_positive_operators_and_satisfies_negated_ones():
    for operator in ("StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool", "StringEqualsIgnoreCase"):
        assert not holds(operator, "k", "true", {}), operator
    for operator in ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike", "StringNotEqualsIgnoreCase"):
        assert holds(operator, "k", "v", {}), operator


def test_if_exists_operators_hold_for_a_missing_key_and_decide_a_present_one():
    for operator in ("StringEqualsIfExists", "StringNotEqualsIfExists", "ArnLikeIfExists", "BoolIfExists"):
        assert holds(operator, "k", "true", {}), operator
    assert holds("StringEqualsIfExists", "k", "v", {"k": "v"})
    assert not holds("StringEqualsIfExists", "k", "v", {"k": "w"})
    assert holds("StringNotEqualsIfExists", "k", "v", {"k": "w"})
    assert not holds("StringNotEqualsIfExists", "k", "v", {"k": "v"})
    assert not holds("BoolIfExists", "aws:SecureTransport", "false", {"aws:SecureTransport": "true"})


def test_null_tests_whether_the_key_is_present():
    assert holds("Null", "k", "true", {})
    assert not holds("Null", "k", "true", {"k": "v"})
    assert holds("Null", "k", "false", {"k": ""})
    assert not holds("Null", "k", False, {})


def test_what_it_does_not_decide_is_refused_rather_than_guessed():
    refused = [
        policy(allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}})),
        policy(allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}})),
        policy(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
        policy(allow(Condition={None: {"k": "true"}})),  # an unquoted YAML `Null:` key
        policy(allow(Condition={"StringEquals": {"aws:username": "${aws:username}"}})),
        policy({**allow(), "NotPrincipal": {"AWS": ROLE}}),
        policy({**allow(), "Principal": {"Federated": "cognito-identity.amazonaws.com"}}),
        policy({**allow(), "Effect": "allow"}),
        policy({**allow(), "Actions": "s3:*"}),
    ]
    for document in refused:
        with pytest.raises(Unsupported):
            decide(document, get({"k": "v"}))
    with pytest.raises(Unsupported):
        decide(when("StringEquals", "aws:TagKeys", "a"), get({"aws:TagKeys": ["a", "b"]}))
