//! Configuration read once at start-up from the environment that `template.yaml` sets.

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
    /// The OAuth2 scopes that grant each operation.
    pub scopes: Scopes,
}

/// OAuth2 resource-server scopes, as an identity provider such as Cognito issues them. API Gateway checks them per
/// route (`template.yaml`); the function checks them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    /// Submitting questionnaires (`SUBMIT_SCOPE`, default `questionnaires/submit`).
    pub submit: String,
    /// Reading one's own submissions (`READ_SCOPE`, default `questionnaires/read`).
    pub read: String,
    /// Staff: reading every submission, imported ones included (`STAFF_SCOPE`, default `questionnaires/read-all`).
    pub staff: String,
}

impl Default for Scopes {
    fn default() -> Self {
        Self {
            submit: "questionnaires/submit".into(),
            read: "questionnaires/read".into(),
            staff: "questionnaires/read-all".into(),
        }
    }
}

impl Scopes {
    fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let scope = |name: &'static str, default: String| {
            let value = env.parsed_or(name, default, |s: &String| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
            })?;
            Ok::<_, ConfigError>(value)
        };
        let scopes = Self {
            submit: scope("SUBMIT_SCOPE", defaults.submit)?,
            read: scope("READ_SCOPE", defaults.read)?,
            staff: scope("STAFF_SCOPE", defaults.staff)?,
        };
        if scopes.submit == scopes.staff || scopes.read == scopes.staff {
            return Err(ConfigError::Invalid {
                name: "STAFF_SCOPE",
                value: scopes.staff,
                reason: "the staff scope must differ from the submit and read scopes".into(),
            });
        }
        Ok(scopes)
    }
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
        })
    }
}

/// Settings of the CSV import function.
#[derive(Debug, Clone)]
pub struct ImportConfig {
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
}

impl ImportConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            observations_table: env.required("OBSERVATIONS_TABLE")?,
            submissions_table: env.required("SUBMISSIONS_TABLE")?,
            import_jobs_table: env.required("IMPORT_JOBS_TABLE")?,
            concurrency: env.parsed_or("IMPORT_CONCURRENCY", 8, |n| (1..=64).contains(n))?,
            safety_margin: Duration::from_millis(
                env.parsed_or("DEADLINE_SAFETY_MARGIN_MS", 5_000, |ms| (100..=300_000).contains(ms))?,
            ),
            fallback_budget: env.seconds_or("FALLBACK_TIME_BUDGET_SECONDS", 60, |s| (1..=900).contains(s))?,
            max_write_attempts: env.parsed_or("MAX_WRITE_ATTEMPTS", 8, |n| (1..=20).contains(n))?,
        })
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

    #[test]
    fn api_config_uses_defaults_when_only_the_table_is_set() {
        let config = ApiConfig::from_env(&env(&[("SUBMISSIONS_TABLE", "t")])).unwrap();
        assert_eq!(config.submissions_table, "t");
        assert_eq!(config.max_body_bytes, 65_536);
        assert_eq!(config.idempotency_ttl, Duration::from_secs(86_400));
        assert_eq!(config.scopes.submit, "questionnaires/submit");
        assert_eq!(config.scopes.read, "questionnaires/read");
        assert_eq!(config.scopes.staff, "questionnaires/read-all");
    }

    #[test]
    fn scope_names_are_configurable_and_staff_must_be_its_own_scope() {
        let config = ApiConfig::from_env(&env(&[("SUBMISSIONS_TABLE", "t"), ("STAFF_SCOPE", "epro/all")])).unwrap();
        assert_eq!(config.scopes.staff, "epro/all");
        for bad in ["questionnaires/read", "has space"] {
            let err = ApiConfig::from_env(&env(&[("SUBMISSIONS_TABLE", "t"), ("STAFF_SCOPE", bad)])).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "STAFF_SCOPE",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_table_names_the_variable() {
        let err = ApiConfig::from_env(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("SUBMISSIONS_TABLE"), "{err}");
    }

    #[test]
    fn import_config_defaults_and_limits() {
        let tables = [
            ("OBSERVATIONS_TABLE", "o"),
            ("SUBMISSIONS_TABLE", "s"),
            ("IMPORT_JOBS_TABLE", "j"),
        ];
        let config = ImportConfig::from_env(&env(&tables)).unwrap();
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.safety_margin, Duration::from_secs(5));
        assert_eq!(config.fallback_budget, Duration::from_secs(60));
        let mut too_many = tables.to_vec();
        too_many.push(("IMPORT_CONCURRENCY", "0"));
        assert!(ImportConfig::from_env(&env(&too_many)).is_err());
    }

    #[test]
    fn invalid_or_out_of_range_numbers_are_rejected_not_defaulted() {
        for bad in ["abc", "0", "-5", "99999999999"] {
            let err = ApiConfig::from_env(&env(&[("SUBMISSIONS_TABLE", "t"), ("MAX_BODY_BYTES", bad)])).unwrap_err();
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
