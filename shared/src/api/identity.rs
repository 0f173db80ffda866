//! Who is calling, and what that person may see.
//!
//! Only the claims that the deployed HTTP API's JWT authorizer verified are trusted: the event must be an HTTP API
//! (payload 2.0) event whose request context names the API this stack deployed (`API_ID`). Any other event — a REST
//! API's, a function URL's, one a caller with `lambda:InvokeFunction` made up, one from another API — carries no
//! identity. (The template grants the invoke permission to that API alone; the check here keeps a made-up event from
//! another route into the function, such as a test tool or a misconfigured grant, from being trusted.)
//!
//! Two kinds of claims, kept apart on purpose:
//! - **Scopes** say what the *app* may do. Cognito grants them per app client, not per user, so a patient who signs
//!   in through the staff portal's app gets that app's scopes. API Gateway checks them per route; so does the function.
//! - **Groups** say who the *person* is: the identity provider sets them per user (`cognito:groups` by default). The
//!   staff role (`STAFF_GROUP`), site grants (`SITE_GROUP_PREFIX` + `<study>/<site>`) and a patient's enrolment
//!   (`STUDY_GROUP_PREFIX` + `<study>`, which chooses the questionnaire versions of that study) come only from there.

use crate::config::IdentityConfig;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::HashMap;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `iss`: subjects are unique only within one issuer.
    pub issuer: String,
    /// The token's `sub`: a patient's or a staff member's stable, opaque id at the identity provider.
    pub subject: String,
    /// The app the token was issued to (`client_id` in Cognito access tokens, else `azp` or `aud`).
    pub client_id: Option<String>,
    /// What the app may do.
    scopes: Vec<String>,
    /// What the person may do.
    pub roles: Roles,
}

/// What a person may do, from the per-user group claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// Member of the staff group: reads every submission (with the app's read scope).
    pub staff: bool,
    /// The study sites the person works for (`site:<study>/<site>` groups).
    pub sites: Vec<SiteGrant>,
    /// The studies the person takes part in (`study:<study>` groups): they grant no reading, they only say which
    /// study's questionnaire versions apply.
    pub studies: Vec<String>,
}

/// A grant for one site of one study.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SiteGrant {
    pub study: String,
    pub site: String,
}

impl Caller {
    pub fn new(issuer: &str, subject: &str, client_id: Option<&str>, scopes: &[&str], roles: Roles) -> Self {
        Self {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            client_id: client_id.map(str::to_owned),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            roles,
        }
    }

    /// Whether the token's app was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Every study the person belongs to, by enrolment or by a site grant, sorted and each once.
    pub fn studies(&self) -> Vec<&str> {
        let sites = self.roles.sites.iter().map(|g| g.study.as_str());
        let mut studies: Vec<&str> = self.roles.studies.iter().map(String::as_str).chain(sites).collect();
        studies.sort_unstable();
        studies.dedup();
        studies
    }

    /// Whether this caller is the one identified by `issuer` and `subject`: a subject alone is unique only within
    /// its issuer.
    pub fn is(&self, issuer: &str, subject: &str) -> bool {
        self.issuer == issuer && self.subject == subject
    }
}

/// Why a request carries no trusted identity; each is answered `401`, and logged by its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// Not an HTTP API event (a REST API's, a function URL's, or no request context at all).
    NotHttpApi,
    /// An HTTP API event that names another API than the deployed one: made up, or from a grant that should not be.
    OtherApi,
    /// No JWT authorizer context, or no issuer or subject in it.
    NoVerifiedToken,
}

impl Untrusted {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotHttpApi => "not_http_api",
            Self::OtherApi => "other_api",
            Self::NoVerifiedToken => "no_verified_token",
        }
    }
}

