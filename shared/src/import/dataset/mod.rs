//! Datasets: what a CSV file under `imports/` contains, chosen by its key prefix. Each dataset is a typed row with
//! validation; the import pipeline is generic over [`Dataset`].

mod observations;
mod questionnaires;

pub use observations::Observations;
pub use questionnaires::QuestionnaireRows;

use super::ids::IdSecret;
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
    /// The names of the table's primary-key attributes: what identifies an item DynamoDB hands back unprocessed.
    fn key_attributes(&self) -> &'static [&'static str];
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
            if let Some(first) = index.insert(name.clone(), i) {
                return Err(format!(
                    "columns {} and {} of the header have the same name",
                    first + 1,
                    i + 1
                ));
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

    /// Checks a fixed column set: all `required` present, nothing outside `required` and `optional`. Messages name
    /// the dataset's own columns and the positions of the file's, never the file's text.
    pub fn expect(&self, required: &[&str], optional: &[&str]) -> Result<(), String> {
        let expected = || [required, optional].concat().join(", ");
        let known = |name: &str| required.contains(&name) || optional.contains(&name);
        let unknown = self.positions_where(|name| !known(name));
        if unknown.len() == self.len() {
            return Err(looks_like_data(&expected()));
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !self.index.contains_key(*c))
            .collect();
        let problems = column_problems(&missing, &unknown);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{problems}; expected columns: {}", expected()))
        }
    }

    /// 1-based positions of the columns whose names match `pick`.
    pub fn positions_where(&self, pick: impl Fn(&str) -> bool) -> Vec<usize> {
        self.names
            .iter()
            .enumerate()
            .filter(|(_, name)| pick(name))
            .map(|(i, _)| i + 1)
            .collect()
    }
}

/// The message for a first row that names none of the expected columns.
pub fn looks_like_data(expected: &str) -> String {
    format!(
        "the first row names none of the expected columns, so it looks like data: is the header missing? The first \
         row must name the columns ({expected})"
    )
}

/// "missing required column(s): …; unknown column(s) at position(s): …", each list cut short so that a header with
/// thousands of stray columns still gives a readable message.
pub fn column_problems(missing: &[impl AsRef<str>], unknown_positions: &[usize]) -> String {
    fn list<T: ToString>(items: &[T]) -> String {
        const SHOWN: usize = 10;
        let mut out: Vec<String> = items.iter().take(SHOWN).map(ToString::to_string).collect();
        if items.len() > SHOWN {
            out.push(format!("and {} more", items.len() - SHOWN));
        }
        out.join(", ")
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(AsRef::as_ref).collect();
        problems.push(format!("missing required column(s): {}", list(&names)));
    }
    if !unknown_positions.is_empty() {
        problems.push(format!("unknown column(s) at position(s): {}", list(unknown_positions)));
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

/// What a row's item records besides its own cells. Borrowed from the file's facts: nothing is copied per row.
pub struct RowContext<'a> {
    /// The file's provenance, shared by its rows ([`RowContext::provenance`] is this row's).
    pub file: &'a Provenance,
    /// The line of the file where the row starts.
    pub line: u64,
    /// The import's secret, for ids that must not be computable from public facts.
    pub id_secret: &'a IdSecret,
    pub request_id: &'a str,
    pub uploader: Option<&'a str>,
    /// When the import started: "not in the future" is judged against it, and it is the import timestamp.
    pub now: OffsetDateTime,
    /// `now` as stored (RFC 3339 with milliseconds), formatted once per file.
    pub imported_at: &'a str,
    /// When the object was last modified; the time part of derived ids.
    pub object_time: OffsetDateTime,
}

impl RowContext<'_> {
    /// Where this row came from: its file and line.
    pub fn provenance(&self) -> Provenance {
        Provenance {
            line: self.line,
            ..self.file.clone()
        }
    }
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
        assert_eq!(
            Header::new(vec!["a".into(), "b".into(), " a ".into()]).unwrap_err(),
            "columns 1 and 3 of the header have the same name"
        );
        assert!(Header::new(vec!["a".into(), "".into()])
            .unwrap_err()
            .contains("no name"));
    }

    #[test]
    fn header_lists_missing_and_unknown_columns_together() {
        let header = Header::new(vec!["b".into(), "Jane Example".into()]).unwrap();
        let err = header.expect(&["a", "b"], &["c"]).unwrap_err();
        assert!(err.contains("missing required column(s): a"), "{err}");
        assert!(err.contains("unknown column(s) at position(s): 2"), "{err}");
        assert!(!err.contains("Jane"), "the file's text is not echoed: {err}");
        assert!(Header::new(vec!["c".into(), "b".into(), "a".into()])
            .unwrap()
            .expect(&["a", "b"], &["c"])
            .is_ok());
    }
    #[test]
    fn a_header_with_thousands_of_stray_columns_gives_a_short_message() {
        let mut names: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        names[0] = "a".into();
        let err = Header::new(names).unwrap().expect(&["a"], &[]).unwrap_err();
        assert!(
            err.contains("unknown column(s) at position(s): 2, 3,") && err.contains("and 99989 more"),
            "{err}"
        );
        assert!(err.len() < 300, "{} bytes", err.len());
    }

    #[test]
    fn a_first_row_naming_no_expected_column_is_taken_for_data() {
        let header = Header::new(vec!["ST-1".into(), "Jane Example".into()]).unwrap();
        let err = header.expect(&["a", "b"], &[]).unwrap_err();
        assert!(err.contains("is the header missing?"), "{err}");
        assert!(!err.contains("Jane"), "{err}");
    }
}
