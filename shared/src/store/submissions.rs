//! Questionnaire submissions and their idempotency records, in one DynamoDB table keyed by `id`.
//!
//! A submission's `id` is a ULID; an idempotency record's `id` is `idempotency#<hash>`, so the two never collide and a
//! GET (which only accepts ULIDs) can never return an idempotency record.

use super::StoreError;
use crate::submission::{SubmissionRecord, SubmissionRef};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;

/// The prefix of idempotency records' ids: they share the table with submissions but are not clinical records.
const IDEMPOTENCY_PREFIX: &str = "idempotency#";

/// Whether an item id of the submissions table is an idempotency record's rather than a submission's.
pub fn is_idempotency_record(id: &str) -> bool {
    id.starts_with(IDEMPOTENCY_PREFIX)
}

/// A request to remember an `Idempotency-Key` together with what was submitted under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// `idempotency#` + SHA-256 of kind, issuer, subject and key: keys are scoped per caller and kind.
    pub id: String,
    /// SHA-256 of the normalised answers: the same answers replay, different answers conflict.
    pub request_hash: String,
    /// Unix seconds now: a stored claim that expired before this counts as absent.
    pub now: i64,
    /// Unix seconds after which the claim no longer counts (and DynamoDB's TTL may delete it, lazily).
    pub expires_at: i64,
}

/// Whose key it is: the caller's issuer and subject.
#[derive(Debug, Clone, Copy)]
pub struct KeyOwner<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
}

impl IdempotencyClaim {
    pub fn new(kind: &str, owner: KeyOwner<'_>, key: &str, answers: &Value, now: i64, expires_at: i64) -> Self {
        let scope = sha256_hex([
            kind.as_bytes(),
            b"\0",
            owner.issuer.as_bytes(),
            b"\0",
            owner.subject.as_bytes(),
            b"\0",
            key.as_bytes(),
        ]);
        // serde_json writes a `Value` deterministically; the answers come from a typed struct, so field order is fixed.
        let body = serde_json::to_vec(answers).unwrap_or_default();
        Self {
            id: format!("{IDEMPOTENCY_PREFIX}{scope}"),
            request_hash: sha256_hex([kind.as_bytes(), b"\0", &body]),
            now,
            expires_at,
        }
    }
}

fn sha256_hex<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Outcome of an insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now.
    Created,
    /// The key was used before with the same answers: here is the original submission; nothing new was stored.
    Replayed(SubmissionRef),
    /// The key was used before with different answers; nothing was stored.
    KeyReused,
}

/// The capability the submission API needs from storage.
pub trait SubmissionStore: Send + Sync {
    /// Stores a new submission; with a claim, atomically together with the idempotency record.
    fn insert(
        &self,
        record: &SubmissionRecord,
        claim: Option<&IdempotencyClaim>,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send;

    fn get(&self, id: &str) -> impl Future<Output = Result<Option<SubmissionRecord>, StoreError>> + Send;
}

/// The idempotency record as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyItem {
    id: String,
    request_hash: String,
    expires_at: i64,
    /// What the first request was answered with (the field name is part of the stored format).
    receipt: SubmissionRef,
}

pub struct DynamoSubmissionStore {
    client: Client,
    table: String,
}

impl DynamoSubmissionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
        serde_dynamo::to_item(value).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })
    }

    /// A put that must not overwrite an item, except (for `expired_before`) a claim that expired before then.
    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        expired_before: Option<i64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        put = match expired_before {
            Some(now) => put
                .condition_expression("attribute_not_exists(id) OR expiresAt < :now")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string())),
            None => put.condition_expression("attribute_not_exists(id)"),
        };
        let put = put
            .build()
            .map_err(|e| StoreError::backend("TransactWriteItems", &self.table, e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn get_item<T: serde::de::DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("GetItem", &self.table, e))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    resource: self.table.clone(),
                    key: id.to_owned(),
                    source: e.into(),
                })
            })
            .transpose()
    }

    async fn insert_with_claim(
        &self,
        record: &SubmissionRecord,
        claim: &IdempotencyClaim,
    ) -> Result<Inserted, StoreError> {
        let claim_item = self.encode(&IdempotencyItem {
            id: claim.id.clone(),
            request_hash: claim.request_hash.clone(),
            expires_at: claim.expires_at,
            receipt: record.reference(),
        })?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(claim_item, Some(claim.now))?)
            .transact_items(self.put(self.encode(record)?, None)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Inserted::Created),
            Err(e) if claim_was_taken(&e) => {
                // The key is already claimed: the transaction wrote nothing. Decide from the stored claim.
                let existing: Option<IdempotencyItem> = self.get_item(&claim.id).await?;
                match existing {
                    Some(item) if item.expires_at < claim.now => {
                        // Expired between the write and this read: the client's retry will take the key.
                        Err(StoreError::backend("TransactWriteItems", &self.table, e))
                    }
                    Some(item) if item.request_hash == claim.request_hash => Ok(Inserted::Replayed(item.receipt)),
                    Some(_) => Ok(Inserted::KeyReused),
                    // Expired and deleted in between: let the client retry, which will then succeed.
                    None => Err(StoreError::backend("TransactWriteItems", &self.table, e)),
                }
            }
            Err(e) => Err(StoreError::backend("TransactWriteItems", &self.table, e)),
        }
    }
}

/// Whether a cancelled transaction failed because the idempotency record (its first item) already exists.
fn claim_was_taken(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .first()
            .and_then(|reason| reason.code())
            .is_some_and(|code| code == "ConditionalCheckFailed"),
        _ => false,
    }
}

impl SubmissionStore for DynamoSubmissionStore {
    async fn insert(
        &self,
        record: &SubmissionRecord,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Inserted, StoreError> {
        if let Some(claim) = claim {
            return self.insert_with_claim(record, claim).await;
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.encode(record)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Inserted::Created),
            // The id is a fresh ULID: an item with it can only be this request's own earlier attempt, written
            // before its answer was lost and the SDK retried. The submission is stored.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                tracing::warn!(id = %record.id, "put retried after a lost answer; the first attempt had stored it");
                Ok(Inserted::Created)
            }
            Err(e) => Err(StoreError::backend("PutItem", &self.table, e)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<SubmissionRecord>, StoreError> {
        self.get_item(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner<'a>(issuer: &'a str, subject: &'a str) -> KeyOwner<'a> {
        KeyOwner { issuer, subject }
    }

    #[test]
    fn claims_are_scoped_by_kind_issuer_and_subject() {
        let answers = json!({"painLevel": 3});
        let claim =
            |kind, issuer, subject| IdempotencyClaim::new(kind, owner(issuer, subject), "k1", &answers, 0, 0).id;
        let a = claim("daily-pain", "idp", "alice");
        assert_ne!(a, claim("daily-pain", "idp", "bob"));
        assert_ne!(a, claim("intake", "idp", "alice"));
        assert_ne!(a, claim("daily-pain", "other-idp", "alice"));
        assert!(is_idempotency_record(&a));
        assert!(!is_idempotency_record(&ulid::Ulid::new().to_string()));
    }

    #[test]
    fn the_same_answers_hash_alike_and_different_answers_differently() {
        let claim = |answers| IdempotencyClaim::new("daily-pain", owner("i", "s"), "k", &answers, 0, 0);
        let a = claim(json!({"painLevel": 3}));
        let b = claim(json!({"painLevel": 3}));
        let c = claim(json!({"painLevel": 4}));
        assert_eq!(a.request_hash, b.request_hash);
        assert_ne!(a.request_hash, c.request_hash);
    }
}
