//! Questionnaire kinds: each one a Rust type with its validation, all behind one registry.
//!
//! The layer below everything else: it knows nothing of HTTP, storage or files.

pub mod daily_pain;
pub mod decode;
pub mod intake;
mod registry;
pub mod values;
pub mod violation;

pub use daily_pain::DailyPain;
pub use decode::{Cells, Json, Source};
pub use intake::Intake;
pub use registry::{find, names, visit_types, AcceptError, Kind, TypeVisitor};
pub use violation::{CellCode, Violation, ViolationCode, Violations};

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
    fn decode_fields<S: Source>(f: &mut Fields<'_>, d: &mut Decoder<S>) -> Option<Self>;
}

/// Decodes a whole submission, reporting every violation, unknown fields included.
pub fn decode<Q: Questionnaire, S: Source>(value: &Value) -> Result<Q, Violations<S::Code>> {
    let mut d = Decoder::<S>::new();
    let q = object(value, "", &mut d, Q::decode_fields);
    d.finish(q)
}

#[cfg(test)]
mod tests;
