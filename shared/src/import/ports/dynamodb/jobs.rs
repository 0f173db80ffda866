//! Import jobs in DynamoDB: one item per import id, and per object key one item (`latest#<hash of bucket and key>`)
//! with the latest version's sequencer, the import that may write the key, and the key's questionnaire id basis.
//! Every decision is one of `job`'s rules on what a strongly consistent read returned, written under a condition
//! that the item is still what was read; a lost race is decided again from a new read.

use super::condition_failed;
use crate::import::ids::IdSecret;
use crate::import::job::{self, Claim, Decision, Hold, IdBasis, Job, KeyRecord, Lease, LiveProgress, Progress, Turn};
use crate::import::ports::{Claimed, Entered, Item, JobStore, UploadStore};
use crate::import::upload::{self, Arrival, ArrivalWrite, ObjectFacts, Upload, UploadState};
use crate::store::StoreError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

pub struct DynamoJobStore {
    pub(super) client: Client,
    pub(super) table: String,
}

/// The job record's attributes beside the summary's (and the key record's, for the id basis).
const ID_SECRET: &str = "idSecret";
const ID_TIME: &str = "idTime";
const UPLOADER: &str = "uploader";
const LEASE_OWNER: &str = "leaseOwner";
const LEASE_UNTIL: &str = "leaseUntil";
const CONTINUATION: &str = "continuation";
const FENCED_BY: &str = "fencedBy";
const PARTS: &str = "reportPartRefs";
/// The progress written with the last renewal (a save replaces the record without it: the summary then says).
pub(crate) const LIVE_PROGRESS: &str = "liveProgress";
/// The key record's.
const SEQUENCER: &str = "sequencer";
const ACTIVE: &str = "active";

