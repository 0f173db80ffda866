"""template.yaml as CloudFormation would receive and resolve it, for the policy tests: parsed and expanded by the SAM
translator that `sam deploy` uses (the roles, permissions and functions SAM writes are there to be checked too),
then resolved for chosen parameter values with made-up but well-formed physical names and ARNs.

Supported intrinsics: Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join, Fn::Split, Fn::Select, the condition functions and
the rules' Fn::Contains; any other is refused, so that a template using one fails its tests instead of being read
wrongly.
"""

import copy
import functools
import json
import uuid
from pathlib import Path

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
STACK, ACCOUNT, REGION, PARTITION = "clinic", "123456789012", "eu-central-1", "aws"
PSEUDO = {
    "AWS::StackName": STACK,
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()
# Values for the parameters that have no default (whoever deploys must give them): well-formed, not the placeholders
# the template's rules refuse.
GIVEN = {
    "JwtIssuer": f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_Tst4Pool1",
    "JwtAudience": "1example23456789012345678",
    "PageDomainName": "imports.clinic.example",
    "PageCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "PageAuthorizeUrl": f"https://clinic.auth.{REGION}.amazoncognito.com/oauth2/authorize",
    "PageTokenUrl": f"https://clinic.auth.{REGION}.amazoncognito.com/oauth2/token",
    "PageLogoutUrl": f"https://clinic.auth.{REGION}.amazoncognito.com/logout",
    "PageClientId": "1example23456789012345678",
}
# The property that names a resource, where the template may set one.
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
}


