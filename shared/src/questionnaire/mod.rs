//! Questionnaire kinds: each one a Rust type with its validation, all behind one registry.

pub mod daily_pain;
pub mod decode;
pub mod intake;
mod registry;

pub use daily_pain::DailyPain;
pub use decode::{Source, Violation, ViolationCode};
pub use intake::Intake;
pub use registry::{find, names, AcceptError, Kind};

use decode::{object, Decoder, Fields};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// One questionnaire kind. Implement it for a new type and add the type to the registry's list.
pub trait Questionnaire: Serialize + DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static {
    /// The `{kind}` path segment and the CSV folder name.
    const KIND: &'static str;
    /// Stored with every submission so readers know which rules applied.
    const SCHEMA_VERSION: u32;
    /// Reads every field (so all violations are reported) and builds the value only if all are valid.
    fn decode_fields(f: &mut Fields<'_>, d: &mut Decoder) -> Option<Self>;
}

/// Decodes a whole submission, reporting every violation, unknown fields included.
pub fn decode<Q: Questionnaire>(value: &Value, source: Source) -> Result<Q, Vec<Violation>> {
    let mut d = Decoder::new(source);
    let q = object(value, "", &mut d, Q::decode_fields);
    d.finish(q)
}

#[cfg(test)]
mod proptests;
