//! The list of accepted kinds and their versions, and the type-erased view the HTTP and CSV pipelines work with.

use super::violation::Violations;
use super::{decode, CellCode, Cells, DailyPain, IntakeV1, IntakeV2, Json, Next, Questionnaire};
use serde_json::Value;
use std::marker::PhantomData;

/// Every version of every kind this deployment knows, in order: a kind's versions side by side, oldest first. A new
/// kind, or a new version of one, is one type plus one entry here.
macro_rules! registry {
    ($($form:ty),+ $(,)?) => {
        static FORMS: &[&dyn Form] = &[$(&Registered::<$form>(PhantomData)),+];

        /// Shows each registered type to `visitor`, for code that needs the types themselves (e.g. their schemas).
        pub fn visit_types(visitor: &mut impl TypeVisitor) {
            $(visitor.visit::<$form>();)+
        }
    };
}

registry!(IntakeV1, IntakeV2, DailyPain);

/// Something done once per registered questionnaire type.
pub trait TypeVisitor {
    fn visit<Q: Questionnaire>(&mut self);
}

/// One version of one kind, as the pipelines need it, without its type.
pub trait Form: Send + Sync {
    fn kind(&self) -> &'static str;
    fn version(&self) -> u32;
    /// Decodes and validates JSON answers; on success, the normalised answers as the type serialises them.
    fn accept(&self, value: &Value) -> Result<Value, AcceptError>;
    /// The same for a CSV row given as column → cell text.
    fn accept_cells(&self, row: &Value) -> Result<Value, AcceptError<CellCode>>;
    /// Reads stored answers back through the type, so a reader never sees data the type would not accept.
    fn read(&self, stored: Value) -> Result<Value, serde_json::Error>;
    /// Stored answers of this version as the next version reads them; the latest version returns them as they are.
    fn upgrade(&self, stored: Value) -> Result<Value, UpgradeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError<C = super::ViolationCode> {
    #[error("the submission has {} violation(s)", .0.len() as u64 + .0.omitted())]
    Invalid(Violations<C>),
    #[error("could not encode the accepted answers")]
    Encode(#[source] serde_json::Error),
}

/// Why stored answers could not be given in the latest version.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The answers have no reading in the next version (a stable reason code): an answer for the caller.
    #[error("answers of version {from} have no reading in version {}: {reason}", from + 1)]
    Impossible { from: u32, reason: &'static str },
    /// Stored answers that their own version's type does not read, or an unregistered version: our defect.
    #[error("stored answers of version {version} could not be read or upgraded")]
    Unreadable {
        version: u32,
        #[source]
        source: Option<serde_json::Error>,
    },
}

struct Registered<Q>(PhantomData<fn() -> Q>);

impl<Q: Questionnaire> Registered<Q> {
    fn encode<C>(typed: Result<Q, Violations<C>>) -> Result<Value, AcceptError<C>> {
        let typed = typed.map_err(AcceptError::Invalid)?;
        serde_json::to_value(&typed).map_err(AcceptError::Encode)
    }
}

impl<Q: Questionnaire> Form for Registered<Q> {
    fn kind(&self) -> &'static str {
        Q::KIND
    }

    fn version(&self) -> u32 {
        Q::SCHEMA_VERSION
    }

    fn accept(&self, value: &Value) -> Result<Value, AcceptError> {
        Self::encode(decode::<Q, Json>(value))
    }

    fn accept_cells(&self, row: &Value) -> Result<Value, AcceptError<CellCode>> {
        Self::encode(decode::<Q, Cells>(row))
    }

    fn read(&self, stored: Value) -> Result<Value, serde_json::Error> {
        serde_json::from_value::<Q>(stored).and_then(|typed| serde_json::to_value(&typed))
    }

    fn upgrade(&self, stored: Value) -> Result<Value, UpgradeError> {
        let unreadable = |source| UpgradeError::Unreadable {
            version: Q::SCHEMA_VERSION,
            source: Some(source),
        };
        let typed = serde_json::from_value::<Q>(stored).map_err(unreadable)?;
        let this = serde_json::to_value(&typed).map_err(unreadable)?;
        match typed.upgrade() {
            Next::Latest => Ok(this),
            Next::Upgraded(next) => next.map_err(unreadable),
            Next::Impossible(reason) => Err(UpgradeError::Impossible {
                from: Q::SCHEMA_VERSION,
                reason,
            }),
        }
    }
}

/// A registered kind: its name and its versions.
#[derive(Clone, Copy)]
pub struct Kind {
    name: &'static str,
    /// The kind's versions, oldest first (never empty: a kind is found through one of them).
    forms: &'static [&'static dyn Form],
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kind({} v1..v{})", self.name, self.latest().version())
    }
}

