"""Creates the tables and buckets of template.yaml on a local AWS API (moto) and prints the functions' environment.

template.yaml is the one definition of the resources: this reads it, so local set-up never repeats a key schema.
CloudFormation property names match the DynamoDB and S3 API parameters, so the properties are passed through.

    python local_stack.py provision ENV_FILE [RESOURCES_FILE]
        # create everything; write the functions' variables (and RESOURCE_<LogicalId>=<name> lines)
    python local_stack.py show-item TABLE KEY=VALUE   # print one item as JSON
    python local_stack.py show-object BUCKET KEY      # print one object
    python local_stack.py as-sent EVENT OUT           # upload what an import event names; write it as S3 sends it
    python local_stack.py upload-as-sent FILE KEY OUT # upload FILE under KEY of the import bucket; write its event
    python local_stack.py show-job TABLE IMPORT_ID    # print an import-job record as JSON, its secrets left out
    python local_stack.py count-items TABLE NAME=VALUE...  # how many items have these string attributes
    python local_stack.py bucket-name LOGICAL_ID      # the local name of a bucket of the template
    python local_stack.py api-routes FILE [PAGE_ORIGIN]
        # the HTTP API's id, routes, scopes, JWT issuer and CORS configuration (the local gateway); the page's
        # distribution in its allowed origins stands for PAGE_ORIGIN, the local page server's
    python local_stack.py page-config FILE API_URL UPLOAD_ORIGIN IDP_URL
        # the coordinator page's security headers (the template's response headers policy, its CSP naming the local
        # origins) and its /config.json (the local page server and identity-provider stand-in)
"""

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus, unquote

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
PSEUDO = {
    "AWS::StackName": "local",
    "AWS::AccountId": "123456789012",
    "AWS::Region": os.environ.get("AWS_REGION", "us-east-1"),
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
# Values for the template's parameters that have no default (a deployment must name its identity provider): the
# local HTTP API's authorizer takes them, and the tokens `local-gateway mint` makes carry them.
LOCAL_PARAMETERS = {
    "JwtIssuer": "https://identity.local.invalid/clinical-ingest",
    "JwtAudience": "local-app-client",
    "PageClientId": "local-app-client",
}
# The template parameter naming the coordinator page's host: where the template allows `https://${PageDomainName}`
# (the API's CORS), the local page's origin is allowed.
PAGE_DOMAIN = "PageDomainName"
# The custom resource that publishes the page with its /config.json: the local page server's config.json is built
# from its properties, with the local endpoints in place of the deployed ones.
PAGE_RESOURCE = "CoordinatorPage"
PAGE_ENDPOINTS = {"apiUrl", "authorizeUrl", "tokenUrl", "logoutUrl"}
# Table properties that the CreateTable API does not take (they are separate calls or AWS-only features). The rest,
# GlobalSecondaryIndexes included, are CreateTable's parameters as they are.
TABLE_SKIP = {"TimeToLiveSpecification", "PointInTimeRecoverySpecification", "SSESpecification", "Tags"}


class Tag:
    def __init__(self, name, value):
        self.name, self.value = name, value


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tag(suffix, value)


CfnLoader.add_multi_constructor("!", _tag)


def load_template():
    with open(ROOT / "template.yaml") as f:
        return yaml.load(f, Loader=CfnLoader)


class Resolver:
    def __init__(self, template):
        self.template = template
        self.resources = template.get("Resources", {})
        self.params = {k: v.get("Default", LOCAL_PARAMETERS.get(k)) for k, v in template.get("Parameters", {}).items()}

    def physical_name(self, logical_id):
        res = self.resources[logical_id]
        props = res.get("Properties", {})
        explicit = props.get("TableName") or props.get("BucketName")
        if explicit is not None:
            return self.value(explicit)
        # Without an explicit name CloudFormation generates one; locally a lower-case logical id is enough. An API's
        # id is its logical id: the gateway's events and the function's API_ID agree on it.
        return logical_id.lower() if res["Type"] == "AWS::S3::Bucket" else logical_id

    def resolved(self, node):
        """A property tree with its intrinsics resolved; numbers as numbers (the S3 API wants them so)."""
        if isinstance(node, dict):
            return {k: self.resolved(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolved(v) for v in node]
        if isinstance(node, Tag):
            return _resolved_numbers(self.value(node))
        return node

    def value(self, v):
        if isinstance(v, Tag):
            if v.name == "Ref":
                if v.value in self.resources:
                    return self.physical_name(v.value)
                if v.value in PSEUDO:
                    return PSEUDO[v.value]
                if self.params[v.value] is None:
                    raise SystemExit(f"template.yaml: parameter {v.value} has no default; give it in LOCAL_PARAMETERS")
                return str(self.params[v.value])
            if v.name == "Sub":
                text = v.value if isinstance(v.value, str) else v.value[0]
                for name in set(_sub_names(text)):
                    text = text.replace("${" + name + "}", self.value(Tag("Ref", name)))
                return text
            raise SystemExit(f"template.yaml: !{v.name} is not supported for local set-up")
        return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def _resolved_numbers(value):
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _sub_names(text):
    import re

    return re.findall(r"\$\{([A-Za-z0-9:]+)\}", text)


def provision(env_file, resources_file=None):
    template = load_template()
    r = Resolver(template)
    dynamodb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    for logical_id, res in r.resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::DynamoDB::Table":
            name = r.physical_name(logical_id)
            args = {k: v for k, v in props.items() if k not in TABLE_SKIP}
            args["TableName"] = name
            # CloudFormation's StreamSpecification names only the view type; the CreateTable API also needs it enabled.
            if "StreamSpecification" in args:
                args["StreamSpecification"] = {"StreamEnabled": True, **args["StreamSpecification"]}
            if name not in dynamodb.list_tables()["TableNames"]:
                dynamodb.create_table(**args)
                dynamodb.get_waiter("table_exists").wait(TableName=name)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            print(f"table  {name}  ({logical_id})")
        elif res["Type"] == "AWS::S3::Bucket":
            name = r.physical_name(logical_id)
            # Object Lock can only be turned on when a bucket is created (and turns on versioning).
            lock = props.get("ObjectLockConfiguration")
            if name not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
                s3.create_bucket(Bucket=name, **({"ObjectLockEnabledForBucket": True} if lock else {}))
            versioning = props.get("VersioningConfiguration")
            if versioning:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
            if lock:
                s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=r.resolved(lock))
            print(f"bucket {name}  ({logical_id})")

    if resources_file:
        names = {
            f"RESOURCE_{logical_id}": r.physical_name(logical_id)
            for logical_id, res in r.resources.items()
            if res["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket")
        }
        Path(resources_file).write_text("".join(f"{k}={v}\n" for k, v in sorted(names.items())))

    env = {}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    env.update({k: r.value(v) for k, v in globals_env.items()})
    # One file for every function (cargo lambda watch takes one): a variable the functions set to different values
    # (POWERTOOLS_SERVICE_NAME) is left out, and each function falls back to its own default.
    differing = set()
    for res in r.resources.values():
        if res["Type"] == "AWS::Serverless::Function":
            variables = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
            for k, v in variables.items():
                value = r.value(v)
                if env.get(k, value) != value:
                    differing.add(k)
                env[k] = value
    for k in differing:
        del env[k]
    Path(env_file).write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))


