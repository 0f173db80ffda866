//! Configuration read once at start-up from the environment that `template.yaml` sets.

use crate::questionnaire::VersionPolicy;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required (template.yaml sets it; locally scripts/stack exports it)")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Reads variables through a lookup function so that tests need not touch the process environment.
pub struct Env<F>(F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_lookup(lookup: F) -> Self {
        Env(lookup)
    }

    /// The value when set and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        (self.0)(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing(name))
    }

    /// A value parsed with `FromStr`, the default when unset, an error when set but invalid or out of `valid`.
    pub fn parsed_or<T>(&self, name: &'static str, default: T, valid: impl Fn(&T) -> bool) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some(raw) = (self.0)(name).filter(|v| !v.trim().is_empty()) else {
            return Ok(default);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name,
            value: raw.clone(),
            reason,
        };
        let value = raw.trim().parse::<T>().map_err(|e| invalid(e.to_string()))?;
        if valid(&value) {
            Ok(value)
        } else {
            Err(invalid("out of the allowed range".into()))
        }
    }

    pub fn seconds_or(
        &self,
        name: &'static str,
        default: u64,
        valid: impl Fn(&u64) -> bool,
    ) -> Result<Duration, ConfigError> {
        self.parsed_or(name, default, valid).map(Duration::from_secs)
    }
}

/// Settings of the questionnaire submission function.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// DynamoDB table holding submissions and idempotency records (`SUBMISSIONS_TABLE`).
    pub submissions_table: String,
    /// Largest accepted request body in bytes (`MAX_BODY_BYTES`, default 65536).
    pub max_body_bytes: usize,
    /// How long an `Idempotency-Key` is remembered (`IDEMPOTENCY_TTL_SECONDS`, default 86400).
    pub idempotency_ttl: Duration,
    /// The OAuth2 scopes that grant each operation to an app.
    pub scopes: Scopes,
    /// Which events and claims say who the person is.
    pub identity: IdentityConfig,
    /// The audit trail's bucket, where each read of a submission is recorded (`AUDIT_BUCKET`).
    pub audit_bucket: String,
    /// Which questionnaire versions are accepted, and which one each study is on (`QUESTIONNAIRE_VERSIONS`, a JSON
    /// object by kind; unset: every version accepted, the oldest by default).
    pub versions: VersionPolicy,
}

/// OAuth2 resource-server scopes, as an identity provider such as Cognito issues them: what an *app* may do.
/// API Gateway checks them per route (`template.yaml`); the function checks them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    /// Submitting questionnaires (`SUBMIT_SCOPE`, default `questionnaires/submit`).
    pub submit: String,
    /// Reading submissions: one's own, or every one for staff (`READ_SCOPE`, default `questionnaires/read`).
    pub read: String,
}

impl Default for Scopes {
    fn default() -> Self {
        Self {
            submit: "questionnaires/submit".into(),
            read: "questionnaires/read".into(),
        }
    }
}

impl Scopes {
    fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            submit: env.parsed_or("SUBMIT_SCOPE", defaults.submit, visible_ascii)?,
            read: env.parsed_or("READ_SCOPE", defaults.read, visible_ascii)?,
        })
    }
}

/// Who a person is comes from per-user claims of a token that the deployed HTTP API verified (see
/// `api::identity`): these settings name that API and those claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// The id of the HTTP API whose JWT authorizer the function trusts (`API_ID`, set by `template.yaml`): an event
    /// whose request context names any other API carries no identity.
    pub api_id: String,
    /// The claim with the person's groups (`GROUPS_CLAIM`, default `cognito:groups`).
    pub groups_claim: String,
    /// The group of staff, who read every submission (`STAFF_GROUP`, default `staff`).
    pub staff_group: String,
    /// The prefix of site-grant groups, `<prefix><study>/<site>` (`SITE_GROUP_PREFIX`, default `site:`).
    pub site_group_prefix: String,
    /// The prefix of enrolment groups, `<prefix><study>` (`STUDY_GROUP_PREFIX`, default `study:`).
    pub study_group_prefix: String,
}

