"""What the local page serving reads from template.yaml (scripts/local_stack.py): the page's security headers with
the CSP naming the local origins, its /config.json, and the HTTP API's CORS configuration allowing the local page.
These run on the real template, so a template the local serving cannot read fails here."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import local_stack  # noqa: E402

API, S3, IDP, PAGE = "http://127.0.0.1:1001", "http://127.0.0.1:1002", "http://127.0.0.1:1003", "http://127.0.0.1:1004"


def page_config(tmp_path):
    local_stack.page_config(tmp_path / "page.json", API + "/", S3, IDP)
    return json.loads((tmp_path / "page.json").read_text())


def test_the_csp_names_the_local_api_s3_and_identity_provider_and_the_policys_other_headers_follow(tmp_path):
    headers = dict(page_config(tmp_path)["headers"])
    csp = headers["content-security-policy"]
    assert f"connect-src 'self' {API} {S3} {IDP};" in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "${" not in csp
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_config_is_the_published_pages_with_the_local_endpoints(tmp_path):
    config = page_config(tmp_path)["config"]
    openapi = json.loads((ROOT / "openapi.json").read_text())
    [announce_dataset] = [
        p["schema"]["enum"]
        for p in openapi["paths"]["/imports/{id}"]["post"]["parameters"]
        if p["in"] == "path"
    ]
    # The datasets the page offers are the ones the API takes.
    assert config["datasets"] == announce_dataset
    assert config == {
        "apiUrl": API,
        "authorizeUrl": f"{IDP}/oauth2/authorize",
        "tokenUrl": f"{IDP}/oauth2/token",
        "logoutUrl": f"{IDP}/logout",
        "clientId": local_stack.LOCAL_PARAMETERS["PageClientId"],
        "scopes": "openid imports/upload imports/read",
        "groupsClaim": "cognito:groups",
        "sitePrefix": "site:",
        "staffGroup": "staff",
        "datasets": ["observations"],
    }


def test_a_csp_that_binds_other_names_than_the_three_origins_is_refused(tmp_path, monkeypatch):
    template = local_stack.load_template()
    variables = template["Resources"][local_stack.PAGE_HEADERS]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]["ContentSecurityPolicy"]["ContentSecurityPolicy"].value[1]
    variables["AnotherOrigin"] = "https://elsewhere.example"
    monkeypatch.setattr(local_stack, "load_template", lambda: template)
    with pytest.raises(SystemExit, match="bind exactly"):
        page_config(tmp_path)


def test_the_apis_cors_allows_the_local_pages_origin_in_place_of_the_page_domain(tmp_path):
    local_stack.api_routes(tmp_path / "routes.json", PAGE)
    cors = json.loads((tmp_path / "routes.json").read_text())["cors"]
    assert cors["allowOrigins"] == [PAGE]
    assert cors["allowHeaders"] == ["authorization", "content-type"]
    assert cors["allowMethods"] == ["GET", "POST"]
    with pytest.raises(SystemExit, match="local page's origin"):
        local_stack.api_routes(tmp_path / "routes.json")


def test_the_local_users_are_the_pages_four_each_with_an_opaque_sub():
    users = json.loads((ROOT / "scripts" / "local-users.json").read_text())
    assert [u["username"] for u in users] == ["coordinator-s01", "coordinator-s02", "coordinator-both", "patient-0001"]
    assert len({u["sub"] for u in users}) == 4
    assert all(u["sub"] != u["username"] for u in users)