def show_item(table, key_arg):
    name, value = key_arg.split("=", 1)
    item = boto3.client("dynamodb").get_item(TableName=table, Key={name: {"S": value}}, ConsistentRead=True)
    print(json.dumps(item.get("Item"), indent=2, sort_keys=True))


def as_sent(event_file, out_file):
    """Uploads each object an import event of events/ names (a record under imports/, or a continuation) from
    events/data/<file name>, and writes a copy of the event carrying the new version's id, ETag, size and a fresh
    sequencer, as S3 would send it: the function reads exactly the version an event names, and the events in the
    repository hold placeholders."""
    event_path, out_path = Path(event_file), Path(out_file)
    event = json.loads(event_path.read_text())
    s3 = boto3.client("s3")
    uploaded = {}

    def put(bucket, key):
        if (bucket, key) not in uploaded:
            data = event_path.parent / "data" / key.rsplit("/", 1)[-1]
            if not data.is_file():
                raise SystemExit(f"{event_path.name} names s3://{bucket}/{key}; no {data} to upload")
            uploaded[(bucket, key)] = _upload(s3, data, bucket, key)
        return uploaded[(bucket, key)]

    for record in event.get("Records", []):
        if "s3" not in record:
            continue  # a stream record names no object
        bucket, obj = record["s3"]["bucket"]["name"], record["s3"]["object"]
        key = unquote(obj["key"].replace("+", " "))
        if key.startswith("imports/") and key.endswith(".csv"):
            _name_version(obj, *put(bucket, key))
    out_path.write_text(json.dumps(event, indent=2) + "\n")


