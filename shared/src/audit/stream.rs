//! From DynamoDB Streams to the audit trail: each stream record of a clinical record becomes a [`ChangeRecord`].
//!
//! What is not a change of a clinical record is left out: the idempotency records that share the submissions
//! table, and a write that changed nothing (DynamoDB writes no stream record for one; the local API does, and a
//! record of nothing is noise).

use super::{Change, ChangeAudit, ChangeRecord, Who, Why};
use crate::store::is_idempotency_record;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use serde_json::{Map, Value};

/// What one batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// Stream records in the batch.
    pub received: usize,
    /// Changes written to the audit store.
    pub recorded: usize,
}

/// Records every change of a clinical record in the batch, in one write. An error fails the invocation, so that
/// Lambda delivers the batch again: the event source mapping retries it until it is recorded (and the
/// stream's age alarm tells when that takes too long), never skipping a change.
pub async fn record_stream<A: ChangeAudit>(audit: &A, event: &Event) -> Result<Recorded, super::AuditError> {
    let changes: Vec<ChangeRecord> = event.records.iter().filter_map(change).collect();
    if !changes.is_empty() {
        audit.record_changes(&changes).await?;
    }
    Ok(Recorded {
        received: event.records.len(),
        recorded: changes.len(),
    })
}

/// The change one stream record stands for, if it is a change of a clinical record.
pub fn change(record: &EventRecord) -> Option<ChangeRecord> {
    let stream = &record.change;
    let key = plain(&stream.keys)?;
    if key.get("id").and_then(Value::as_str).is_some_and(is_idempotency_record) {
        return None;
    }
    let before = plain(&stream.old_image);
    let after = plain(&stream.new_image);
    let change = match (record.event_name.as_str(), &before, &after) {
        ("INSERT", _, _) => Change::Create,
        ("MODIFY", before, after) if before == after => return None,
        ("MODIFY", _, _) => Change::Overwrite,
        ("REMOVE", _, _) => Change::Delete,
        _ => return None,
    };
    let (who, why) = match (&after, &record.user_identity) {
        (Some(after), _) => writer(after),
        (None, Some(identity)) if identity.type_ == "Service" && identity.principal_id == DYNAMODB => (
            Who::Service {
                principal: identity.principal_id.clone(),
            },
            Why::Expired,
        ),
        (None, _) => (Who::Unattributed, Why::Unknown),
    };
    let at = stream.approximate_creation_date_time.timestamp_millis();
    Some(ChangeRecord {
        record: "change",
        version: ChangeRecord::VERSION,
        table: table_name(record.event_source_arn.as_deref()).to_owned(),
        key,
        change,
        at: crate::time::rfc3339_millis(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        ),
        event_id: record.event_id.clone(),
        sequence_number: stream.sequence_number.clone().unwrap_or_default(),
        who,
        why,
        before,
        after,
    })
}

/// DynamoDB's own principal, on the records of its TTL deletes.
const DYNAMODB: &str = "dynamodb.amazonaws.com";

/// Who wrote an item and why, from what every write of ours puts into it: an import names its uploader and job, an
/// API submission its caller and request.
fn writer(item: &Map<String, Value>) -> (Who, Why) {
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let import_id = item
        .get("provenance")
        .and_then(|p| p.get("importId"))
        .and_then(Value::as_str);
    if let Some(import_id) = import_id {
        return (
            Who::Uploader {
                principal: text("importedBy"),
            },
            Why::Import {
                import_id: import_id.to_owned(),
            },
        );
    }
    match text("submittedBy") {
        Some(subject) => (
            Who::Caller {
                issuer: text("submitterIssuer"),
                subject,
                client_id: None,
                staff: None,
            },
            text("requestId").map_or(Why::Unknown, |request_id| Why::Request {
                request_id,
                route: None,
            }),
        ),
        None => (Who::Unattributed, Why::Unknown),
    }
}

