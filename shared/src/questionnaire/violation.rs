//! What is wrong with a submission: one [`Violation`] per broken rule, addressed by a JSON pointer, with a stable code.

use schemars::JsonSchema;
use serde::Serialize;

/// One problem with one value, addressed by a JSON pointer (RFC 6901) into the submitted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Violation<C = ViolationCode> {
    pub path: String,
    pub code: C,
    pub message: String,
}

impl<C> Violation<C> {
    pub fn new(path: impl Into<String>, code: impl Into<C>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// The same violation under a wider code set (a JSON cell's violations inside a CSV row).
    pub fn widen<D: From<C>>(self) -> Violation<D> {
        Violation {
            path: self.path,
            code: self.code.into(),
            message: self.message,
        }
    }
}

/// Stable, machine-readable codes of the questionnaire rules; API clients may switch on them. These are exactly the
/// codes the API returns; CSV imports report them too, beside codes of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema, strum::IntoStaticStr, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ViolationCode {
    /// A required field is absent (or, in a CSV cell, empty).
    Missing,
    /// The value has the wrong type, e.g. a string where an integer is required.
    WrongType,
    /// A field that the questionnaire does not define; clinical data is never dropped silently.
    UnknownField,
    /// A number outside its allowed range.
    OutOfRange,
    /// A text shorter than allowed (after trimming).
    TooShort,
    /// A text longer than allowed.
    TooLong,
    /// A list with more entries than allowed.
    TooManyItems,
    /// Text with control characters (NUL, line breaks, escapes), which no single-line answer contains.
    ControlCharacter,
}

impl ViolationCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Codes of questionnaire answers read from CSV cells: the rules, plus a cell that should hold JSON and does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellCode {
    Rule(ViolationCode),
    /// A text cell that should hold a JSON list but does not parse.
    InvalidJson,
}

impl From<ViolationCode> for CellCode {
    fn from(code: ViolationCode) -> Self {
        Self::Rule(code)
    }
}

/// `(path, code)` pairs: what tests compare.
#[cfg(test)]
pub fn paths_and_codes<C: Copy>(violations: &[Violation<C>]) -> Vec<(String, C)> {
    violations.iter().map(|v| (v.path.clone(), v.code)).collect()
}
