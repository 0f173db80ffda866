//! Which versions of each kind a deployment accepts, and which one a submission that names none is read with.
//!
//! Set per deployment in `QUESTIONNAIRE_VERSIONS` (template parameter `QuestionnaireVersions`), a JSON object by
//! kind: `{"intake": {"current": 1, "studies": {"ONCO-7": 2}, "retired": []}}`.
//! - `retired`: versions no longer accepted anywhere; their stored answers stay readable.
//! - `current`: the version for a submission without `schemaVersion`; by default the *oldest* live version, so that
//!   deploying a new version never changes how an existing client's body is read. A study moves to a version when
//!   its amendment is approved, by its entry in `studies`.
//!
//! Every live version is accepted when a client names it; the study (from the caller's groups) only chooses the
//! current one. A caller in several studies whose current versions differ must name the version.

use super::{find, Form, Kind};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// A version's place in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Status {
    /// Accepted from clients (and read).
    Active,
    /// Read, no longer accepted.
    Retired,
}

/// The validated policy of every kind (kinds it does not name: every version live, the oldest current).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionPolicy {
    kinds: BTreeMap<&'static str, KindPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindPolicy {
    #[serde(default)]
    current: Option<u32>,
    #[serde(default)]
    studies: BTreeMap<String, u32>,
    #[serde(default)]
    retired: BTreeSet<u32>,
}

/// Why a submission's version is not accepted; each is a `422` that lists the live versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The named version is retired or does not exist.
    Unsupported { requested: i64, live: Vec<u32> },
    /// No version named, and the caller's studies have different current versions.
    Ambiguous { live: Vec<u32> },
}

