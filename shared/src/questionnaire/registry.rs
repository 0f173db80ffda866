//! The list of accepted kinds, and the type-erased view the HTTP and CSV pipelines work with.

use super::violation::Violations;
use super::{decode, CellCode, Cells, DailyPain, Intake, Json, Questionnaire};
use serde_json::Value;
use std::marker::PhantomData;

/// Every kind this deployment accepts, in order. A new kind is one type plus one entry here.
macro_rules! registry {
    ($($kind:ty),+ $(,)?) => {
        static KINDS: &[&dyn Kind] = &[$(&Registered::<$kind>(PhantomData)),+];

        /// Shows each registered type to `visitor`, for code that needs the types themselves (e.g. their schemas).
        pub fn visit_types(visitor: &mut impl TypeVisitor) {
            $(visitor.visit::<$kind>();)+
        }
    };
}

registry!(Intake, DailyPain);

/// Something done once per registered questionnaire type.
pub trait TypeVisitor {
    fn visit<Q: Questionnaire>(&mut self);
}

/// What the pipelines need from a kind, without knowing its type.
pub trait Kind: Send + Sync {
    fn name(&self) -> &'static str;
    fn schema_version(&self) -> u32;
    /// Decodes and validates JSON answers; on success, the normalised answers as the type serialises them.
    fn accept(&self, value: &Value) -> Result<Value, AcceptError>;
    /// The same for a CSV row given as column → cell text.
    fn accept_cells(&self, row: &Value) -> Result<Value, AcceptError<CellCode>>;
    /// Reads stored answers back through the type, so a reader never sees data the type would not accept.
    fn read(&self, stored: Value) -> Result<Value, serde_json::Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError<C = super::ViolationCode> {
    #[error("the submission has {} violation(s)", .0.len() as u64 + .0.omitted())]
    Invalid(Violations<C>),
    #[error("could not encode the accepted answers")]
    Encode(#[source] serde_json::Error),
}

struct Registered<Q>(PhantomData<fn() -> Q>);

impl<Q: Questionnaire> Registered<Q> {
    fn encode<C>(typed: Result<Q, Violations<C>>) -> Result<Value, AcceptError<C>> {
        let typed = typed.map_err(AcceptError::Invalid)?;
        serde_json::to_value(&typed).map_err(AcceptError::Encode)
    }
}

impl<Q: Questionnaire> Kind for Registered<Q> {
    fn name(&self) -> &'static str {
        Q::KIND
    }

    fn schema_version(&self) -> u32 {
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
}

/// The kind with this name, if registered.
pub fn find(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// Names of all registered kinds, in registration order.
pub fn names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<&'static str>);

    impl TypeVisitor for Names {
        fn visit<Q: Questionnaire>(&mut self) {
            self.0.push(Q::KIND);
        }
    }

    #[test]
    fn the_visited_types_are_the_registered_kinds_in_order() {
        let mut visited = Names(Vec::new());
        visit_types(&mut visited);
        assert_eq!(visited.0, names().collect::<Vec<_>>());
    }
}
