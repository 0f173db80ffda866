//! Questionnaire kinds: each one a Rust type with its validation, all behind one registry.
//!
//! The layer below everything else: it knows nothing of HTTP, storage or files.

pub mod daily_pain;
pub mod decode;
pub mod intake;
mod registry;
pub mod values;
pub mod versions;
pub mod violation;

pub use daily_pain::DailyPain;
pub use decode::{Cells, Json, Source};
pub use intake::{IntakeV1, IntakeV2};
pub use registry::{find, names, visit_types, AcceptError, Form, Kind, TypeVisitor, UpgradeError};
pub use versions::{Refused, Status, VersionPolicy};
pub use violation::{CellCode, Violation, ViolationCode, Violations};

use decode::{object, Decoder, Fields};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// One questionnaire kind. Implement it for a new type and add the type to the registry's list.
pub trait Questionnaire: Serialize + DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static {
    /// The `{kind}` path segment and the CSV folder name.
    const KIND: &'static str;
    /// Stored with every submission so readers know which rules applied. The versions of a kind are 1, 2, … with
    /// no gaps, each a type of its own (the registry's tests check it).
    const SCHEMA_VERSION: u32;
    /// Reads every field (so all violations are reported) and builds the value only if all are valid.
    fn decode_fields<S: Source>(f: &mut Fields<'_>, d: &mut Decoder<S>) -> Option<Self>;
    /// These answers as the kind's next version reads them. The latest version has none; every other version
    /// implements this step by hand (never by matching field names), or says why an answer cannot move on.
    fn upgrade(self) -> Next {
        Next::Latest
    }
}

/// What becomes of answers in the kind's next version.
#[derive(Debug)]
pub enum Next {
    /// This is the kind's latest version.
    Latest,
    /// The answers in the next version, as that version's type serialises them.
    Upgraded(Result<Value, serde_json::Error>),
    /// These answers have no reading in the next version; the reason is a stable code (never an answer's value).
    Impossible(&'static str),
}

impl Next {
    /// The step to `next`, a value of the next version's type.
    pub fn to<N: Questionnaire>(next: N) -> Self {
        Self::Upgraded(serde_json::to_value(&next))
    }
}

/// Decodes a whole submission, reporting every violation, unknown fields included.
pub fn decode<Q: Questionnaire, S: Source>(value: &Value) -> Result<Q, Violations<S::Code>> {
    let mut d = Decoder::<S>::new();
    let q = object(value, "", &mut d, Q::decode_fields);
    d.finish(q)
}

#[cfg(test)]
mod tests;