impl Kind {
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Every version, oldest first.
    pub fn versions(self) -> impl Iterator<Item = &'static dyn Form> {
        self.forms.iter().copied()
    }

    /// The version with this number, if the kind has it.
    pub fn version(self, number: u32) -> Option<&'static dyn Form> {
        self.versions().find(|f| f.version() == number)
    }

    pub fn latest(self) -> &'static dyn Form {
        self.forms[self.forms.len() - 1]
    }

    /// Stored answers of version `from` in the latest version, step by step through each version's own upgrade,
    /// and read back through the latest type.
    pub fn upgrade(self, from: u32, stored: Value) -> Result<Value, UpgradeError> {
        let unknown = |version| UpgradeError::Unreadable { version, source: None };
        let latest = self.latest();
        let mut answers = stored;
        let mut at = self.version(from).ok_or_else(|| unknown(from))?;
        while at.version() < latest.version() {
            answers = at.upgrade(answers)?;
            at = self
                .version(at.version() + 1)
                .ok_or_else(|| unknown(at.version() + 1))?;
        }
        latest.read(answers).map_err(|source| UpgradeError::Unreadable {
            version: latest.version(),
            source: Some(source),
        })
    }
}

/// The kind with this name, if registered.
pub fn find(name: &str) -> Option<Kind> {
    let first = FORMS.iter().position(|f| f.kind() == name)?;
    let count = FORMS[first..].iter().take_while(|f| f.kind() == name).count();
    Some(Kind {
        name: FORMS[first].kind(),
        forms: &FORMS[first..first + count],
    })
}

/// Names of all registered kinds, in registration order.
pub fn names() -> impl Iterator<Item = &'static str> {
    FORMS
        .iter()
        .enumerate()
        .filter(|(i, f)| *i == 0 || FORMS[i - 1].kind() != f.kind())
        .map(|(_, f)| f.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Names(Vec<(&'static str, u32)>);

    impl TypeVisitor for Names {
        fn visit<Q: Questionnaire>(&mut self) {
            self.0.push((Q::KIND, Q::SCHEMA_VERSION));
        }
    }

    #[test]
    fn the_visited_types_are_the_registered_versions_in_order() {
        let mut visited = Names(Vec::new());
        visit_types(&mut visited);
        let registered: Vec<_> = names()
            .flat_map(|n| find(n).unwrap().versions().map(move |f| (n, f.version())))
            .collect();
        assert_eq!(visited.0, registered);
        assert_eq!(names().collect::<Vec<_>>(), ["intake", "daily-pain"]);
    }

    #[test]
    fn every_kind_has_versions_one_to_n_side_by_side() {
        for name in names() {
            let versions: Vec<u32> = find(name).unwrap().versions().map(|f| f.version()).collect();
            assert_eq!(versions, (1..=versions.len() as u32).collect::<Vec<_>>(), "{name}");
            let everywhere = FORMS.iter().filter(|f| f.kind() == name).count();
            assert_eq!(
                everywhere,
                versions.len(),
                "{name}: versions must be listed side by side"
            );
        }
    }

    #[test]
    fn upgrading_reads_every_step_and_the_latest_is_read_as_it_is() {
        let intake = find("intake").unwrap();
        let v1 = json!({"patientName": "A", "age": 30, "hasAllergy": true});
        assert_eq!(
            intake.upgrade(1, v1).unwrap(),
            json!({"fullName": "A", "age": 30, "hasAllergy": true, "smokingStatus": "unknown"})
        );
        let v2 = json!({"fullName": "A", "age": 30, "hasAllergy": true, "smokingStatus": "never"});
        assert_eq!(intake.upgrade(2, v2.clone()).unwrap(), v2);
        // Stored answers that their version's type refuses are a defect of ours, not something to pass on.
        let broken = json!({"patientName": "A", "age": 0, "hasAllergy": true});
        assert!(matches!(
            intake.upgrade(1, broken),
            Err(UpgradeError::Unreadable { version: 1, .. })
        ));
        assert!(matches!(
            intake.upgrade(7, json!({})),
            Err(UpgradeError::Unreadable { version: 7, .. })
        ));
    }

    /// A version whose answers cannot always move on: one name split into two is a guess, so it is refused.
    #[derive(Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct OneName {
        name: String,
    }

    impl Questionnaire for OneName {
        const KIND: &'static str = "split";
        const SCHEMA_VERSION: u32 = 1;

        fn decode_fields<S: super::super::Source>(
            f: &mut super::super::decode::Fields<'_>,
            d: &mut super::super::decode::Decoder<S>,
        ) -> Option<Self> {
            Some(Self {
                name: f.required("name", d)?,
            })
        }

        fn upgrade(self) -> Next {
            Next::Impossible("name_not_split")
        }
    }

    #[test]
    fn a_step_that_is_impossible_says_why_by_its_code() {
        let form = Registered::<OneName>(PhantomData);
        match form.upgrade(json!({"name": "Jane Example"})) {
            Err(
                e @ UpgradeError::Impossible {
                    from: 1,
                    reason: "name_not_split",
                },
            ) => {
                assert!(!e.to_string().contains("Jane"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