/// How often a lost race is decided again before the store gives up.
const RACES: usize = 5;

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn encode(&self, job: &Job) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(&job.summary).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })?;
        item.insert(
            ID_SECRET.into(),
            AttributeValue::B(Blob::new(job.ids.secret.as_bytes())),
        );
        item.insert(ID_TIME.into(), n(job.ids.time_ms));
        item.insert(LEASE_OWNER.into(), s(&job.lease.owner));
        item.insert(LEASE_UNTIL.into(), n(job.lease.until_ms));
        let optional = [
            (UPLOADER, &job.uploader),
            (CONTINUATION, &job.continuation),
            (FENCED_BY, &job.fenced_by),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                item.insert(name.into(), s(value));
            }
        }
        if !job.parts.is_empty() {
            let parts = serde_dynamo::to_attribute_value(&job.parts).map_err(|e| StoreError::Encode {
                resource: self.table.clone(),
                source: e.into(),
            })?;
            item.insert(PARTS.into(), parts);
        }
        Ok(item)
    }

    /// The renewal's progress, with when it was measured.
    fn live(&self, progress: Progress, now_ms: u64) -> Result<AttributeValue, StoreError> {
        let live = LiveProgress::measured(progress, now_ms);
        serde_dynamo::to_attribute_value(&live).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })
    }

    fn corrupt(&self, id: &str, what: &str) -> StoreError {
        StoreError::Corrupt {
            resource: self.table.clone(),
            key: id.to_owned(),
            source: what.to_owned().into(),
        }
    }

    fn decode_ids(&self, id: &str, item: &Item) -> Result<IdBasis, StoreError> {
        let secret = item
            .get(ID_SECRET)
            .and_then(|v| v.as_b().ok())
            .and_then(|blob| IdSecret::from_bytes(blob.as_ref()))
            .ok_or_else(|| self.corrupt(id, "the id secret is missing or not 32 bytes"))?;
        let time_ms = number(item, ID_TIME).ok_or_else(|| self.corrupt(id, "the id time is missing"))?;
        Ok(IdBasis { secret, time_ms })
    }

    fn decode(&self, import_id: &str, item: Item) -> Result<Job, StoreError> {
        let ids = self.decode_ids(import_id, &item)?;
        let lease = Lease {
            owner: text(&item, LEASE_OWNER).unwrap_or_default(),
            until_ms: number(&item, LEASE_UNTIL).unwrap_or(0),
        };
        let (uploader, continuation, fenced_by) =
            (text(&item, UPLOADER), text(&item, CONTINUATION), text(&item, FENCED_BY));
        let parts = match item.get(PARTS) {
            Some(parts) => serde_dynamo::from_attribute_value(parts.clone()).map_err(|e| StoreError::Corrupt {
                resource: self.table.clone(),
                key: import_id.to_owned(),
                source: e.into(),
            })?,
            None => Vec::new(),
        };
        let summary = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
            resource: self.table.clone(),
            key: import_id.to_owned(),
            source: e.into(),
        })?;
        Ok(Job {
            summary,
            ids,
            uploader,
            lease,
            continuation,
            fenced_by,
            parts,
        })
    }

    pub(super) async fn get_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("importId", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("GetItem", &self.table, e))?;
        Ok(output.item)
    }

    pub(super) async fn get(&self, import_id: &str) -> Result<Option<Job>, StoreError> {
        let item = self.get_item(import_id).await?;
        item.map(|item| self.decode(import_id, item)).transpose()
    }

    async fn key_record(&self, id: &str) -> Result<KeyRecord, StoreError> {
        let Some(item) = self.get_item(id).await? else {
            return Ok(KeyRecord::default());
        };
        Ok(KeyRecord {
            sequencer: text(&item, SEQUENCER),
            active: text(&item, ACTIVE),
            ids: self.decode_ids(id, &item).ok(),
        })
    }

    /// Writes `job` whole if the stored lease is `seen` (`None`: if there is no job), keeping a fence the job does
    /// not know of: `Ok(false)` if the condition failed.
    async fn put(&self, job: &Job, seen: Option<&Lease>) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.encode(job)?));
        put = match seen {
            None => put.condition_expression("attribute_not_exists(importId)"),
            Some(lease) => {
                let fence = match &job.fenced_by {
                    Some(by) => {
                        put = put.expression_attribute_values(":fence", s(by));
                        "(attribute_not_exists(#fence) OR #fence = :fence)"
                    }
                    None => "attribute_not_exists(#fence)",
                };
                put.condition_expression(format!("#owner = :owner AND #until = :until AND {fence}"))
                    .expression_attribute_names("#owner", LEASE_OWNER)
                    .expression_attribute_names("#until", LEASE_UNTIL)
                    .expression_attribute_names("#fence", FENCED_BY)
                    .expression_attribute_values(":owner", s(&lease.owner))
                    .expression_attribute_values(":until", n(lease.until_ms))
            }
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend("PutItem", &self.table, e)),
        }
    }

    fn gave_up(&self, operation: &'static str) -> StoreError {
        StoreError::backend(operation, &self.table, "the record kept changing while it was written")
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

impl JobStore for DynamoJobStore {
    async fn claim(&self, claim: &Claim, lease: &Lease, now_ms: u64) -> Result<Claimed, StoreError> {
        for _ in 0..RACES {
            let stored = self.get(claim.import_id()).await?;
            match job::decide(stored, claim, lease, now_ms) {
                Decision::Create(job) => {
                    if self.put(&job, None).await? {
                        return Ok(Claimed::Ours(job));
                    }
                }
                Decision::TakeOver { seen, job } => {
                    if self.put(&job, Some(&seen)).await? {
                        return Ok(Claimed::Ours(job));
                    }
                }
                Decision::Ours(job) => return Ok(Claimed::Ours(job)),
                Decision::Finished(summary) => return Ok(Claimed::Finished(summary)),
                Decision::Busy(summary) => return Ok(Claimed::Busy(summary)),
                Decision::Refused(reason) => return Ok(Claimed::Refused(reason)),
            }
        }
        Err(self.gave_up("PutItem"))
    }

    async fn save(&self, job: &Job) -> Result<bool, StoreError> {
        for _ in 0..RACES {
            let Some(stored) = self.get(&job.summary.import_id).await? else {
                return Ok(false);
            };
            let Some(saved) = job::saved(&stored, job) else {
                return Ok(false);
            };
            if self.put(&saved, Some(&stored.lease)).await? {
                return Ok(true);
            }
        }
        Err(self.gave_up("PutItem"))
    }

    async fn renew(
        &self,
        import_id: &str,
        owner: &str,
        until_ms: u64,
        now_ms: u64,
        progress: Option<Progress>,
    ) -> Result<Hold, StoreError> {
        let mut update = self.client.update_item();
        update = match progress {
            Some(progress) => update
                .update_expression("SET #until = :until, #live = :live")
                .expression_attribute_names("#live", LIVE_PROGRESS)
                .expression_attribute_values(":live", self.live(progress, now_ms)?),
            None => update.update_expression("SET #until = :until"),
        };
        let renewed = update
            .table_name(&self.table)
            .key("importId", s(import_id))
            .condition_expression("#owner = :me AND #until > :now AND attribute_not_exists(#fence)")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#fence", FENCED_BY)
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match renewed {
            Ok(_) => Ok(Hold::Held),
            // Which it is, from what is stored now; a hold that reads as held was not renewed, so counts as lost.
            Err(e) if condition_failed(&e) => match self.hold(import_id, owner, now_ms).await? {
                Hold::Held => Ok(Hold::Lost),
                other => Ok(other),
            },
            Err(e) => Err(StoreError::backend("UpdateItem", &self.table, e)),
        }
    }

    async fn hold(&self, import_id: &str, owner: &str, now_ms: u64) -> Result<Hold, StoreError> {
        Ok(job::hold(self.get(import_id).await?.as_ref(), owner, now_ms))
    }

    async fn enter(&self, job: &Job, now_ms: u64) -> Result<Entered, StoreError> {
        let id = latest_key(&job.summary.bucket, &job.summary.key);
        let mine = s(&job::comparable(job.summary.sequencer.as_deref().unwrap_or("")));
        for _ in 0..RACES {
            let key = self.key_record(&id).await?;
            let active = match key.active.as_deref().filter(|a| *a != job.summary.import_id) {
                Some(other) => self.get(other).await?,
                None => None,
            };
            match job::turn(&key, active.as_ref(), job, now_ms) {
                Turn::Superseded => return Ok(Entered::Superseded),
                Turn::Take { seen } => {
                    let writer = match &seen {
                        Some(_) => "#active = :seen",
                        None => "attribute_not_exists(#active)",
                    };
                    let mut update = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .key("importId", s(&id))
                        .update_expression(
                            "SET #seq = :mine, #active = :me, #secret = if_not_exists(#secret, :secret), \
                             #time = if_not_exists(#time, :time)",
                        )
                        .condition_expression(format!("(attribute_not_exists(#seq) OR #seq <= :mine) AND {writer}"))
                        .expression_attribute_names("#seq", SEQUENCER)
                        .expression_attribute_names("#active", ACTIVE)
                        .expression_attribute_names("#secret", ID_SECRET)
                        .expression_attribute_names("#time", ID_TIME)
                        .expression_attribute_values(":mine", mine.clone())
                        .expression_attribute_values(":me", s(&job.summary.import_id))
                        .expression_attribute_values(":secret", AttributeValue::B(Blob::new(job.ids.secret.as_bytes())))
                        .expression_attribute_values(":time", n(job.ids.time_ms))
                        .return_values(ReturnValue::AllNew);
                    if let Some(seen) = &seen {
                        update = update.expression_attribute_values(":seen", s(seen));
                    }
                    match update.send().await {
                        Ok(output) => {
                            let item = output.attributes.unwrap_or_default();
                            return Ok(Entered::Writing(self.decode_ids(&id, &item)?));
                        }
                        Err(e) if condition_failed(&e) => continue,
                        Err(e) => return Err(StoreError::backend("UpdateItem", &self.table, e)),
                    }
                }
                Turn::Stop { active } => {
                    let recorded = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .key("importId", s(&id))
                        .update_expression("SET #seq = :mine")
                        .condition_expression("attribute_not_exists(#seq) OR #seq <= :mine")
                        .expression_attribute_names("#seq", SEQUENCER)
                        .expression_attribute_values(":mine", mine.clone())
                        .send()
                        .await;
                    match recorded {
                        Ok(_) => {}
                        Err(e) if condition_failed(&e) => continue,
                        Err(e) => return Err(StoreError::backend("UpdateItem", &self.table, e)),
                    }
                    let fenced = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .key("importId", s(&active))
                        .update_expression("SET #fence = :me")
                        .condition_expression("attribute_exists(importId) AND attribute_not_exists(#fence)")
                        .expression_attribute_names("#fence", FENCED_BY)
                        .expression_attribute_values(":me", s(&job.summary.import_id))
                        .send()
                        .await;
                    return match fenced {
                        // Fenced already (by this import or a newer one), or gone: either way, wait and look again.
                        Ok(_) => Ok(Entered::Waiting),
                        Err(e) if condition_failed(&e) => Ok(Entered::Waiting),
                        Err(e) => Err(StoreError::backend("UpdateItem", &self.table, e)),
                    };
                }
            }
        }
        Err(self.gave_up("UpdateItem"))
    }

    async fn arrive(
        &self,
        upload_id: &str,
        key: &str,
        import_id: &str,
        facts: &ObjectFacts,
        now: &str,
    ) -> Result<Arrival, StoreError> {
        let stored = self.upload(upload_id).await?;
        let (arrival, write) = upload::arrive(stored.as_ref(), key, facts);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("importId", s(upload_id));
        let update = match write {
            ArrivalWrite::Nothing => return Ok(arrival),
            ArrivalWrite::Attach => update
                .update_expression("SET #state = :attached, #job = :job, #at = :now REMOVE #refusal")
                .condition_expression("#type = :upload")
                .expression_attribute_values(":job", s(import_id)),
            // Never over an attachment made meanwhile.
            ArrivalWrite::Refuse(refusal) => update
                .update_expression("SET #state = :refused, #refusal = :refusal, #at = :now REMOVE #job")
                .condition_expression("#type = :upload AND #state <> :attached")
                .expression_attribute_values(":refused", self.encode_value(&UploadState::Refused)?)
                .expression_attribute_values(":refusal", s(refusal.as_str())),
        };
        let written = update
            .expression_attribute_names("#state", "uploadState")
            .expression_attribute_names("#job", "jobId")
            .expression_attribute_names("#at", "arrivedAt")
            .expression_attribute_names("#refusal", "refusal")
            .expression_attribute_names("#type", "recordType")
            .expression_attribute_values(":attached", self.encode_value(&UploadState::Attached)?)
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":upload", s(Upload::RECORD_TYPE))
            .send()
            .await;
        match written {
            Ok(_) => Ok(arrival),
            Err(e) if condition_failed(&e) => Ok(arrival),
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

#[cfg(test)]
mod tests {
    use crate::import::job::comparable;

    #[test]
    fn sequencers_compare_as_numbers_once_padded() {
        assert!(comparable("0A1B2C3D4E5F678901") < comparable("0A1B2C3D4E5F678902"));
        assert!(comparable("FF") < comparable("100"));
        assert!(comparable("ab") == comparable("AB"));
    }
}
