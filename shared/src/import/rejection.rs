//! Why a CSV row was rejected: the questionnaire rules' codes, shared with the API, plus the codes only files have.

use crate::questionnaire::{CellCode, Violation, ViolationCode, Violations};
use serde::Serialize;

/// A rejected row's problem: where (the column, a JSON pointer into a questionnaire row, or empty for the whole row),
/// a code and a message.
pub type Rejection = Violation<RejectionCode>;

/// Stable codes in the rejected-rows report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum RejectionCode {
    /// A questionnaire rule, as the API reports it.
    Rule(ViolationCode),
    /// A problem only a CSV row can have.
    Row(RowCode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RowCode {
    /// A text cell that should hold JSON (a list) but does not parse.
    InvalidJson,
    /// An identifier with spaces before or after it.
    SurroundingSpace,
    /// Text that does not follow its format (e.g. a timestamp that is not RFC 3339).
    InvalidFormat,
    /// A timestamp after the moment of the import.
    InFuture,
    /// A row whose bytes are not UTF-8.
    InvalidUtf8,
    /// A row with more or fewer fields than the header.
    FieldCount,
    /// A valid row that could not be written after all retries.
    WriteFailed,
    /// A row whose processing failed unexpectedly; the row is reported, the import goes on.
    InternalError,
    /// The row has more problems than the report lists for one row; the message says how many.
    MoreViolations,
    /// The row names another study or site than the file's key.
    ScopeMismatch,
}

impl RejectionCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rule(code) => code.as_str(),
            Self::Row(code) => code.into(),
        }
    }
}

impl From<ViolationCode> for RejectionCode {
    fn from(code: ViolationCode) -> Self {
        Self::Rule(code)
    }
}

impl From<RowCode> for RejectionCode {
    fn from(code: RowCode) -> Self {
        Self::Row(code)
    }
}

impl From<CellCode> for RejectionCode {
    fn from(code: CellCode) -> Self {
        match code {
            CellCode::Rule(code) => Self::Rule(code),
            CellCode::InvalidJson => Self::Row(RowCode::InvalidJson),
        }
    }
}

/// A row's violations as report lines: those listed (an unknown member's name inside a JSON cell is the cell's
/// text, so it becomes `*`), and one line counting the rest.
pub fn rejections<C: Copy + Into<RejectionCode> + Into<CellCode>>(violations: Violations<C>) -> Vec<Rejection> {
    let omitted = violations.omitted();
    let mut out: Vec<Rejection> = violations
        .into_listed()
        .into_iter()
        .map(|v| Rejection::new(v.redacted_path(), v.code, v.message))
        .collect();
    if omitted > 0 {
        out.push(Rejection::new(
            "",
            RowCode::MoreViolations,
            format!("{omitted} more violation(s) in this row are not listed"),
        ));
    }
    out
}

/// A problem with the whole row rather than one of its cells.
pub fn whole_row(code: RowCode, message: impl Into<String>) -> Vec<Rejection> {
    vec![Rejection::new("", code, message)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_the_same_in_reports_and_as_json() {
        for code in [
            RejectionCode::Rule(ViolationCode::WrongType),
            RejectionCode::Row(RowCode::FieldCount),
            RejectionCode::from(CellCode::InvalidJson),
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(RejectionCode::from(CellCode::InvalidJson).as_str(), "invalid_json");
    }
}