def upload_as_sent(data_file, key, out_file):
    """Uploads DATA_FILE under KEY of the import bucket and writes the S3 event for it, as S3 sends it: the single
    record of events/s3-put-observations.json with KEY in S3's form encoding and the new version's id, ETag, size and
    a fresh sequencer."""
    data, event = Path(data_file), json.loads((ROOT / "events" / "s3-put-observations.json").read_text())
    bucket = Resolver(load_template()).physical_name("ImportBucket")
    uploaded = _upload(boto3.client("s3"), data, bucket, key)
    [record] = event["Records"]
    record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    obj = record["s3"]["object"]
    obj["key"] = quote_plus(key, safe="/")
    _name_version(obj, *uploaded)
    Path(out_file).write_text(json.dumps(event, indent=2) + "\n")


def _upload(s3, data, bucket, key):
    """Puts the file DATA under KEY; the new version's ETag, version id (None when unversioned) and size."""
    answer = s3.put_object(Bucket=bucket, Key=key, Body=data.read_bytes())
    print(f"uploaded {data} to s3://{bucket}/{key}", file=sys.stderr)
    return answer["ETag"].strip('"'), answer.get("VersionId"), data.stat().st_size


def _name_version(obj, etag, version, size):
    """Makes an event's object name the uploaded version, as S3 sends it, with a fresh sequencer."""
    obj.update(eTag=etag, size=size, sequencer=f"{time.time_ns():020X}")
    if version:
        obj["versionId"] = version


# What only the job record keeps and nothing may show: the secret its questionnaire ids derive from, the lease's owner
# and the token the next continuation must carry (shared/src/import/ports/dynamodb/jobs.rs).
JOB_SECRETS = ("idSecret", "leaseOwner", "continuation")


def show_job(table, import_id):
    from boto3.dynamodb.types import TypeDeserializer

    item = boto3.client("dynamodb").get_item(TableName=table, Key={"importId": {"S": import_id}}, ConsistentRead=True)
    if "Item" not in item:
        raise SystemExit(f"no job {import_id} in {table}")
    plain = {name: TypeDeserializer().deserialize(value) for name, value in item["Item"].items()}
    for name in JOB_SECRETS:
        if name in plain:
            plain[name] = "(present, not shown)"
    print(json.dumps(plain, indent=2, sort_keys=True, default=_number))


def count_items(table, *conditions):
    names, values, clauses = {}, {}, []
    for i, condition in enumerate(conditions):
        name, value = condition.split("=", 1)
        names[f"#a{i}"], values[f":v{i}"] = name, {"S": value}
        clauses.append(f"#a{i} = :v{i}")
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(
        TableName=table,
        Select="COUNT",
        FilterExpression=" AND ".join(clauses),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
    )
    print(sum(page["Count"] for page in pages))


def _number(value):
    """DynamoDB numbers arrive as Decimal."""
    return int(value) if value == int(value) else float(value)


def bucket_name(logical_id):
    print(Resolver(load_template()).physical_name(logical_id))