impl VersionPolicy {
    /// Parses and checks a policy: every kind and version must exist, a current version must be live, and every
    /// kind must keep a live version.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, KindPolicy> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object of kinds: {e}"))?;
        let mut kinds = BTreeMap::new();
        for (name, policy) in raw {
            let kind = find(&name).ok_or_else(|| format!("unknown questionnaire kind {name:?}"))?;
            let exists = |v: &u32| kind.version(*v).is_some();
            if let Some(v) = policy.retired.iter().find(|v| !exists(v)) {
                return Err(format!("{name}: version {v} is retired but does not exist"));
            }
            if kind.versions().all(|f| policy.retired.contains(&f.version())) {
                return Err(format!("{name}: every version is retired; one must stay live"));
            }
            let usable = |v: u32, what: &str| {
                if !exists(&v) {
                    Err(format!("{name}: {what} version {v} does not exist"))
                } else if policy.retired.contains(&v) {
                    Err(format!("{name}: {what} version {v} is retired"))
                } else {
                    Ok(())
                }
            };
            if let Some(v) = policy.current {
                usable(v, "the current")?;
            }
            for (study, v) in &policy.studies {
                if study.is_empty() || !study.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!("{name}: a study id must be visible ASCII without spaces"));
                }
                usable(*v, &format!("study {study}'s current"))?;
            }
            kinds.insert(kind.name(), policy);
        }
        Ok(Self { kinds })
    }

    fn of(&self, kind: Kind) -> Option<&KindPolicy> {
        self.kinds.get(kind.name())
    }

    /// The status of one version, or `None` when the kind has no such version.
    pub fn status(&self, kind: Kind, version: u32) -> Option<Status> {
        kind.version(version)?;
        let retired = self.of(kind).is_some_and(|p| p.retired.contains(&version));
        Some(if retired { Status::Retired } else { Status::Active })
    }

    /// Every version of `kind` with its status, oldest first.
    pub fn versions(&self, kind: Kind) -> Vec<(u32, Status)> {
        kind.versions()
            .filter_map(|f| Some((f.version(), self.status(kind, f.version())?)))
            .collect()
    }

    /// The versions accepted from clients, oldest first.
    pub fn live(&self, kind: Kind) -> Vec<u32> {
        let versions = self.versions(kind);
        versions
            .into_iter()
            .filter(|(_, s)| *s == Status::Active)
            .map(|(v, _)| v)
            .collect()
    }

    /// The version a submission without `schemaVersion` gets in `study` (or outside any study).
    pub fn current(&self, kind: Kind, study: Option<&str>) -> u32 {
        let policy = self.of(kind);
        let for_study = study.and_then(|s| policy?.studies.get(s).copied());
        let default = policy.and_then(|p| p.current);
        let oldest_live = || self.live(kind).first().copied().unwrap_or(1);
        for_study.or(default).unwrap_or_else(oldest_live)
    }

    /// One line per kind, for the start-up log: each version with its status, the default current one and each
    /// study's, e.g. `intake: v1 retired, v2 active; current v2; ONCO-7 v2`.
    pub fn describe(&self) -> Vec<String> {
        super::names()
            .filter_map(find)
            .map(|kind| {
                let versions: Vec<String> = self
                    .versions(kind)
                    .iter()
                    .map(|(v, status)| format!("v{v} {}", <&str>::from(*status)))
                    .collect();
                let mut line = format!(
                    "{}: {}; current v{}",
                    kind.name(),
                    versions.join(", "),
                    self.current(kind, None)
                );
                for (study, v) in self.of(kind).map(|p| &p.studies).into_iter().flatten() {
                    line.push_str(&format!("; {study} v{v}"));
                }
                line
            })
            .collect()
    }

    /// The version a submission is read with: the one it names if live, else the current one of the caller's
    /// studies (all of them agreeing).
    pub fn choose(&self, kind: Kind, studies: &[&str], requested: Option<i64>) -> Result<&'static dyn Form, Refused> {
        let live = self.live(kind);
        let number = match requested {
            Some(requested) => {
                u32::try_from(requested)
                    .ok()
                    .filter(|v| live.contains(v))
                    .ok_or(Refused::Unsupported {
                        requested,
                        live: live.clone(),
                    })?
            }
            None => {
                let currents: BTreeSet<u32> = if studies.is_empty() {
                    BTreeSet::from([self.current(kind, None)])
                } else {
                    studies.iter().map(|s| self.current(kind, Some(s))).collect()
                };
                match currents.into_iter().collect::<Vec<_>>()[..] {
                    [one] => one,
                    _ => return Err(Refused::Ambiguous { live }),
                }
            }
        };
        kind.version(number).ok_or(Refused::Unsupported {
            requested: i64::from(number),
            live,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake() -> Kind {
        find("intake").unwrap()
    }

    fn chosen(policy: &VersionPolicy, studies: &[&str], requested: Option<i64>) -> Result<u32, Refused> {
        policy.choose(intake(), studies, requested).map(|f| f.version())
    }

    #[test]
    fn by_default_every_version_is_live_and_the_oldest_is_current() {
        let policy = VersionPolicy::default();
        assert_eq!(policy.versions(intake()), [(1, Status::Active), (2, Status::Active)]);
        assert_eq!(chosen(&policy, &[], None), Ok(1));
        assert_eq!(chosen(&policy, &["ONCO-7"], None), Ok(1));
        assert_eq!(chosen(&policy, &[], Some(2)), Ok(2));
        assert_eq!(policy, VersionPolicy::parse("{}").unwrap());
    }

    #[test]
    fn a_study_moves_to_its_version_and_others_keep_the_default() {
        let policy = VersionPolicy::parse(r#"{"intake": {"studies": {"ONCO-7": 2}}}"#).unwrap();
        assert_eq!(chosen(&policy, &["ONCO-7"], None), Ok(2));
        assert_eq!(chosen(&policy, &["CARDIO-2"], None), Ok(1));
        assert_eq!(chosen(&policy, &[], None), Ok(1));
        // Two studies that disagree: the client must say which version it filled in.
        let live = vec![1, 2];
        assert_eq!(
            chosen(&policy, &["ONCO-7", "CARDIO-2"], None),
            Err(Refused::Ambiguous { live })
        );
        assert_eq!(chosen(&policy, &["ONCO-7", "CARDIO-2"], Some(1)), Ok(1));
    }

    #[test]
    fn a_retired_or_unknown_version_is_refused_with_the_live_ones() {
        let policy = VersionPolicy::parse(r#"{"intake": {"current": 2, "retired": [1]}}"#).unwrap();
        assert_eq!(policy.versions(intake()), [(1, Status::Retired), (2, Status::Active)]);
        for requested in [1, 3, 0, -1, i64::from(u32::MAX) + 1] {
            assert_eq!(
                chosen(&policy, &[], Some(requested)),
                Err(Refused::Unsupported {
                    requested,
                    live: vec![2]
                })
            );
        }
        assert_eq!(chosen(&policy, &[], None), Ok(2));
        // Retiring the oldest moves the default on to the oldest live one.
        let policy = VersionPolicy::parse(r#"{"intake": {"retired": [1]}}"#).unwrap();
        assert_eq!(chosen(&policy, &[], None), Ok(2));
    }

    #[test]
    fn the_policy_is_described_kind_by_kind() {
        let policy = VersionPolicy::parse(r#"{"intake": {"retired": [1], "studies": {"ONCO-7": 2}}}"#).unwrap();
        assert_eq!(
            policy.describe(),
            [
                "intake: v1 retired, v2 active; current v2; ONCO-7 v2",
                "daily-pain: v1 active; current v1"
            ]
        );
    }

    #[test]
    fn a_policy_that_cannot_be_followed_is_refused_at_start_up() {
        for (text, why) in [
            (r#"{"intke": {}}"#, "unknown questionnaire kind"),
            (r#"{"intake": {"retired": [1, 2]}}"#, "one must stay live"),
            (r#"{"intake": {"retired": [3]}}"#, "does not exist"),
            (r#"{"intake": {"current": 3}}"#, "does not exist"),
            (r#"{"intake": {"current": 1, "retired": [1]}}"#, "is retired"),
            (
                r#"{"intake": {"studies": {"ONCO-7": 1}, "retired": [1]}}"#,
                "is retired",
            ),
            (r#"{"intake": {"studies": {"ONCO 7": 2}}}"#, "visible ASCII"),
            (r#"{"intake": {"curent": 2}}"#, "unknown field"),
            (r#"[1]"#, "JSON object"),
        ] {
            let err = VersionPolicy::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