/// An image as plain JSON (numbers as numbers, sets as lists); `None` for an absent or empty one.
fn plain(image: &serde_dynamo::Item) -> Option<Map<String, Value>> {
    if image.is_empty() {
        return None;
    }
    match serde_dynamo::from_item::<_, Value>(image.clone()) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The table of a stream's ARN (`arn:…:table/<name>/stream/<label>`).
fn table_name(arn: Option<&str>) -> &str {
    arn.and_then(|arn| arn.split_once(":table/"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::memory::MemoryAuditTrail;
    use serde_json::json;

    const ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/ObservationsTable/stream/2026-12-04T15:00:00.000";

    /// A stream record as Lambda delivers it.
    fn record(name: &str, keys: Value, old: Option<Value>, new: Option<Value>) -> Value {
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1_764_860_400.0,
            "Keys": keys,
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        json!({
            "eventID": "c81e728d9d4c2f636f067f89cc14862c",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": ARN,
        })
    }

    fn observation(value: &str, import_id: &str, uploader: &str) -> Value {
        json!({
            "pk": {"S": "CARDIO-7#S01#P-001"}, "sk": {"S": "V1#VITALS#HR"},
            "value": {"S": value}, "importedBy": {"S": uploader},
            "provenance": {"M": {"importId": {"S": import_id}, "line": {"N": "2"}}}
        })
    }

    fn observation_key() -> Value {
        json!({"pk": {"S": "CARDIO-7#S01#P-001"}, "sk": {"S": "V1#VITALS#HR"}})
    }

    fn event(records: Vec<Value>) -> Event {
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn changes(records: Vec<Value>) -> Vec<ChangeRecord> {
        event(records).records.iter().filter_map(change).collect()
    }

    #[test]
    fn an_overwrite_by_an_import_keeps_both_states_the_job_and_the_uploader() {
        let [overwrite] = &changes(vec![record(
            "MODIFY",
            observation_key(),
            Some(observation("72", "import-1", "AWS:AIDA-SITE-1")),
            Some(observation("74", "import-2", "AWS:AIDA-SITE-2")),
        )])[..] else {
            panic!("one change expected")
        };
        assert_eq!(overwrite.change, Change::Overwrite);
        assert_eq!(overwrite.table, "ObservationsTable");
        assert_eq!(
            Value::Object(overwrite.key.clone()),
            json!({"pk": "CARDIO-7#S01#P-001", "sk": "V1#VITALS#HR"})
        );
        assert_eq!(overwrite.before.as_ref().unwrap()["value"], "72");
        assert_eq!(overwrite.after.as_ref().unwrap()["value"], "74");
        assert_eq!(overwrite.after.as_ref().unwrap()["provenance"]["line"], 2);
        assert_eq!(
            overwrite.who,
            Who::Uploader {
                principal: Some("AWS:AIDA-SITE-2".into())
            }
        );
        assert_eq!(
            overwrite.why,
            Why::Import {
                import_id: "import-2".into()
            }
        );
        assert_eq!(overwrite.at, "2025-12-04T15:00:00.000Z");
        assert_eq!(overwrite.sequence_number, "4421584500000000017450439091");
        assert_eq!(overwrite.event_id, "c81e728d9d4c2f636f067f89cc14862c");
    }

    #[test]
    fn a_submission_through_the_api_is_created_by_its_caller_for_its_request() {
        let item = json!({
            "id": {"S": "01JDQ6N9W3X8K2M4P5R7S9T0V1"}, "submittedBy": {"S": "patient-a"},
            "submitterIssuer": {"S": "https://idp.example"}, "requestId": {"S": "req-1"},
            "answers": {"M": {"painLevel": {"N": "3"}}}
        });
        let [created] = &changes(vec![record(
            "INSERT",
            json!({"id": {"S": "01JDQ6N9W3X8K2M4P5R7S9T0V1"}}),
            None,
            Some(item),
        )])[..] else {
            panic!("one change expected")
        };
        assert_eq!(created.change, Change::Create);
        assert!(created.before.is_none());
        assert_eq!(created.after.as_ref().unwrap()["answers"]["painLevel"], 3);
        assert_eq!(
            created.who,
            Who::Caller {
                issuer: Some("https://idp.example".into()),
                subject: "patient-a".into(),
                client_id: None,
                staff: None
            }
        );
        assert_eq!(
            created.why,
            Why::Request {
                request_id: "req-1".into(),
                route: None
            }
        );
    }

    #[test]
    fn a_delete_keeps_the_last_state_and_names_dynamodbs_ttl_or_nobody() {
        let mut expired = record(
            "REMOVE",
            observation_key(),
            Some(observation("72", "import-1", "AWS:u")),
            None,
        );
        expired["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
        let by_hand = record(
            "REMOVE",
            observation_key(),
            Some(observation("72", "import-1", "AWS:u")),
            None,
        );
        let deletes = changes(vec![expired, by_hand]);
        assert!(deletes
            .iter()
            .all(|d| d.change == Change::Delete && d.after.is_none() && d.before.as_ref().unwrap()["value"] == "72"));
        assert_eq!(
            (&deletes[0].who, &deletes[0].why),
            (
                &Who::Service {
                    principal: "dynamodb.amazonaws.com".into()
                },
                &Why::Expired
            )
        );
        assert_eq!((&deletes[1].who, &deletes[1].why), (&Who::Unattributed, &Why::Unknown));
    }

    #[test]
    fn idempotency_records_and_writes_that_change_nothing_are_not_changes_of_clinical_records() {
        let claim = json!({"id": {"S": "idempotency#0af3"}, "requestHash": {"S": "h"}});
        let same = observation("72", "import-1", "AWS:u");
        let left = changes(vec![
            record(
                "INSERT",
                json!({"id": {"S": "idempotency#0af3"}}),
                None,
                Some(claim.clone()),
            ),
            record("REMOVE", json!({"id": {"S": "idempotency#0af3"}}), Some(claim), None),
            record("MODIFY", observation_key(), Some(same.clone()), Some(same)),
        ]);
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn a_batch_is_recorded_in_one_write_and_an_empty_one_in_none() {
        let trail = MemoryAuditTrail::default();
        let batch = event(vec![
            record("INSERT", observation_key(), None, Some(observation("72", "i", "AWS:u"))),
            record(
                "MODIFY",
                observation_key(),
                Some(observation("72", "i", "AWS:u")),
                Some(observation("74", "j", "AWS:u")),
            ),
        ]);
        let recorded = record_stream(&trail, &batch).await.unwrap();
        assert_eq!(
            recorded,
            Recorded {
                received: 2,
                recorded: 2
            }
        );
        assert_eq!(trail.change_batches().len(), 1);
        let nothing = event(vec![record(
            "INSERT",
            json!({"id": {"S": "idempotency#1"}}),
            None,
            Some(json!({"id": {"S": "idempotency#1"}})),
        )]);
        record_stream(&trail, &nothing).await.unwrap();
        assert_eq!(trail.change_batches().len(), 1);
    }

    #[tokio::test]
    async fn a_batch_the_store_refuses_fails_the_invocation_so_it_is_delivered_again() {
        let trail = MemoryAuditTrail::default();
        trail.set_unavailable(true);
        let batch = event(vec![record(
            "INSERT",
            observation_key(),
            None,
            Some(observation("72", "i", "AWS:u")),
        )]);
        assert!(record_stream(&trail, &batch).await.is_err());
        trail.set_unavailable(false);
        record_stream(&trail, &batch).await.unwrap();
        assert_eq!(trail.change_batches().len(), 1);
    }
}
