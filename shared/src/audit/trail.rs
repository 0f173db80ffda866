//! The audit store's capabilities, one small trait each, and where each record goes in it.
//!
//! Layout (S3 keys; Hive-style partitions so Athena can prune by table and day):
//! - `changes/table=<table>/day=<YYYY-MM-DD>/<first>-<last>.jsonl`: one object per stream batch, one JSON line per
//!   change, named by the batch's first and last sequence numbers (zero-padded, so they sort). A batch written again
//!   (Lambda retries a batch whose answer was lost) has the same name and is not written twice.
//! - `reads/day=<YYYY-MM-DD>/<id>.json`: one object per read, named by its ULID.

use super::{AuditError, ChangeRecord, ReadRecord};
use std::future::Future;

/// Records changes. Appending the same batch again is not an error and stores nothing new.
///
/// # Cancel safety
/// Not cancel safe in the sense that a dropped call may or may not have stored the batch; calling it again with the
/// same batch settles it either way.
pub trait ChangeAudit: Send + Sync {
    fn record_changes(&self, batch: &[ChangeRecord]) -> impl Future<Output = Result<(), AuditError>> + Send;
}

/// Records reads.
pub trait ReadAudit: Send + Sync {
    fn record_read(&self, read: &ReadRecord) -> impl Future<Output = Result<(), AuditError>> + Send;
}

/// The key of a batch of changes (all of one table, in stream order); `None` for an empty batch.
pub fn changes_key(batch: &[ChangeRecord]) -> Option<String> {
    let (first, last) = (batch.first()?, batch.last()?);
    Some(format!(
        "changes/table={}/day={}/{}-{}.jsonl",
        key_part(&first.table),
        day(&first.at),
        padded(&first.sequence_number),
        padded(&last.sequence_number)
    ))
}

pub fn read_key(read: &ReadRecord) -> String {
    format!("reads/day={}/{}.json", day(&read.at), key_part(&read.id))
}

/// The batch as JSON lines.
pub fn changes_body(batch: &[ChangeRecord]) -> Result<Vec<u8>, AuditError> {
    let mut body = Vec::new();
    for record in batch {
        serde_json::to_writer(&mut body, record).map_err(AuditError::Encode)?;
        body.push(b'\n');
    }
    Ok(body)
}

/// `YYYY-MM-DD` of an RFC 3339 time.
fn day(at: &str) -> &str {
    at.get(..10).unwrap_or("unknown")
}

/// Sequence numbers are decimal strings of up to 40 digits; padded to 40 they sort as numbers do.
fn padded(sequence: &str) -> String {
    format!("{:0>40}", key_part(sequence))
}

/// Table names, sequence numbers and ULIDs are safe in a key already; anything else is replaced, never trusted.
fn key_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Change, ReadOutcome, Who, Why};
    use serde_json::Map;

    fn change(table: &str, at: &str, sequence: &str) -> ChangeRecord {
        ChangeRecord {
            record: "change",
            version: 1,
            table: table.into(),
            key: Map::new(),
            change: Change::Create,
            at: at.into(),
            event_id: "e".into(),
            sequence_number: sequence.into(),
            who: Who::Unattributed,
            why: Why::Unknown,
            before: None,
            after: None,
        }
    }

    #[test]
    fn a_batch_is_named_by_table_day_and_its_first_and_last_sequence_numbers() {
        let batch = [
            change("local-Observations", "2026-12-04T15:00:00.000Z", "900"),
            change("local-Observations", "2026-12-05T00:00:01.000Z", "1000"),
        ];
        let key = changes_key(&batch).unwrap();
        assert_eq!(
            key,
            format!(
                "changes/table=local-Observations/day=2026-12-04/{:0>40}-{:0>40}.jsonl",
                900, 1000
            )
        );
        // Later batches of a shard sort after earlier ones, whatever the number of digits.
        let later = changes_key(&[change("local-Observations", "2026-12-04T15:00:00.000Z", "1001")]).unwrap();
        assert!(later > key);
        assert_eq!(changes_key(&[]), None);
    }

    #[test]
    fn nothing_from_a_record_can_change_where_its_key_points() {
        let key = changes_key(&[change("../t/x", "2026-12-04T15:00:00.000Z", "1/2")]).unwrap();
        assert!(key.starts_with("changes/table=.._t_x/day=2026-12-04/"), "{key}");
        assert_eq!(key.matches('/').count(), 3, "{key}");
    }

    #[test]
    fn a_batch_is_one_json_line_per_change() {
        let batch = [
            change("t", "2026-12-04T15:00:00.000Z", "1"),
            change("t", "2026-12-04T15:00:00.000Z", "2"),
        ];
        let body = String::from_utf8(changes_body(&batch).unwrap()).unwrap();
        let lines: Vec<serde_json::Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["sequenceNumber"], "2");
        assert_eq!(lines[0]["who"], serde_json::json!({"kind": "unattributed"}));
    }

    #[test]
    fn a_read_is_filed_under_its_day_and_id() {
        let read = ReadRecord {
            record: "read",
            version: 1,
            id: "01JDQ6N9W3X8K2M4P5R7S9T0V1".into(),
            at: "2026-12-04T15:00:00.000Z".into(),
            who: Who::Unattributed,
            why: Why::Unknown,
            table: "t".into(),
            record_id: "r".into(),
            questionnaire: "intake".into(),
            dataset: None,
            outcome: ReadOutcome::Returned,
        };
        assert_eq!(read_key(&read), "reads/day=2026-12-04/01JDQ6N9W3X8K2M4P5R7S9T0V1.json");
    }
}
