//! The list of accepted kinds, and the type-erased view the HTTP and CSV pipelines work with.

use super::{decode, DailyPain, Intake, Questionnaire, Source, Violation};
use serde_json::Value;
use std::marker::PhantomData;

/// Every kind this deployment accepts. A new kind is one type plus one line here.
static KINDS: &[&dyn Kind] = &[
    &Registered::<Intake>(PhantomData),
    &Registered::<DailyPain>(PhantomData),
];

/// What the pipelines need from a kind, without knowing its type.
pub trait Kind: Send + Sync {
    fn name(&self) -> &'static str;
    fn schema_version(&self) -> u32;
    /// Decodes and validates a submission; on success, the normalised answers as the type serialises them.
    fn accept(&self, value: &Value, source: Source) -> Result<Value, AcceptError>;
    /// Reads stored answers back through the type, so a reader never sees data the type would not accept.
    fn read(&self, stored: Value) -> Result<Value, serde_json::Error>;
    /// The JSON Schema of the answers (a reference into the generator's definitions).
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// The schema of a stored submission of this kind as `GET` returns it.
    fn stored_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("the submission has {} violation(s)", .0.len())]
    Invalid(Vec<Violation>),
    #[error("could not encode the accepted answers")]
    Encode(#[source] serde_json::Error),
}

struct Registered<Q>(PhantomData<fn() -> Q>);

impl<Q: Questionnaire> Kind for Registered<Q> {
    fn name(&self) -> &'static str {
        Q::KIND
    }

    fn schema_version(&self) -> u32 {
        Q::SCHEMA_VERSION
    }

    fn accept(&self, value: &Value, source: Source) -> Result<Value, AcceptError> {
        let typed: Q = decode(value, source).map_err(AcceptError::Invalid)?;
        serde_json::to_value(&typed).map_err(AcceptError::Encode)
    }

    fn read(&self, stored: Value) -> Result<Value, serde_json::Error> {
        serde_json::from_value::<Q>(stored).and_then(|typed| serde_json::to_value(&typed))
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Q>()
    }

    fn stored_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<crate::api::StoredView<Q>>()
    }
}

/// The kind with this name, if registered.
pub fn find(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// Names of all registered kinds, in registration order.
pub fn names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name())
}