/// The caller of a request that came through the deployed HTTP API, with the claims its JWT authorizer verified.
pub fn caller(request: &Request, config: &IdentityConfig) -> Result<Caller, Untrusted> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Err(Untrusted::NotHttpApi);
    };
    if context.apiid.as_deref() != Some(config.api_id.as_str()) {
        return Err(Untrusted::OtherApi);
    }
    let jwt = context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .ok_or(Untrusted::NoVerifiedToken)?;
    from_claims(&jwt.claims, config).ok_or(Untrusted::NoVerifiedToken)
}

/// The caller that verified claims describe, as API Gateway passes them on (every value as text).
fn from_claims(claims: &HashMap<String, String>, config: &IdentityConfig) -> Option<Caller> {
    let claim = |name: &str| claims.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let groups = claim(&config.groups_claim).map(claim_list).unwrap_or_default();
    let roles = Roles {
        staff: groups.iter().any(|g| *g == config.staff_group),
        sites: site_grants(&groups, &config.site_group_prefix),
        studies: enrolments(&groups, &config.study_group_prefix),
    };
    Some(Caller {
        issuer: claim("iss")?.to_owned(),
        subject: claim("sub")?.to_owned(),
        client_id: claim("client_id")
            .or_else(|| claim("azp"))
            .or_else(|| claim("aud"))
            .map(str::to_owned),
        scopes: scopes(claim("scope"), claim("scp")),
        roles,
    })
}

/// The scopes API Gateway reads: the `scope` claim, space-separated (RFC 6749, as Cognito issues it), or, only if
/// there is none, the `scp` claim, a list (which API Gateway passes on as `[a b]`) or a space-separated string.
/// Nothing else separates scopes: not commas, not brackets inside `scope`.
fn scopes(scope: Option<&str>, scp: Option<&str>) -> Vec<String> {
    let tokens: Vec<&str> = match (scope, scp) {
        (Some(scope), _) => space_separated(scope),
        (None, Some(scp)) => claim_list(scp),
        (None, None) => Vec::new(),
    };
    tokens.into_iter().map(str::to_owned).collect()
}

/// A claim that may be a list: API Gateway passes a JSON array claim on as `[a b]`; a string claim is read as
/// space-separated (as `scp` comes from some providers). Entries cannot contain spaces in either form (Cognito group
/// names cannot), so the two readings never disagree.
fn claim_list(value: &str) -> Vec<&str> {
    match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) => space_separated(inner),
        None => space_separated(value),
    }
}

fn space_separated(value: &str) -> Vec<&str> {
    value.split(' ').filter(|s| !s.is_empty()).collect()
}

/// `<prefix><study>/<site>` groups as site grants; a group of that prefix in any other shape grants nothing.
fn site_grants(groups: &[&str], prefix: &str) -> Vec<SiteGrant> {
    let mut grants: Vec<SiteGrant> = groups
        .iter()
        .filter_map(|group| group.strip_prefix(prefix))
        .filter_map(|rest| rest.split_once('/'))
        .filter(|(study, site)| is_segment(study) && is_segment(site))
        .map(|(study, site)| SiteGrant {
            study: study.to_owned(),
            site: site.to_owned(),
        })
        .collect();
    grants.sort();
    grants.dedup();
    grants
}

/// A study or site id in a group name: one path segment, without control characters.
fn is_segment(part: &str) -> bool {
    !part.is_empty() && !part.contains('/') && !part.chars().any(char::is_control)
}

