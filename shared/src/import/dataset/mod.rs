//! Datasets: what a CSV file under `imports/` contains, chosen by its key prefix. Each dataset is a typed row with
//! validation; the import pipeline is generic over [`Dataset`].

mod observations;
mod questionnaires;

pub use observations::Observations;
pub use questionnaires::QuestionnaireRows;

use super::ports::Item;
use super::rejection::{whole_row, Rejection, RowCode};
use crate::config::ImportConfig;
use crate::provenance::Provenance;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Every dataset: a key prefix and how to build the dataset from the rest of the key. A new dataset is one type
/// plus one line here.
const DATASETS: &[(&str, Constructor)] = &[
    ("imports/observations/", Observations::for_key),
    ("imports/questionnaires/", QuestionnaireRows::for_key),
];

type Constructor = fn(rest_of_key: &str, config: &ImportConfig) -> Result<Box<dyn Dataset>, String>;

/// The dataset for a decoded key, or why there is none.
pub fn for_key(key: &str, config: &ImportConfig) -> Result<Box<dyn Dataset>, String> {
    for (prefix, build) in DATASETS {
        if let Some(rest) = key.strip_prefix(prefix) {
            return build(rest, config);
        }
    }
    let known: Vec<&str> = DATASETS.iter().map(|(p, _)| *p).collect();
    Err(format!("no dataset for this key; known prefixes: {}", known.join(", ")))
}

/// One kind of CSV row.
pub trait Dataset: Send + Sync {
    /// Name used in reports and logs, e.g. `observations` or `questionnaires/intake`.
    fn name(&self) -> String;
    /// The table the rows are written to.
    fn table(&self) -> &str;
    /// Checks the header; an error rejects the whole file before anything is written.
    fn check_header(&self, header: &Header) -> Result<(), String>;
    /// Decodes and validates one row into the item to write.
    fn decode(&self, row: &Row<'_>, at: &RowContext<'_>) -> Result<WriteItem, Vec<Rejection>>;
}

/// The header of a file: column names in file order.
#[derive(Debug, Clone)]
pub struct Header {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    /// Column names must be unique and non-empty (surrounding spaces are ignored).
    pub fn new(names: Vec<String>) -> Result<Self, String> {
        let names: Vec<String> = names.into_iter().map(|n| n.trim().to_owned()).collect();
        let mut index = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(format!("column {} of the header has no name", i + 1));
            }
            if index.insert(name.clone(), i).is_some() {
                return Err(format!("column {name:?} appears more than once in the header"));
            }
        }
        Ok(Self { names, index })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Checks a fixed column set: all `required` present, nothing outside `required` and `optional`.
    pub fn expect(&self, required: &[&str], optional: &[&str]) -> Result<(), String> {
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !self.index.contains_key(*c))
            .collect();
        let unknown: Vec<&str> = self
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !required.contains(n) && !optional.contains(n))
            .collect();
        let problems = column_problems(&missing, &unknown);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{problems}; expected columns: {}",
                [required, optional].concat().join(", ")
            ))
        }
    }
}

/// "missing required column(s): …; unknown column(s): …", each list cut short so that a header with thousands of
/// stray columns still gives a readable message.
pub fn column_problems(missing: &[impl AsRef<str>], unknown: &[impl AsRef<str>]) -> String {
    fn list(names: &[impl AsRef<str>]) -> String {
        const SHOWN: usize = 10;
        let mut out: Vec<&str> = names.iter().take(SHOWN).map(AsRef::as_ref).collect();
        let more = names.len().saturating_sub(SHOWN);
        let more = format!("and {more} more");
        if names.len() > SHOWN {
            out.push(&more);
        }
        out.join(", ")
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing required column(s): {}", list(missing)));
    }
    if !unknown.is_empty() {
        problems.push(format!("unknown column(s): {}", list(unknown)));
    }
    problems.join("; ")
}

/// One data row, its cells already checked to be UTF-8 and as many as the header's columns.
pub struct Row<'a> {
    header: &'a Header,
    cells: &'a [&'a str],
}

impl<'a> Row<'a> {
    pub fn new(header: &'a Header, cells: &'a [&'a str]) -> Self {
        debug_assert_eq!(header.len(), cells.len());
        Self { header, cells }
    }

    /// The cell of a column, if the header has it.
    pub fn get(&self, column: &str) -> Option<&'a str> {
        self.header.index.get(column).map(|&i| self.cells[i])
    }

    /// (column, cell) pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.header
            .names
            .iter()
            .map(String::as_str)
            .zip(self.cells.iter().copied())
    }
}

/// What a row's item records besides its own cells.
pub struct RowContext<'a> {
    pub provenance: &'a Provenance,
    pub request_id: &'a str,
    pub uploader: Option<&'a str>,
    /// When the import started: "not in the future" is judged against it, and it is the import timestamp.
    pub now: OffsetDateTime,
    /// When the object was last modified; the time part of deterministic ids.
    pub object_time: OffsetDateTime,
}

/// A row's item as DynamoDB attributes; failing to encode it is reported for that row, not for the file.
pub fn encode(value: &impl serde::Serialize) -> Result<Item, Vec<Rejection>> {
    serde_dynamo::to_item(value)
        .map_err(|e| whole_row(RowCode::InternalError, format!("the row could not be encoded: {e}")))
}

/// An item ready for `BatchWriteItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteItem {
    /// The primary key, textually; two rows with the same `key` overwrite each other.
    pub key: String,
    pub item: Item,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rejects_duplicates_and_blank_names() {
        assert!(Header::new(vec!["a".into(), " a ".into()])
            .unwrap_err()
            .contains("more than once"));
        assert!(Header::new(vec!["a".into(), "".into()])
            .unwrap_err()
            .contains("no name"));
    }

    #[test]
    fn header_lists_missing_and_unknown_columns_together() {
        let header = Header::new(vec!["b".into(), "x".into()]).unwrap();
        let err = header.expect(&["a", "b"], &["c"]).unwrap_err();
        assert!(err.contains("missing required column(s): a"), "{err}");
        assert!(err.contains("unknown column(s): x"), "{err}");
        assert!(Header::new(vec!["c".into(), "b".into(), "a".into()])
            .unwrap()
            .expect(&["a", "b"], &["c"])
            .is_ok());
    }
    #[test]
    fn a_header_with_thousands_of_stray_columns_gives_a_short_message() {
        let header = Header::new((0..100_000).map(|i| format!("c{i}")).collect()).unwrap();
        let err = header.expect(&["a"], &[]).unwrap_err();
        assert!(
            err.contains("unknown column(s): c0, c1,") && err.contains("and 99990 more"),
            "{err}"
        );
        assert!(err.len() < 300, "{} bytes", err.len());
    }
}
