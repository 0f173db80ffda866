//! What is wrong with a submission: one [`Violation`] per broken rule, addressed by a JSON pointer, with a stable code.

use schemars::JsonSchema;
use serde::Serialize;
use std::ops::Deref;

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

    /// The path without text the submitter made up: an unknown field's own name becomes `*`. For logs and reports,
    /// which may carry where a problem is but never what was submitted.
    pub fn redacted_path(&self) -> String
    where
        C: Copy + Into<CellCode>,
    {
        match (self.code.into(), self.path.rsplit_once('/')) {
            (CellCode::Rule(ViolationCode::UnknownField), Some((parent, _))) => format!("{parent}/*"),
            _ => self.path.clone(),
        }
    }

    /// The same violation under a wider code set (a JSON cell's violations inside a CSV row).
    pub fn widen<D>(self) -> Violation<D>
    where
        C: Into<D>,
    {
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
    /// Text with characters that change how it reads without being seen: Unicode's default-ignorable code points
    /// (bidirectional overrides, isolates and marks, zero-width characters, soft hyphens, fillers, variation
    /// selectors, tags), or line and paragraph separators. Two texts that look the same must be the same text.
    ForbiddenCharacter,
    /// A text that does not have its required form, e.g. a name outside its character set or a checksum that is not
    /// the base64 of a SHA-256.
    InvalidFormat,
    /// A choice that is not one of the question's options (options are spelled exactly, in lower case).
    UnknownOption,
}

impl ViolationCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Every violation found, up to [`Violations::MAX_LISTED`], and how many more there were: a body of thousands of
/// bad entries gets a bounded answer, and decoding it needs bounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations<C = ViolationCode> {
    listed: Vec<Violation<C>>,
    omitted: u64,
}

impl<C> Default for Violations<C> {
    fn default() -> Self {
        Self {
            listed: Vec::new(),
            omitted: 0,
        }
    }
}

impl<C> Violations<C> {
    pub const MAX_LISTED: usize = 100;

    pub fn push(&mut self, violation: Violation<C>) {
        if self.listed.len() < Self::MAX_LISTED {
            self.listed.push(violation);
        } else {
            self.omitted += 1;
        }
    }

    /// How many violations were found beyond those listed.
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    pub fn is_clean(&self) -> bool {
        self.listed.is_empty()
    }

    /// The same violations under a wider code set.
    pub fn widen<D: From<C>>(self) -> Violations<D> {
        Violations {
            listed: self.listed.into_iter().map(Violation::widen).collect(),
            omitted: self.omitted,
        }
    }

    /// Adds another collection's violations (a nested JSON cell's) to this one, within the same limit.
    pub fn absorb<D: Into<C>>(&mut self, other: Violations<D>) {
        for violation in other.listed {
            self.push(violation.widen());
        }
        self.omitted += other.omitted;
    }

    pub fn into_listed(self) -> Vec<Violation<C>> {
        self.listed
    }
}

impl<C> Deref for Violations<C> {
    type Target = [Violation<C>];

    fn deref(&self) -> &Self::Target {
        &self.listed
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_fields_name_never_leaves_in_a_redacted_path() {
        let unknown = Violation::<ViolationCode>::new("/medicationLogs/2/secretNote", ViolationCode::UnknownField, "");
        assert_eq!(unknown.redacted_path(), "/medicationLogs/2/*");
        let known = Violation::<CellCode>::new("/age", ViolationCode::WrongType, "");
        assert_eq!(known.redacted_path(), "/age");
    }
}
