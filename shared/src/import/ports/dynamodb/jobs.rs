//! Import-job records in DynamoDB.

use super::condition_failed;
use crate::import::ids::IdSecret;
use crate::import::ports::{Claimed, Item, Job, JobStore, Lease, VersionOrder};
use crate::store::StoreError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

/// Import-job records, one item per import id, plus one item per key (`latest#<hash of bucket and key>`) with the
/// latest version's sequencer.
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

/// The job record's attributes beside the summary's.
const ID_SECRET: &str = "idSecret";
const LEASE_OWNER: &str = "leaseOwner";
const LEASE_UNTIL: &str = "leaseUntil";

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(import_id: &str) -> AttributeValue {
        AttributeValue::S(import_id.to_owned())
    }

    fn encode(&self, job: &Job) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(&job.summary).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })?;
        item.insert(ID_SECRET.into(), AttributeValue::B(Blob::new(job.secret.as_bytes())));
        item.insert(LEASE_OWNER.into(), AttributeValue::S(job.lease.owner.clone()));
        item.insert(LEASE_UNTIL.into(), AttributeValue::N(job.lease.until_ms.to_string()));
        Ok(item)
    }

    fn decode(&self, import_id: &str, item: Item) -> Result<Job, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt {
            resource: self.table.clone(),
            key: import_id.to_owned(),
            source: what.to_owned().into(),
        };
        let secret = item
            .get(ID_SECRET)
            .and_then(|v| v.as_b().ok())
            .and_then(|blob| IdSecret::from_bytes(blob.as_ref()))
            .ok_or_else(|| corrupt("the job's id secret is missing or not 32 bytes"))?;
        let lease = Lease {
            owner: item
                .get(LEASE_OWNER)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            until_ms: item
                .get(LEASE_UNTIL)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        };
        let summary = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
            resource: self.table.clone(),
            key: import_id.to_owned(),
            source: e.into(),
        })?;
        Ok(Job { summary, secret, lease })
    }

    async fn get(&self, import_id: &str) -> Result<Option<Job>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("importId", Self::key(import_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("GetItem", &self.table, e))?;
        output.item.map(|item| self.decode(import_id, item)).transpose()
    }
}

impl JobStore for DynamoJobStore {
    async fn claim(&self, new: Job, now_ms: u64) -> Result<Claimed, StoreError> {
        let import_id = new.summary.import_id.clone();
        // A lost race (someone created or took the job between the read and the write) is decided by a new read.
        for _ in 0..3 {
            let Some(existing) = self.get(&import_id).await? else {
                let created = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(self.encode(&new)?))
                    .condition_expression("attribute_not_exists(importId)")
                    .send()
                    .await;
                match created {
                    Ok(_) => return Ok(Claimed::Ours(new)),
                    Err(e) if condition_failed(&e) => continue,
                    Err(e) => return Err(StoreError::backend("PutItem", &self.table, e)),
                }
            };
            if existing.summary.status.is_final() {
                return Ok(Claimed::Finished(existing.summary));
            }
            // Ours already: our own create or takeover was written, but its answer was lost and the retry refused.
            if existing.lease.owner == new.lease.owner {
                return Ok(Claimed::Ours(existing));
            }
            if existing.lease.until_ms > now_ms {
                return Ok(Claimed::Busy(existing.summary));
            }
            let taken = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("importId", Self::key(&import_id))
                .update_expression("SET #owner = :owner, #until = :until")
                .condition_expression("#owner = :seen_owner AND #until = :seen_until")
                .expression_attribute_names("#owner", LEASE_OWNER)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":owner", AttributeValue::S(new.lease.owner.clone()))
                .expression_attribute_values(":until", AttributeValue::N(new.lease.until_ms.to_string()))
                .expression_attribute_values(":seen_owner", AttributeValue::S(existing.lease.owner.clone()))
                .expression_attribute_values(":seen_until", AttributeValue::N(existing.lease.until_ms.to_string()))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            return match taken {
                Ok(output) => {
                    let item = output.attributes.unwrap_or_default();
                    Ok(Claimed::Ours(self.decode(&import_id, item)?))
                }
                // Taken by someone else, or by this very claim (written, answer lost, retried): read again.
                Err(e) if condition_failed(&e) => continue,
                Err(e) => Err(StoreError::backend("UpdateItem", &self.table, e)),
            };
        }
        Err(StoreError::backend(
            "PutItem",
            &self.table,
            "the job kept changing while it was claimed",
        ))
    }

    async fn save(&self, job: &Job) -> Result<bool, StoreError> {
        let saved = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.encode(job)?))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_values(":me", AttributeValue::S(job.lease.owner.clone()))
            .send()
            .await;
        match saved {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend("PutItem", &self.table, e)),
        }
    }

    async fn renew(&self, import_id: &str, owner: &str, until_ms: u64, now_ms: u64) -> Result<bool, StoreError> {
        let renewed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("importId", Self::key(import_id))
            .update_expression("SET #until = :until")
            .condition_expression("#owner = :me AND #until > :now")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":me", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":until", AttributeValue::N(until_ms.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .send()
            .await;
        match renewed {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend("UpdateItem", &self.table, e)),
        }
    }

    async fn record_version(&self, bucket: &str, key: &str, sequencer: &str) -> Result<VersionOrder, StoreError> {
        let recorded = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("importId", Self::key(&latest_key(bucket, key)))
            .update_expression("SET sequencer = :s")
            .condition_expression("attribute_not_exists(sequencer) OR sequencer <= :s")
            .expression_attribute_values(":s", AttributeValue::S(comparable(sequencer)))
            .send()
            .await;
        match recorded {
            Ok(_) => Ok(VersionOrder::Latest),
            Err(e) if condition_failed(&e) => Ok(VersionOrder::Superseded),
            Err(e) => Err(StoreError::backend("UpdateItem", &self.table, e)),
        }
    }
}

/// The item that holds a key's latest version: named by a hash, so that the key itself is not repeated.
fn latest_key(bucket: &str, key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(bucket.as_bytes())
        .chain_update([0])
        .chain_update(key.as_bytes())
        .finalize();
    format!("latest#{}", hex::encode(&digest[..16]))
}

/// A sequencer as text that sorts like the number it stands for: S3 says to compare them as hexadecimal numbers
/// padded to equal length.
pub fn comparable(sequencer: &str) -> String {
    format!("{:0>32}", sequencer.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_compare_as_numbers_once_padded() {
        assert!(comparable("0A1B2C3D4E5F678901") < comparable("0A1B2C3D4E5F678902"));
        assert!(comparable("FF") < comparable("100"));
        assert!(comparable("ab") == comparable("AB"));
    }
}