def api_routes(out_file, page_origin=None):
    """The HTTP API as the template defines it: its id (as the function's API_ID gets it), every route with the
    scopes its JWT authorizer asks for and the function its integration invokes, the authorizer's issuer and
    audiences, and its CORS configuration. The local gateway (tests/src/gateway.rs) serves exactly this."""
    template = load_template()
    r = Resolver(template)

    def of_type(kind):
        return {k: v for k, v in r.resources.items() if v["Type"] == kind}

    def ref(value, what):
        if not (isinstance(value, Tag) and value.name == "Ref" and value.value in r.resources):
            raise SystemExit(f"template.yaml: {what} must be a !Ref of a resource")
        return value.value

    apis = of_type("AWS::ApiGatewayV2::Api")
    if len(apis) != 1 or next(iter(apis.values()))["Properties"].get("ProtocolType") != "HTTP":
        raise SystemExit(f"template.yaml: expected one HTTP API (AWS::ApiGatewayV2::Api), found {len(apis)}")
    api_id = next(iter(apis))
    authorizers = {
        k: v["Properties"]
        for k, v in of_type("AWS::ApiGatewayV2::Authorizer").items()
        if ref(v["Properties"]["ApiId"], f"{k}.ApiId") == api_id
    }
    integrations = {
        k: v["Properties"]
        for k, v in of_type("AWS::ApiGatewayV2::Integration").items()
        if ref(v["Properties"]["ApiId"], f"{k}.ApiId") == api_id
    }
    jwt_authorizers = {k: p for k, p in authorizers.items() if p.get("AuthorizerType") == "JWT"}
    if len(jwt_authorizers) != 1:
        raise SystemExit(f"template.yaml: the local gateway serves one JWT authorizer, found {len(jwt_authorizers)}")
    authorizer_id, authorizer = next(iter(jwt_authorizers.items()))
    jwt = authorizer["JwtConfiguration"]

    def binary(integration_id):
        """The function an integration invokes: IntegrationUri is its !GetAtt ….Arn."""
        uri = integrations[integration_id]["IntegrationUri"]
        target = uri.value if isinstance(uri, Tag) and uri.name == "GetAtt" else None
        target = target.split(".", 1) if isinstance(target, str) else target
        if not (isinstance(target, list) and target[1] == "Arn" and target[0] in r.resources):
            raise SystemExit(f"template.yaml: {integration_id}.IntegrationUri must be !GetAtt <function>.Arn")
        return r.resources[target[0]].get("Metadata", {}).get("BuildProperties", {}).get("Binary")

    routes = []
    for logical_id, res in of_type("AWS::ApiGatewayV2::Route").items():
        props = res["Properties"]
        if ref(props["ApiId"], f"{logical_id}.ApiId") != api_id:
            continue
        if props.get("AuthorizationType") != "JWT" or ref(props.get("AuthorizerId"), logical_id) != authorizer_id:
            raise SystemExit(f"template.yaml: {logical_id}: the local gateway serves JWT-authorized routes only")
        target = props["Target"]
        text = target.value if isinstance(target, Tag) and target.name == "Sub" else ""
        integration = text[len("integrations/${") : -1]
        if not (isinstance(text, str) and text.startswith("integrations/${") and integration in integrations):
            raise SystemExit(f"template.yaml: {logical_id}.Target must be !Sub \"integrations/${{<integration>}}\"")
        method, path = props["RouteKey"].split(" ", 1)
        routes.append(
            {
                "method": method.upper(),
                "path": path,
                "scopes": [r.value(s) for s in props.get("AuthorizationScopes", [])],
                "function": binary(integration),
            }
        )
    audience = jwt["Audience"]
    audience = [r.value(a) for a in audience] if isinstance(audience, list) else r.value(audience).split(",")
    document = {
        "apiId": r.value(Tag("Ref", api_id)),
        "issuer": r.value(jwt["Issuer"]),
        "audience": audience,
        "routes": routes,
    }
    cors = apis[api_id]["Properties"].get("CorsConfiguration")
    if cors is not None:
        document["cors"] = _cors(r, cors, page_origin)
    Path(out_file).write_text(json.dumps(document, indent=2) + "\n")


def _cors(r, cors, page_origin):
    """An HTTP API's CorsConfiguration as the gateway applies it. An allowed origin naming the page's host
    (`!Sub "https://${PageDomainName}"`) is the local page's origin."""

    import re

    def origin(value):
        text = value.value if isinstance(value, Tag) and value.name == "Sub" else ""
        text = text if isinstance(text, str) else text[0]
        if re.search(r"\$\{" + PAGE_DOMAIN + r"\}", text):
            if page_origin is None:
                raise SystemExit("template.yaml: the API's CORS allows the page's origin; give the local page's origin")
            return page_origin
        return r.value(value)

    max_age = cors.get("MaxAge")
    return {
        "allowOrigins": [origin(o) for o in cors.get("AllowOrigins", [])],
        "allowHeaders": [r.value(h).lower() for h in cors.get("AllowHeaders", [])],
        "allowMethods": [r.value(m).upper() for m in cors.get("AllowMethods", [])],
        "exposeHeaders": [r.value(h).lower() for h in cors.get("ExposeHeaders", [])],
        "maxAge": None if max_age is None else int(r.value(max_age)),
        "allowCredentials": r.value(cors.get("AllowCredentials", False)).lower() == "true",
    }


# The response headers policy of the coordinator page, and the three origins its CSP names (the page connects to the
# API, uploads to the import bucket and exchanges the sign-in code at the identity provider).
PAGE_HEADERS = "CoordinatorPageHeaders"
CSP_ORIGINS = {"ApiOrigin", "UploadOrigin", "IdpOrigin"}