/// `<prefix><study>` groups as enrolments.
fn enrolments(groups: &[&str], prefix: &str) -> Vec<String> {
    let mut studies: Vec<String> = groups
        .iter()
        .filter_map(|group| group.strip_prefix(prefix))
        .filter(|study| is_segment(study))
        .map(str::to_owned)
        .collect();
    studies.sort();
    studies.dedup();
    studies
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const HTTP_API: &str = include_str!("../../../events/http-api-submit-intake.json");
    const REST_API: &str = include_str!("../../../events/rest-api-submit-daily-pain.json");

    fn config() -> IdentityConfig {
        let event: Value = serde_json::from_str(HTTP_API).unwrap();
        IdentityConfig::for_api(event["requestContext"]["apiId"].as_str().unwrap())
    }

    fn event_with_claims(claims: Value) -> Value {
        let mut event: Value = serde_json::from_str(HTTP_API).unwrap();
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
        event
    }

    fn with_claims(claims: Value) -> Request {
        lambda_http::request::from_str(&event_with_claims(claims).to_string()).unwrap()
    }

    fn caller_of(claims: Value) -> Caller {
        caller(&with_claims(claims), &config()).unwrap()
    }

    #[test]
    fn the_verified_claims_name_the_caller_and_its_scopes() {
        let caller = caller_of(json!({
            "iss": "https://idp.example/pool", "sub": "patient-a", "client_id": "app",
            "scope": "questionnaires/submit questionnaires/read"
        }));
        assert_eq!(
            (caller.issuer.as_str(), caller.subject.as_str()),
            ("https://idp.example/pool", "patient-a")
        );
        assert_eq!(caller.client_id.as_deref(), Some("app"));
        assert!(caller.has_scope("questionnaires/read") && !caller.has_scope("questionnaires/read-all"));
        assert_eq!(caller.roles, Roles::default());
    }

    #[test]
    fn the_staff_role_comes_from_the_persons_group_not_from_a_scope() {
        let scope_only = caller_of(json!({"iss": "i", "sub": "s", "scope": "questionnaires/read staff"}));
        assert!(!scope_only.roles.staff);
        let grouped = caller_of(json!({"iss": "i", "sub": "s", "cognito:groups": "[patients staff]"}));
        assert!(grouped.roles.staff);
        let one_group = caller_of(json!({"iss": "i", "sub": "s", "cognito:groups": "[staff]"}));
        assert!(one_group.roles.staff);
        let lookalike = caller_of(json!({"iss": "i", "sub": "s", "cognito:groups": "[staff-trainee Staff]"}));
        assert!(!lookalike.roles.staff);
    }

    #[test]
    fn the_group_claim_and_names_are_configuration() {
        let config = IdentityConfig {
            groups_claim: "https://clinic.example/roles".into(),
            staff_group: "clinician".into(),
            site_group_prefix: "grant:".into(),
            ..config()
        };
        let request = with_claims(json!({
            "iss": "i", "sub": "s", "cognito:groups": "[staff site:S/1]",
            "https://clinic.example/roles": "[clinician grant:CARDIO-7/S01]"
        }));
        let caller = caller(&request, &config).unwrap();
        assert!(caller.roles.staff);
        assert_eq!(
            caller.roles.sites,
            vec![SiteGrant {
                study: "CARDIO-7".into(),
                site: "S01".into()
            }]
        );
    }

    #[test]
    fn site_grants_are_read_from_well_formed_site_groups_only() {
        let caller = caller_of(json!({"iss": "i", "sub": "s", "cognito:groups":
            "[site:CARDIO-7/S02 site:CARDIO-7/S01 site:CARDIO-7/S01 site:ONC-1 site:/S1 site:X/ site:A/B/C xsite:Y/Z]"}));
        let grant = |study: &str, site: &str| SiteGrant {
            study: study.into(),
            site: site.into(),
        };
        assert_eq!(
            caller.roles.sites,
            vec![grant("CARDIO-7", "S01"), grant("CARDIO-7", "S02")]
        );
        assert!(!caller.roles.staff);
    }

    #[test]
    fn studies_come_from_enrolment_groups_and_site_grants() {
        let caller = caller_of(json!({"iss": "i", "sub": "s", "cognito:groups":
            "[study:ONCO-7 study:ONCO-7 study: study:A/B xstudy:Z site:CARDIO-2/S01 site:ONCO-7/S03]"}));
        assert_eq!(caller.roles.studies, ["ONCO-7"]);
        assert_eq!(caller.studies(), ["CARDIO-2", "ONCO-7"]);
        assert!(caller_of(json!({"iss": "i", "sub": "s"})).studies().is_empty());
    }

    #[test]
    fn scopes_in_an_scp_list_count_when_there_is_no_scope_claim() {
        let caller = caller_of(json!({"iss": "i", "sub": "s", "scp": "[questionnaires/read other]"}));
        assert!(caller.has_scope("questionnaires/read") && caller.has_scope("other"));
        let caller = caller_of(json!({"iss": "i", "sub": "s", "scp": "questionnaires/read other"}));
        assert!(caller.has_scope("questionnaires/read") && caller.has_scope("other"));
    }

    #[test]
    fn scopes_are_not_merged_or_split_more_loosely_than_api_gateway_reads_them() {
        // `scope` wins; `scp` is not added to it.
        let both = caller_of(json!({"iss": "i", "sub": "s", "scope": "a", "scp": "[questionnaires/read]"}));
        assert!(both.has_scope("a") && !both.has_scope("questionnaires/read"));
        // Commas and brackets are part of a scope token in `scope`.
        let commas = caller_of(json!({"iss": "i", "sub": "s", "scope": "a,questionnaires/read"}));
        assert!(!commas.has_scope("questionnaires/read") && commas.has_scope("a,questionnaires/read"));
        let brackets = caller_of(json!({"iss": "i", "sub": "s", "scope": "[questionnaires/read]"}));
        assert!(!brackets.has_scope("questionnaires/read"));
        // Only spaces separate: a tab or a line break does not.
        let tab = caller_of(json!({"iss": "i", "sub": "s", "scope": "a\tquestionnaires/read"}));
        assert!(!tab.has_scope("questionnaires/read"));
        // The authorizer's own list is not a second source.
        let mut event = event_with_claims(json!({"iss": "i", "sub": "s", "scope": "a"}));
        event["requestContext"]["authorizer"]["jwt"]["scopes"] = json!(["questionnaires/read"]);
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert!(!caller(&request, &config()).unwrap().has_scope("questionnaires/read"));
    }

    #[test]
    fn the_same_subject_of_another_issuer_is_another_caller() {
        let caller = caller_of(json!({"iss": "https://idp.example/patients", "sub": "u-1"}));
        assert!(caller.is("https://idp.example/patients", "u-1"));
        assert!(!caller.is("https://idp.example/staff", "u-1"));
        assert!(!caller.is("https://idp.example/patients", "u-2"));
    }

    #[test]
    fn without_a_subject_or_an_issuer_there_is_no_caller() {
        let refused = |claims: Value| caller(&with_claims(claims), &config()).unwrap_err();
        assert_eq!(refused(json!({"iss": "i"})), Untrusted::NoVerifiedToken);
        assert_eq!(refused(json!({"sub": "s"})), Untrusted::NoVerifiedToken);
        assert_eq!(refused(json!({"iss": "i", "sub": ""})), Untrusted::NoVerifiedToken);
        let mut event: Value = serde_json::from_str(HTTP_API).unwrap();
        event["requestContext"].as_object_mut().unwrap().remove("authorizer");
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(caller(&request, &config()), Err(Untrusted::NoVerifiedToken));
    }

    #[test]
    fn an_event_naming_another_api_or_none_carries_no_identity() {
        let staff = json!({"iss": "i", "sub": "s", "cognito:groups": "[staff]", "scope": "questionnaires/read"});
        for api_id in [json!("someone-elses-api"), json!(""), Value::Null] {
            let mut event = event_with_claims(staff.clone());
            event["requestContext"]["apiId"] = api_id.clone();
            let request = lambda_http::request::from_str(&event.to_string()).unwrap();
            assert_eq!(caller(&request, &config()), Err(Untrusted::OtherApi), "{api_id}");
        }
    }

    #[test]
    fn identity_sources_the_template_does_not_deploy_are_not_trusted() {
        // A REST API event with Cognito claims: no such API (and authorizer) is deployed.
        let request = lambda_http::request::from_str(REST_API).unwrap();
        assert_eq!(caller(&request, &config()), Err(Untrusted::NotHttpApi));
    }
}