impl IdentityConfig {
    /// The default claim and group names, trusting the API `api_id`.
    pub fn for_api(api_id: impl Into<String>) -> Self {
        Self {
            api_id: api_id.into(),
            groups_claim: "cognito:groups".into(),
            staff_group: "staff".into(),
            site_group_prefix: "site:".into(),
            study_group_prefix: "study:".into(),
        }
    }

    fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let defaults = Self::for_api(env.required("API_ID")?);
        let config = Self {
            groups_claim: env.parsed_or("GROUPS_CLAIM", defaults.groups_claim.clone(), visible_ascii)?,
            staff_group: env.parsed_or("STAFF_GROUP", defaults.staff_group.clone(), visible_ascii)?,
            site_group_prefix: env.parsed_or("SITE_GROUP_PREFIX", defaults.site_group_prefix.clone(), visible_ascii)?,
            study_group_prefix: env.parsed_or(
                "STUDY_GROUP_PREFIX",
                defaults.study_group_prefix.clone(),
                visible_ascii,
            )?,
            ..defaults
        };
        let (site, study) = (&config.site_group_prefix, &config.study_group_prefix);
        if site.starts_with(study.as_str()) || study.starts_with(site.as_str()) {
            return Err(ConfigError::Invalid {
                name: "STUDY_GROUP_PREFIX",
                value: config.study_group_prefix,
                reason: "an enrolment group must not look like a site grant, nor a site grant like an enrolment".into(),
            });
        }
        if config.staff_group.starts_with(&config.site_group_prefix) {
            return Err(ConfigError::Invalid {
                name: "STAFF_GROUP",
                value: config.staff_group,
                reason: "the staff group must not look like a site grant (it starts with SITE_GROUP_PREFIX)".into(),
            });
        }
        Ok(config)
    }
}

/// Scope, claim and group names: one token of visible ASCII (they are compared exactly, and a space would split
/// them).
#[allow(clippy::ptr_arg)] // `Env::parsed_or` hands its check a `&String`
fn visible_ascii(value: &String) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

impl ApiConfig {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            submissions_table: env.required("SUBMISSIONS_TABLE")?,
            max_body_bytes: env.parsed_or("MAX_BODY_BYTES", Self::DEFAULT_MAX_BODY_BYTES, |n| {
                (1..=10 * 1024 * 1024).contains(n)
            })?,
            idempotency_ttl: env.seconds_or("IDEMPOTENCY_TTL_SECONDS", 86_400, |s| (60..=30 * 86_400).contains(s))?,
            scopes: Scopes::from_env(env)?,
            identity: IdentityConfig::from_env(env)?,
            audit_bucket: env.required("AUDIT_BUCKET")?,
            versions: match env.optional("QUESTIONNAIRE_VERSIONS") {
                Some(text) => VersionPolicy::parse(&text).map_err(|reason| ConfigError::Invalid {
                    name: "QUESTIONNAIRE_VERSIONS",
                    value: text,
                    reason,
                })?,
                None => VersionPolicy::default(),
            },
        })
    }
}

/// Settings of the import API function: imports that a site starts and follows over HTTPS.
#[derive(Debug, Clone)]
pub struct ImportApiConfig {
    /// The bucket uploads go to (`IMPORT_BUCKET`), the import function's.
    pub bucket: String,
    /// The import-job table, where announced uploads are recorded (`IMPORT_JOBS_TABLE`).
    pub jobs_table: String,
    /// The audit trail's bucket, where each read of an import's status is recorded (`AUDIT_BUCKET`).
    pub audit_bucket: String,
    /// Starting an import (`UPLOAD_SCOPE`, default `imports/upload`) and following one (`IMPORT_READ_SCOPE`, default
    /// `imports/read`; the upload scope follows the imports it may start too).
    pub upload_scope: String,
    pub read_scope: String,
    pub identity: IdentityConfig,
    /// How long a pre-signed upload URL is valid (`UPLOAD_URL_SECONDS`, 60 to 900, default 900).
    pub upload_url_ttl: Duration,
    /// How long a pre-signed report link is valid (`REPORT_URL_SECONDS`, 60 to 3600, default 300).
    pub report_url_ttl: Duration,
    /// Largest file the import takes (`MAX_OBJECT_BYTES`, the import function's), and never more than one PUT
    /// can upload (5 GiB).
    pub max_upload_bytes: u64,
}

