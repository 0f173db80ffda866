//! Who is calling: the claims of the JWT that the HTTP API's JWT authorizer (the only identity source the template
//! deploys) has verified before invoking the function. Anything else — a REST API authorizer, a function URL, a
//! header — is not trusted: such a request has no identity.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `iss`: subjects are unique only within one issuer.
    pub issuer: String,
    /// The token's `sub`: a patient's or a staff member's stable, opaque id at the identity provider.
    pub subject: String,
    /// The app the token was issued to (`client_id` in Cognito access tokens, else `azp` or `aud`).
    pub client_id: Option<String>,
    scopes: Vec<String>,
}

impl Caller {
    pub fn new(issuer: &str, subject: &str, client_id: Option<&str>, scopes: &[&str]) -> Self {
        Self {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            client_id: client_id.map(str::to_owned),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The caller of an HTTP API request whose JWT the authorizer verified; `None` for every other request.
pub fn caller(request: &Request) -> Option<Caller> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let jwt = context.authorizer.as_ref()?.jwt.as_ref()?;
    let claim = |name: &str| jwt.claims.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let mut scopes: Vec<String> = ["scope", "scp"]
        .into_iter()
        .filter_map(&claim)
        .flat_map(scope_list)
        .collect();
    scopes.extend(jwt.scopes.iter().flatten().cloned());
    Some(Caller {
        issuer: claim("iss")?.to_owned(),
        subject: claim("sub")?.to_owned(),
        client_id: claim("client_id")
            .or_else(|| claim("azp"))
            .or_else(|| claim("aud"))
            .map(str::to_owned),
        scopes,
    })
}

/// Scopes as API Gateway passes them on: space-separated (`scope`, as Cognito issues it), or a list it has turned
/// into text (`[a b]`, as for an `scp` array).
fn scope_list(claim: &str) -> impl Iterator<Item = String> + '_ {
    claim
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const HTTP_API: &str = include_str!("../../../events/http-api-submit-intake.json");
    const REST_API: &str = include_str!("../../../events/rest-api-submit-daily-pain.json");

    fn with_claims(claims: Value) -> Request {
        let mut event: Value = serde_json::from_str(HTTP_API).unwrap();
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_verified_claims_name_the_caller_and_its_scopes() {
        let caller = caller(&with_claims(json!({
            "iss": "https://idp.example/pool", "sub": "patient-a", "client_id": "app",
            "scope": "questionnaires/submit questionnaires/read"
        })))
        .unwrap();
        assert_eq!(
            (caller.issuer.as_str(), caller.subject.as_str()),
            ("https://idp.example/pool", "patient-a")
        );
        assert_eq!(caller.client_id.as_deref(), Some("app"));
        assert!(caller.has_scope("questionnaires/read") && !caller.has_scope("questionnaires/read-all"));
    }

    #[test]
    fn scopes_in_an_scp_list_count_too() {
        let caller = caller(&with_claims(
            json!({"iss": "i", "sub": "s", "scp": "[questionnaires/read other]"}),
        ))
        .unwrap();
        assert!(caller.has_scope("questionnaires/read") && caller.has_scope("other"));
    }

    #[test]
    fn without_a_subject_or_an_issuer_there_is_no_caller() {
        assert_eq!(caller(&with_claims(json!({"iss": "i"}))), None);
        assert_eq!(caller(&with_claims(json!({"sub": "s"}))), None);
        assert_eq!(caller(&with_claims(json!({"iss": "i", "sub": ""}))), None);
        let mut event: Value = serde_json::from_str(HTTP_API).unwrap();
        event["requestContext"].as_object_mut().unwrap().remove("authorizer");
        assert_eq!(
            caller(&lambda_http::request::from_str(&event.to_string()).unwrap()),
            None
        );
    }

    #[test]
    fn identity_sources_the_template_does_not_deploy_are_not_trusted() {
        // A REST API event with Cognito claims: no such API (and authorizer) is deployed.
        assert_eq!(caller(&lambda_http::request::from_str(REST_API).unwrap()), None);
    }
}