@functools.lru_cache(maxsize=None)
def _expanded():
    template = yaml_parse(TEMPLATE.read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # A local folder until `sam build` uploads it.
            resource["Properties"]["CodeUri"] = "s3://placeholder/code.zip"
    # What samtranslator's transform() does, with this region rather than the environment's.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return json.dumps(translator.translate(template, parameter_values={}, get_managed_policy_map=dict))


class Stack:
    """The expanded template for `parameters` (the rest at their defaults, or GIVEN)."""

    def __init__(self, **parameters):
        self.template = json.loads(_expanded())
        self.resources = self.template["Resources"]
        self.parameters = {}
        for name, spec in self.template.get("Parameters", {}).items():
            value = parameters.pop(name, spec.get("Default", GIVEN.get(name)))
            if value is None:
                raise KeyError(f"parameter {name} has no default; pass it")
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.parameters[name] = value if isinstance(value, list) else str(value)
        if parameters:
            raise KeyError(f"template.yaml has no parameters {sorted(parameters)}")
        self.conditions = {}
        for name in self.template.get("Conditions", {}):
            self.condition(name)

    # --- names -----------------------------------------------------------------------------------------------------

    def name(self, logical_id):
        """The resource's physical name: the one the template sets, else one in CloudFormation's style."""
        resource = self.resources[logical_id]
        prop = NAME_PROPERTY.get(resource["Type"])
        explicit = resource.get("Properties", {}).get(prop) if prop else None
        return self.resolve(explicit) if explicit is not None else f"{STACK}-{logical_id}-1A2B3C4D5E6F"

    def _id(self, logical_id):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{STACK}/{logical_id}"))

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources[name]["Type"]
        if kind == "AWS::SNS::Topic":
            return self.arn(name)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.name(name)}"
        if kind == "AWS::KMS::Key":
            return self._id(name)
        if kind.startswith("AWS::ApiGatewayV2::"):
            return self._id(name).replace("-", "")[:10]
        if kind.startswith("AWS::CloudFront::"):
            return "E" + self._id(name).replace("-", "")[:13].upper()
        if kind == "AWS::Lambda::Version":
            return f"{self.arn(self.resources[name]['Properties']['FunctionName']['Ref'])}:1"
        return self.name(name)

    def arn(self, logical_id):
        kind, name = self.resources[logical_id]["Type"], self.name(logical_id)
        arns = {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::SNS::Topic": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}",
            "AWS::KMS::Key": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{self._id(logical_id)}",
        }
        if kind not in arns:
            raise NotImplementedError(f"the ARN of a {kind} ({logical_id})")
        return arns[kind]

    def get_att(self, logical_id, attribute):
        if attribute == "Arn":
            return self.arn(logical_id)
        if (self.resources[logical_id]["Type"], attribute) == ("AWS::SQS::Queue", "QueueName"):
            return self.name(logical_id)
        if (self.resources[logical_id]["Type"], attribute) == ("AWS::DynamoDB::Table", "StreamArn"):
            return f"{self.arn(logical_id)}/stream/2026-01-01T00:00:00.000"
        if (self.resources[logical_id]["Type"], attribute) == ("AWS::Lambda::Version", "Version"):
            return "1"
        if (self.resources[logical_id]["Type"], attribute) == ("AWS::S3::Bucket", "RegionalDomainName"):
            return f"{self.name(logical_id)}.s3.{REGION}.amazonaws.com"
        if (self.resources[logical_id]["Type"], attribute) == ("AWS::CloudFront::OriginAccessControl", "Id"):
            return self.ref(logical_id)
        if (self.resources[logical_id]["Type"], attribute) == ("AWS::CloudFront::Distribution", "DomainName"):
            return f"d{self.ref(logical_id).lower()[1:]}.cloudfront.net"
        raise NotImplementedError(f"!GetAtt {logical_id}.{attribute}")

    # --- intrinsics ------------------------------------------------------------------------------------------------

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.resolve(self.template["Conditions"][name])
            if not isinstance(self.conditions[name], bool):
                raise ValueError(f"condition {name} is not a boolean")
        return self.conditions[name]

    def refused_by_rules(self):
        """The AssertDescription of every assertion of the template's Rules that these parameters break (those whose
        RuleCondition holds): CloudFormation then creates and updates nothing."""
        refused = []
        for rule in (self.template.get("Rules") or {}).values():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            refused += [a.get("AssertDescription", "") for a in rule["Assertions"] if not self.resolve(a["Assert"])]
        return refused

    def resolve(self, value):
        """`value` with every intrinsic function evaluated (AWS::NoValue removed)."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg)
        items = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not NO_VALUE}

    def _function(self, key, arg):
        if key == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(logical_id, attribute)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

            def substitute(name):
                if name in variables:
                    return variables[name]
                if "." in name:
                    return self.get_att(*name.split(".", 1))
                return self.ref(name)

            out, rest = "", text
            while "${" in rest:
                before, _, after = rest.partition("${")
                name, _, rest = after.partition("}")
                out += before + (("${" + name[1:] + "}") if name.startswith("!") else str(substitute(name)))
            return out + rest
        if key == "Fn::If":
            name, then, otherwise = arg
            return self.resolve(then if self.condition(name) else otherwise)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(str(i) for i in self.resolve(items))
        if key == "Fn::Split":
            separator, text = arg
            return self.resolve(text).split(separator)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Equals":
            left, right = self.resolve(arg)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(arg)[0]
        if key == "Fn::And":
            return all(self.resolve(arg))
        if key == "Fn::Or":
            return any(self.resolve(arg))
        if key == "Fn::Contains":
            values, item = self.resolve(arg)
            return item in values
        raise NotImplementedError(key)

    # --- resources -------------------------------------------------------------------------------------------------

    def of_type(self, kind):
        """Logical id -> resolved resource, for the resources of `kind` that this stack's conditions create."""
        found = {}
        for logical_id, resource in self.resources.items():
            if resource["Type"] != kind or ("Condition" in resource and not self.condition(resource["Condition"])):
                continue
            found[logical_id] = self.resolve(copy.deepcopy(resource))
        return found

    def logical_id_of(self, reference, kind):
        """The logical id of the `kind` resource a resolved reference (a name, an ARN or a URL) stands for (names
        are unique per kind only: a function and its role may share one)."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] == kind and reference in (self.ref(logical_id), self._arn_or_none(logical_id)):
                return logical_id
        raise KeyError(f"no {kind} is {reference!r}")

    def _arn_or_none(self, logical_id):
        try:
            return self.arn(logical_id)
        except NotImplementedError:
            return None