impl ImportApiConfig {
    /// S3's limit for a single PUT.
    pub const MAX_SINGLE_PUT_BYTES: u64 = 5 << 30;

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let max_object_bytes = env.parsed_or(
            "MAX_OBJECT_BYTES",
            ImportConfig::DEFAULT_MAX_OBJECT_BYTES,
            ImportConfig::valid_max_object,
        )?;
        Ok(Self {
            bucket: env.required("IMPORT_BUCKET")?,
            jobs_table: env.required("IMPORT_JOBS_TABLE")?,
            audit_bucket: env.required("AUDIT_BUCKET")?,
            upload_scope: env.parsed_or("UPLOAD_SCOPE", "imports/upload".to_owned(), visible_ascii)?,
            read_scope: env.parsed_or("IMPORT_READ_SCOPE", "imports/read".to_owned(), visible_ascii)?,
            identity: IdentityConfig::from_env(env)?,
            upload_url_ttl: env.seconds_or("UPLOAD_URL_SECONDS", 900, |s| (60..=900).contains(s))?,
            report_url_ttl: env.seconds_or("REPORT_URL_SECONDS", 300, |s| (60..=3600).contains(s))?,
            max_upload_bytes: max_object_bytes.min(Self::MAX_SINGLE_PUT_BYTES),
        })
    }

    pub fn for_tests(api_id: &str) -> Self {
        Self {
            bucket: "local-123456789012-us-east-1-edc-imports".into(),
            jobs_table: "jobs".into(),
            audit_bucket: "audit".into(),
            upload_scope: "imports/upload".into(),
            read_scope: "imports/read".into(),
            identity: IdentityConfig::for_api(api_id),
            upload_url_ttl: Duration::from_secs(900),
            report_url_ttl: Duration::from_secs(300),
            max_upload_bytes: 1 << 20,
        }
    }
}

/// Settings of the CSV import function.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// The bucket whose uploads this function imports (`IMPORT_BUCKET`); records naming another are refused.
    pub bucket: String,
    /// Table of clinical observations (`OBSERVATIONS_TABLE`).
    pub observations_table: String,
    /// Table of questionnaire submissions, shared with the API (`SUBMISSIONS_TABLE`).
    pub submissions_table: String,
    /// Table of import-job records (`IMPORT_JOBS_TABLE`).
    pub import_jobs_table: String,
    /// Concurrent write tasks per file (`IMPORT_CONCURRENCY`, default 8).
    pub concurrency: usize,
    /// Time kept free before the invocation deadline for stopping and writing reports
    /// (`DEADLINE_SAFETY_MARGIN_MS`, default 5000).
    pub safety_margin: Duration,
    /// Time budget used when the invocation deadline is missing or implausible (`FALLBACK_TIME_BUDGET_SECONDS`,
    /// default 60).
    pub fallback_budget: Duration,
    /// Attempts per batch before its rows are reported as failed (`MAX_WRITE_ATTEMPTS`, default 8).
    pub max_write_attempts: u32,
    /// Largest object imported (`MAX_OBJECT_BYTES`, default 10 GiB); a larger one is rejected unread.
    pub max_object_bytes: u64,
    /// Longest CSV record read (`MAX_RECORD_BYTES`, default 256 KiB): reading stops at a longer one.
    pub max_record_bytes: u64,
    /// Rejected rows listed in the report of one file (`MAX_REJECTED_ROWS_LISTED`, default 10000); the rest are
    /// counted.
    pub max_rejected_rows_listed: u64,
    /// How long an import's lease lasts unless renewed (`JOB_LEASE_SECONDS`, default 30): the running invocation
    /// renews it every third of that, so this is how long a crashed invocation keeps a retry from taking over.
    pub lease: Duration,
}

impl ImportConfig {
    pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 10 << 30;

