"""Decides IAM requests against the policies template.yaml writes, so that its tests can say what a policy does
("an upload asking for SSE-S3 is denied") rather than what it contains.

The semantics are AWS's (IAM User Guide: "Policy evaluation logic", "IAM JSON policy elements: Condition operators"):

- An explicit Deny in any matching statement wins; otherwise a matching Allow allows; otherwise the request is
  implicitly denied. One policy is decided at a time; what another (an identity policy) adds is the caller's to
  combine.
- Action: case-insensitive, with the wildcards `*` and `?`. Resource: the same, but case-sensitive.
- Principal: `"*"` is anyone; `{"AWS": "arn:…:iam::ACCOUNT:root"}` (or the bare account id) is any principal of that
  account, which IAM policies then have to allow too; `{"AWS": ARN}` is that principal; `{"Service": NAME}` is that
  service. A statement without Principal (an identity policy) applies to whoever holds the policy.
- Condition: operators, and the keys under one operator, must all hold; of a key's several values one must match
  (for a negated operator: none may). A key missing from the request fails a positive operator, satisfies a negated
  one (`StringNotEquals` is true for a request without the key), satisfies every `...IfExists` operator, and is what
  `Null` tests for. Condition key names are case-insensitive.

What the template does not use is refused (NotPrincipal, set operators such as ForAnyValue:, numeric, date and
address operators, policy variables, multi-valued request keys): a policy that leaves this subset makes its test
fail loudly instead of being decided wrongly.
"""

import re
from dataclasses import dataclass, field

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"

STATEMENT_ELEMENTS = {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition"}


class Unsupported(Exception):
    """A policy element or operator outside what this evaluator decides."""


@dataclass
class Request:
    action: str
    resource: str
    # {"AWS": ARN}, {"Service": NAME}, or {} for an anonymous caller.
    principal: dict = field(default_factory=dict)
    # Condition keys of the request: name -> text (booleans as "true"/"false").
    context: dict = field(default_factory=dict)


def decide(policy, request):
    """ALLOW, DENY (an explicit Deny) or IMPLICIT_DENY for `request` under one policy document."""
    statements = policy["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    allowed = False
    for statement in statements:
        if not _applies(statement, request):
            continue
        effect = statement["Effect"]
        if effect == "Deny":
            return DENY
        if effect != "Allow":
            raise Unsupported(f"Effect {effect!r}")
        allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def _applies(statement, request):
    unknown = set(statement) - STATEMENT_ELEMENTS
    if unknown:
        raise Unsupported(f"statement elements {sorted(unknown)}")
    return (
        _principal_matches(statement, request.principal)
        and _matches_element(statement, "Action", request.action, case_sensitive=False)
        and _matches_element(statement, "Resource", request.resource, case_sensitive=True)
        and all(_operator_holds(op, keys, request.context) for op, keys in statement.get("Condition", {}).items())
    )


def _values(value):
    return value if isinstance(value, list) else [value]


def _glob(pattern, text, case_sensitive):
    """IAM's wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, 0 if case_sensitive else re.IGNORECASE) is not None


def _matches_element(statement, name, value, case_sensitive):
    if name in statement and "Not" + name in statement:
        raise Unsupported(f"{name} and Not{name} in one statement")
    if name in statement:
        return any(_glob(p, value, case_sensitive) for p in _values(statement[name]))
    if "Not" + name in statement:
        return not any(_glob(p, value, case_sensitive) for p in _values(statement["Not" + name]))
    raise Unsupported(f"a statement without {name} or Not{name}")


def _account_of(arn):
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else None


def _principal_matches(statement, principal):
    if "NotPrincipal" in statement:
        raise Unsupported("NotPrincipal")
    if "Principal" not in statement:
        return True
    named = statement["Principal"]
    if named == "*":
        return True
    if not isinstance(named, dict):
        raise Unsupported(f"Principal {named!r}")
    for kind, values in named.items():
        if kind not in ("AWS", "Service"):
            raise Unsupported(f"Principal type {kind}")
        asked = principal.get(kind)
        for value in _values(values):
            if value == "*" and kind == "AWS":
                return True
            if asked is None:
                continue
            if kind == "Service" and value == asked:
                return True
            if kind == "AWS":
                root = re.fullmatch(r"arn:[^:]+:iam::([0-9]{12}):root", value)
                account = root.group(1) if root else value if re.fullmatch(r"[0-9]{12}", value) else None
                if value == asked or (account is not None and _account_of(asked) == account):
                    return True
    return False


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Unsupported(f"condition value {value!r}")


def _bool(value):
    text = _text(value).lower()
    if text not in ("true", "false"):
        raise Unsupported(f"boolean condition value {value!r}")
    return text


def _arn_like(pattern, arn):
    """ArnEquals and ArnLike alike: each of the six colon-separated parts matched on its own, wildcards allowed."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(_glob(p, a, case_sensitive=True) for p, a in zip(pattern_parts, arn_parts))


# operator -> (does the request's value match one policy value, is the operator negated)
OPERATORS = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.casefold() == p.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.casefold() == p.casefold(), True),
    "StringLike": (lambda v, p: _glob(p, v, case_sensitive=True), False),
    "StringNotLike": (lambda v, p: _glob(p, v, case_sensitive=True), True),
    "ArnEquals": (lambda v, p: _arn_like(p, v), False),
    "ArnLike": (lambda v, p: _arn_like(p, v), False),
    "ArnNotEquals": (lambda v, p: _arn_like(p, v), True),
    "ArnNotLike": (lambda v, p: _arn_like(p, v), True),
    "Bool": (lambda v, p: _bool(v) == _bool(p), False),
}


def _lookup(context, key):
    for name, value in context.items():
        if name.lower() == key.lower():
            return value
    return None


def _operator_holds(operator, keys, context):
    if not isinstance(operator, str) or ":" in operator:
        raise Unsupported(f"condition operator {operator!r}")
    for key, policy_values in keys.items():
        policy_values = [_text(v) for v in _values(policy_values)]
        if any("${" in v for v in policy_values):
            raise Unsupported(f"policy variables ({key})")
        value = _lookup(context, key)
        if isinstance(value, (list, tuple, set)):
            raise Unsupported(f"multi-valued request key {key}")
        if operator == "Null":
            if len(policy_values) != 1:
                raise Unsupported("Null with several values")
            if (value is None) != (_bool(policy_values[0]) == "true"):
                return False
            continue
        base = operator.removesuffix("IfExists")
        if base not in OPERATORS:
            raise Unsupported(f"condition operator {operator}")
        matches, negated = OPERATORS[base]
        if value is None:
            holds = base != operator or negated
        else:
            found = any(matches(_text(value), p) for p in policy_values)
            holds = not found if negated else found
        if not holds:
            return False
    return True