def page_config(out_file, api_url, upload_origin, idp_url):
    """What the local page server adds to web/: the security headers CloudFront's response headers policy
    (CoordinatorPageHeaders) adds to every answer, its CSP naming the local API, S3 and identity provider instead
    of AWS's, so a page that a CSP would break behind CloudFront breaks locally too; and /config.json: what the
    template has the publisher (CoordinatorPage) write into the deployed page's, with the local API and identity
    provider in place of the deployed endpoints."""
    template = load_template()
    r = Resolver(template)
    policy = r.resources.get(PAGE_HEADERS)
    if policy is None or policy["Type"] != "AWS::CloudFront::ResponseHeadersPolicy":
        raise SystemExit(f"template.yaml: expected {PAGE_HEADERS}, an AWS::CloudFront::ResponseHeadersPolicy")
    origins = {"ApiOrigin": _origin(api_url), "UploadOrigin": _origin(upload_origin), "IdpOrigin": _origin(idp_url)}
    headers = _security_headers(r, policy["Properties"]["ResponseHeadersPolicyConfig"], origins)
    page = r.resources.get(PAGE_RESOURCE)
    if page is None:
        raise SystemExit(f"template.yaml: expected {PAGE_RESOURCE}, the resource that publishes the page's config.json")
    # The publisher's properties that are not config.json's fields (shared/src/page/config.rs, OTHER_PROPERTIES).
    other = {"ServiceToken", "ServiceTimeout", "codeVersion", "bucketName"}
    properties = {k: v for k, v in page["Properties"].items() if k not in other}
    if not PAGE_ENDPOINTS <= properties.keys():
        raise SystemExit(f"template.yaml: {PAGE_RESOURCE} lacks {sorted(PAGE_ENDPOINTS - properties.keys())}")
    idp_url = idp_url.rstrip("/")
    local = {
        "apiUrl": api_url.rstrip("/"),
        "authorizeUrl": f"{idp_url}/oauth2/authorize",
        "tokenUrl": f"{idp_url}/oauth2/token",
        "logoutUrl": f"{idp_url}/logout",
    }
    config = {k: local[k] if k in PAGE_ENDPOINTS else r.resolved(v) for k, v in properties.items()}
    Path(out_file).write_text(json.dumps({"headers": headers, "config": config}, indent=2) + "\n")


def _origin(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _security_headers(r, config, origins):
    """The headers a ResponseHeadersPolicyConfig adds, as CloudFront writes them: [name, value] pairs."""
    security = config.get("SecurityHeadersConfig", {})
    headers = []
    csp = security.get("ContentSecurityPolicy")
    if csp:
        value = csp["ContentSecurityPolicy"]
        if not (isinstance(value, Tag) and value.name == "Sub" and isinstance(value.value, list)):
            raise SystemExit(f"template.yaml: {PAGE_HEADERS}'s CSP must be a !Sub [text, {{variables}}]")
        text, variables = value.value
        if set(variables) != CSP_ORIGINS:
            raise SystemExit(f"template.yaml: {PAGE_HEADERS}'s CSP must bind exactly {sorted(CSP_ORIGINS)}")
        for name in set(_sub_names(text)):
            if name not in origins:
                raise SystemExit(f"template.yaml: {PAGE_HEADERS}'s CSP names ${{{name}}}, which has no local value")
            text = text.replace("${" + name + "}", origins[name])
        headers.append(["content-security-policy", text])
    hsts = security.get("StrictTransportSecurity")
    if hsts:
        value = f"max-age={r.value(hsts['AccessControlMaxAgeSec'])}"
        if r.value(hsts.get("IncludeSubdomains", False)).lower() == "true":
            value += "; includeSubDomains"
        if r.value(hsts.get("Preload", False)).lower() == "true":
            value += "; preload"
        headers.append(["strict-transport-security", value])
    if "FrameOptions" in security:
        headers.append(["x-frame-options", r.value(security["FrameOptions"]["FrameOption"])])
    if "ContentTypeOptions" in security:
        headers.append(["x-content-type-options", "nosniff"])
    if "ReferrerPolicy" in security:
        headers.append(["referrer-policy", r.value(security["ReferrerPolicy"]["ReferrerPolicy"])])
    xss = security.get("XSSProtection")
    if xss:
        value = "1" if r.value(xss["Protection"]).lower() == "true" else "0"
        if r.value(xss.get("ModeBlock", False)).lower() == "true":
            value += "; mode=block"
        if "ReportUri" in xss:
            value += f"; report={r.value(xss['ReportUri'])}"
        headers.append(["x-xss-protection", value])
    for item in config.get("CustomHeadersConfig", {}).get("Items", []):
        headers.append([r.value(item["Header"]).lower(), r.value(item["Value"])])
    return headers


def show_object(bucket, key):
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    sys.stdout.write(body.decode("utf-8", errors="replace"))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands = {
        "provision": provision,
        "show-item": show_item,
        "show-object": show_object,
        "as-sent": as_sent,
        "upload-as-sent": upload_as_sent,
        "show-job": show_job,
        "count-items": count_items,
        "bucket-name": bucket_name,
        "api-routes": api_routes,
        "page-config": page_config,
    }
    commands[command](*args)