    fn valid_max_object(n: &u64) -> bool {
        (1 << 10..=5 << 40).contains(n)
    }

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Self {
            bucket: env.required("IMPORT_BUCKET")?,
            observations_table: env.required("OBSERVATIONS_TABLE")?,
            submissions_table: env.required("SUBMISSIONS_TABLE")?,
            import_jobs_table: env.required("IMPORT_JOBS_TABLE")?,
            concurrency: env.parsed_or("IMPORT_CONCURRENCY", 8, |n| (1..=64).contains(n))?,
            safety_margin: Duration::from_millis(
                env.parsed_or("DEADLINE_SAFETY_MARGIN_MS", 5_000, |ms| (100..=300_000).contains(ms))?,
            ),
            fallback_budget: env.seconds_or("FALLBACK_TIME_BUDGET_SECONDS", 60, |s| (1..=900).contains(s))?,
            max_write_attempts: env.parsed_or("MAX_WRITE_ATTEMPTS", 8, |n| (1..=20).contains(n))?,
            max_object_bytes: env.parsed_or(
                "MAX_OBJECT_BYTES",
                Self::DEFAULT_MAX_OBJECT_BYTES,
                Self::valid_max_object,
            )?,
            max_record_bytes: env.parsed_or("MAX_RECORD_BYTES", 256 << 10, |n| (4 << 10..=16 << 20).contains(n))?,
            max_rejected_rows_listed: env
                .parsed_or("MAX_REJECTED_ROWS_LISTED", 10_000, |n| (1..=1_000_000).contains(n))?,
            lease: env.seconds_or("JOB_LEASE_SECONDS", 30, |s| (3..=900).contains(s))?,
        }
        .checked()
    }

    /// Settings for unit tests: the import's tables, small limits, short times.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            bucket: "local-123456789012-us-east-1-edc-imports".into(),
            observations_table: "observations".into(),
            submissions_table: "submissions".into(),
            import_jobs_table: "jobs".into(),
            concurrency: 2,
            safety_margin: Duration::from_secs(1),
            fallback_budget: Duration::from_secs(60),
            max_write_attempts: 4,
            max_object_bytes: 1 << 30,
            max_record_bytes: 64 << 10,
            max_rejected_rows_listed: 1_000,
            lease: Duration::from_secs(30),
        }
    }

    /// Settings that are each in range but make no sense together.
    fn checked(self) -> Result<Self, ConfigError> {
        if self.fallback_budget <= self.safety_margin {
            return Err(ConfigError::Invalid {
                name: "FALLBACK_TIME_BUDGET_SECONDS",
                value: self.fallback_budget.as_secs().to_string(),
                reason: "it must be longer than DEADLINE_SAFETY_MARGIN_MS, or an invocation without a usable \
                         deadline would stop before it starts"
                    .into(),
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_lookup(move |k| map.get(k).cloned())
    }

    const API: [(&str, &str); 3] = [
        ("SUBMISSIONS_TABLE", "t"),
        ("API_ID", "a1b2c3"),
        ("AUDIT_BUCKET", "audit"),
    ];

    fn api_env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        API.iter().chain(extra).copied().collect()
    }

    #[test]
    fn api_config_uses_defaults_when_only_the_table_the_api_and_the_audit_bucket_are_set() {
        let config = ApiConfig::from_env(&env(&API)).unwrap();
        assert_eq!(config.submissions_table, "t");
        assert_eq!(config.max_body_bytes, 65_536);
        assert_eq!(config.idempotency_ttl, Duration::from_secs(86_400));
        assert_eq!(config.scopes, Scopes::default());
        assert_eq!(config.identity, IdentityConfig::for_api("a1b2c3"));
        assert_eq!(config.audit_bucket, "audit");
        assert_eq!(
            (
                config.identity.groups_claim.as_str(),
                config.identity.staff_group.as_str(),
                config.identity.site_group_prefix.as_str()
            ),
            ("cognito:groups", "staff", "site:")
        );
    }

    #[test]
    fn claim_and_group_names_are_configurable_and_must_be_single_tokens() {
        let config = ApiConfig::from_env(&env(&api_env(&[
            ("GROUPS_CLAIM", "https://clinic.example/groups"),
            ("STAFF_GROUP", "clinician"),
            ("SITE_GROUP_PREFIX", "grant:"),
            ("READ_SCOPE", "epro/read"),
        ])))
        .unwrap();
        assert_eq!(config.identity.groups_claim, "https://clinic.example/groups");
        assert_eq!(config.identity.staff_group, "clinician");
        assert_eq!(config.identity.site_group_prefix, "grant:");
        assert_eq!(config.scopes.read, "epro/read");
        for (name, bad) in [
            ("STAFF_GROUP", "has space"),
            ("GROUPS_CLAIM", "tab\there"),
            ("READ_SCOPE", "a b"),
            ("STAFF_GROUP", "site:ALL/ALL"),
        ] {
            let err = ApiConfig::from_env(&env(&api_env(&[(name, bad)]))).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={bad}: {err}"
            );
        }
    }

    #[test]
    fn questionnaire_versions_and_the_study_prefix_are_checked_at_start_up() {
        let config = ApiConfig::from_env(&env(&api_env(&[
            ("QUESTIONNAIRE_VERSIONS", r#"{"intake": {"current": 2}}"#),
            ("STUDY_GROUP_PREFIX", "trial-"),
        ])))
        .unwrap();
        assert_eq!(config.identity.study_group_prefix, "trial-");
        let intake = crate::questionnaire::find("intake").unwrap();
        assert_eq!(config.versions.current(intake, None), 2);
        assert_eq!(
            ApiConfig::from_env(&env(&API)).unwrap().versions,
            VersionPolicy::default()
        );
        for (name, bad) in [
            ("QUESTIONNAIRE_VERSIONS", r#"{"intake": {"retired": [1, 2]}}"#),
            ("QUESTIONNAIRE_VERSIONS", "intake=2"),
            ("STUDY_GROUP_PREFIX", "site:"),
            ("STUDY_GROUP_PREFIX", "si"),
        ] {
            let err = ApiConfig::from_env(&env(&api_env(&[(name, bad)]))).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={bad}: {err}"
            );
        }
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        for missing in ["SUBMISSIONS_TABLE", "API_ID", "AUDIT_BUCKET"] {
            let rest: Vec<_> = API.iter().copied().filter(|(name, _)| *name != missing).collect();
            let err = ApiConfig::from_env(&env(&rest)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
    }

    #[test]
    fn import_config_defaults_and_limits() {
        let tables = [
            ("IMPORT_BUCKET", "b"),
            ("OBSERVATIONS_TABLE", "o"),
            ("SUBMISSIONS_TABLE", "s"),
            ("IMPORT_JOBS_TABLE", "j"),
        ];
        let config = ImportConfig::from_env(&env(&tables)).unwrap();
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.safety_margin, Duration::from_secs(5));
        assert_eq!(config.fallback_budget, Duration::from_secs(60));
        assert_eq!(config.max_record_bytes, 256 * 1024);
        let mut too_many = tables.to_vec();
        too_many.push(("IMPORT_CONCURRENCY", "0"));
        assert!(ImportConfig::from_env(&env(&too_many)).is_err());
    }

    #[test]
    fn a_fallback_budget_no_longer_than_the_margin_is_refused() {
        let settings = [
            ("IMPORT_BUCKET", "b"),
            ("OBSERVATIONS_TABLE", "o"),
            ("SUBMISSIONS_TABLE", "s"),
            ("IMPORT_JOBS_TABLE", "j"),
            ("DEADLINE_SAFETY_MARGIN_MS", "10000"),
            ("FALLBACK_TIME_BUDGET_SECONDS", "10"),
        ];
        let err = ImportConfig::from_env(&env(&settings)).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "FALLBACK_TIME_BUDGET_SECONDS",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_or_out_of_range_numbers_are_rejected_not_defaulted() {
        for bad in ["abc", "0", "-5", "99999999999"] {
            let err = ApiConfig::from_env(&env(&api_env(&[("MAX_BODY_BYTES", bad)]))).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "MAX_BODY_BYTES",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }
}
