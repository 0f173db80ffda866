//! The page's `config.json`, from the custom resource's properties. CloudFormation passes every property as given
//! in template.yaml (scalars as strings); a property that would make a page that cannot sign in or call the API (a
//! plain-HTTP URL, an empty client id) fails the resource with a reason naming it, so the deployment stops there
//! instead of publishing a broken page. Messages name the property and the rule, not its value.

use serde::Serialize;
use serde_json::{Map, Value};

/// The contract between the page and its deployment (the page fetches it from `/config.json` at start).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// The HTTP API's base URL, without a trailing slash.
    pub api_url: String,
    pub authorize_url: String,
    pub token_url: String,
    pub logout_url: String,
    pub client_id: String,
    pub scopes: String,
    pub groups_claim: String,
    pub site_prefix: String,
    pub staff_group: String,
    pub datasets: Vec<String>,
}

/// What a publication needs: where to put the page, and its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    pub bucket: String,
    pub config: PageConfig,
}

/// A property the page cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PropertyError {
    #[error("the resource's properties are not an object")]
    NotAnObject,
    #[error("property {0} is missing")]
    Missing(&'static str),
    #[error("property {0} must be text")]
    NotText(&'static str),
    #[error("property {0} must not be empty")]
    Empty(&'static str),
    #[error("property {0} must not contain white space")]
    WhiteSpace(&'static str),
    #[error("property {0} must be an https URL with a host (https://host/...)")]
    NotHttps(&'static str),
    #[error("property {0} must be a list of dataset names (at least one, each non-empty, without spaces)")]
    BadDatasets(&'static str),
    #[error("unknown property {0}: the page's configuration has no such field")]
    Unknown(String),
}

/// Properties that are not part of the configuration: CloudFormation's own (`ServiceToken`, and `ServiceTimeout`,
/// which may or may not be passed on in the event), the bucket, and the value that changes with the function's code
/// (it only makes CloudFormation send an Update).
const OTHER_PROPERTIES: [&str; 4] = ["ServiceToken", "ServiceTimeout", "bucketName", "codeVersion"];
const FIELDS: [&str; 10] = [
    "apiUrl",
    "authorizeUrl",
    "tokenUrl",
    "logoutUrl",
    "clientId",
    "scopes",
    "groupsClaim",
    "sitePrefix",
    "staffGroup",
    "datasets",
];

impl Publication {
    pub fn from_properties(properties: &Value) -> Result<Self, PropertyError> {
        let properties = properties.as_object().ok_or(PropertyError::NotAnObject)?;
        if let Some(unknown) = properties
            .keys()
            .find(|k| !FIELDS.contains(&k.as_str()) && !OTHER_PROPERTIES.contains(&k.as_str()))
        {
            return Err(PropertyError::Unknown(unknown.clone()));
        }
        let config = PageConfig {
            api_url: https_url(properties, "apiUrl")?.trim_end_matches('/').to_owned(),
            authorize_url: https_url(properties, "authorizeUrl")?,
            token_url: https_url(properties, "tokenUrl")?,
            logout_url: https_url(properties, "logoutUrl")?,
            client_id: word(properties, "clientId")?,
            scopes: text(properties, "scopes")?,
            groups_claim: word(properties, "groupsClaim")?,
            site_prefix: word(properties, "sitePrefix")?,
            staff_group: word(properties, "staffGroup")?,
            datasets: datasets(properties, "datasets")?,
        };
        Ok(Self {
            bucket: word(properties, "bucketName")?,
            config,
        })
    }

    /// The bucket alone: a Delete needs nothing else, and must not fail because another property is wrong.
    pub fn bucket_of(properties: &Value) -> Option<String> {
        let properties = properties.as_object()?;
        word(properties, "bucketName").ok()
    }
}

impl PageConfig {
    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings and a list of strings: serialization cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

fn text(properties: &Map<String, Value>, name: &'static str) -> Result<String, PropertyError> {
    let value = properties.get(name).ok_or(PropertyError::Missing(name))?;
    let value = value.as_str().ok_or(PropertyError::NotText(name))?.trim();
    if value.is_empty() {
        return Err(PropertyError::Empty(name));
    }
    Ok(value.to_owned())
}

/// Text without white space: an id, a claim or group name, a bucket name.
fn word(properties: &Map<String, Value>, name: &'static str) -> Result<String, PropertyError> {
    let value = text(properties, name)?;
    if value.chars().any(char::is_whitespace) {
        return Err(PropertyError::WhiteSpace(name));
    }
    Ok(value)
}

fn https_url(properties: &Map<String, Value>, name: &'static str) -> Result<String, PropertyError> {
    let value = word(properties, name)?;
    let host = value
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    if host.is_empty() || host.contains('@') || value.chars().any(char::is_control) {
        return Err(PropertyError::NotHttps(name));
    }
    Ok(value)
}

/// A list of names, as template.yaml writes it; a comma-separated text too (what a CommaDelimitedList parameter
/// joined with !Join gives).
fn datasets(properties: &Map<String, Value>, name: &'static str) -> Result<Vec<String>, PropertyError> {
    let value = properties.get(name).ok_or(PropertyError::Missing(name))?;
    let names: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(|s| s.trim().to_owned()))
            .collect::<Option<_>>()
            .ok_or(PropertyError::BadDatasets(name))?,
        Value::String(text) => text.split(',').map(|s| s.trim().to_owned()).collect(),
        _ => return Err(PropertyError::BadDatasets(name)),
    };
    if names.is_empty() || names.iter().any(|n| n.is_empty() || n.contains(char::is_whitespace)) {
        return Err(PropertyError::BadDatasets(name));
    }
    Ok(names)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn properties() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:clinic-publish-page",
            "bucketName": "clinic-page-bucket",
            "codeVersion": "arn:aws:lambda:eu-west-1:123456789012:function:clinic-publish-page:7",
            "apiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/",
            "authorizeUrl": "https://auth.example.org/oauth2/authorize",
            "tokenUrl": "https://auth.example.org/oauth2/token",
            "logoutUrl": "https://auth.example.org/logout",
            "clientId": "4tq1kfa8c0example",
            "scopes": "openid imports/upload imports/read",
            "groupsClaim": "cognito:groups",
            "sitePrefix": "site:",
            "staffGroup": "staff",
            "datasets": ["observations"]
        })
    }

    fn refused(change: impl FnOnce(&mut Map<String, Value>)) -> PropertyError {
        let mut p = properties();
        change(p.as_object_mut().unwrap());
        Publication::from_properties(&p).unwrap_err()
    }

    #[test]
    fn the_configuration_has_exactly_the_contracts_fields_and_the_api_url_no_trailing_slash() {
        let publication = Publication::from_properties(&properties()).unwrap();
        assert_eq!(publication.bucket, "clinic-page-bucket");
        let json: Value = serde_json::from_slice(&publication.config.to_json()).unwrap();
        assert_eq!(
            json,
            json!({
                "apiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com",
                "authorizeUrl": "https://auth.example.org/oauth2/authorize",
                "tokenUrl": "https://auth.example.org/oauth2/token",
                "logoutUrl": "https://auth.example.org/logout",
                "clientId": "4tq1kfa8c0example",
                "scopes": "openid imports/upload imports/read",
                "groupsClaim": "cognito:groups",
                "sitePrefix": "site:",
                "staffGroup": "staff",
                "datasets": ["observations"]
            })
        );
    }

    #[test]
    fn a_url_that_is_not_https_with_a_host_is_refused_naming_the_property() {
        for bad in [
            "http://auth.example.org/oauth2/token",
            "https://",
            "https:///x",
            "auth.example.org",
            "https://u@evil",
        ] {
            let error = refused(|p| {
                p.insert("tokenUrl".into(), json!(bad));
            });
            assert_eq!(error, PropertyError::NotHttps("tokenUrl"), "{bad}");
        }
        let error = refused(|p| {
            p.insert("apiUrl".into(), json!("http://abc.execute-api.eu-west-1.amazonaws.com"));
        });
        assert_eq!(
            error.to_string(),
            "property apiUrl must be an https URL with a host (https://host/...)"
        );
    }

    #[test]
    fn an_empty_missing_or_spaced_client_id_is_refused() {
        assert_eq!(
            refused(|p| {
                p.insert("clientId".into(), json!("  "));
            }),
            PropertyError::Empty("clientId")
        );
        assert_eq!(
            refused(|p| {
                p.remove("clientId");
            }),
            PropertyError::Missing("clientId")
        );
        assert_eq!(
            refused(|p| {
                p.insert("clientId".into(), json!("a b"));
            }),
            PropertyError::WhiteSpace("clientId")
        );
        assert_eq!(
            refused(|p| {
                p.insert("clientId".into(), json!(7));
            }),
            PropertyError::NotText("clientId")
        );
    }

    #[test]
    fn datasets_are_a_non_empty_list_of_names_or_a_comma_separated_text() {
        let mut p = properties();
        p["datasets"] = json!("observations, questionnaires");
        let config = Publication::from_properties(&p).unwrap().config;
        assert_eq!(config.datasets, ["observations", "questionnaires"]);
        for bad in [
            json!([]),
            json!(""),
            json!(["a", ""]),
            json!([1]),
            json!({"a": 1}),
            json!("a b"),
        ] {
            let error = refused(|p| {
                p.insert("datasets".into(), bad.clone());
            });
            assert_eq!(error, PropertyError::BadDatasets("datasets"), "{bad}");
        }
    }

    #[test]
    fn a_misspelt_property_is_refused_rather_than_ignored() {
        let error = refused(|p| {
            p.insert("clientID".into(), json!("x"));
        });
        assert_eq!(error, PropertyError::Unknown("clientID".into()));
        assert_eq!(
            Publication::from_properties(&json!("x")),
            Err(PropertyError::NotAnObject)
        );
    }

    #[test]
    fn cloudformations_own_properties_are_accepted_and_left_out_of_the_configuration() {
        let mut p = properties();
        p["ServiceTimeout"] = json!("300");
        let with_timeout = Publication::from_properties(&p).unwrap();
        p.as_object_mut().unwrap().remove("ServiceTimeout");
        assert_eq!(with_timeout, Publication::from_properties(&p).unwrap());
    }

    #[test]
    fn a_delete_finds_the_bucket_even_when_other_properties_are_wrong() {
        let mut p = properties();
        p["tokenUrl"] = json!("http://x");
        assert_eq!(Publication::bucket_of(&p).as_deref(), Some("clinic-page-bucket"));
        assert_eq!(Publication::bucket_of(&json!({})), None);
    }
}
