//! Announced uploads in the jobs table: one item per upload id (a ULID, beside the jobs' hex ids), listed per site
//! through the sparse `bySite` index (only upload items carry `siteKey`), newest first.

use super::condition_failed;
use super::jobs::{s, DynamoJobStore, LIVE_PROGRESS};
use crate::import::job::JobView;
use crate::import::ports::{Item, UploadStore};
use crate::import::upload::Upload;
use crate::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

/// The jobs table's index of uploads by site (`template.yaml`).
pub const SITE_INDEX: &str = "bySite";

impl DynamoJobStore {
    pub(super) fn encode_value(&self, value: &impl Serialize) -> Result<AttributeValue, StoreError> {
        serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })
    }

    fn decode_upload(&self, id: &str, item: Item) -> Result<Upload, StoreError> {
        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
            resource: self.table.clone(),
            key: id.to_owned(),
            source: e.into(),
        })
    }
}

impl UploadStore for DynamoJobStore {
    async fn upload(&self, upload_id: &str) -> Result<Option<Upload>, StoreError> {
        let Some(item) = self.get_item(upload_id).await? else {
            return Ok(None);
        };
        let is_upload = item.get("recordType").and_then(|v| v.as_s().ok()).map(String::as_str);
        if is_upload != Some(Upload::RECORD_TYPE) {
            return Ok(None);
        }
        self.decode_upload(upload_id, item).map(Some)
    }

    async fn announce(&self, upload: &Upload) -> Result<bool, StoreError> {
        let item = serde_dynamo::to_item(upload).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(importId)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend("PutItem", &self.table, e)),
        }
    }

    async fn uploads_of_site(
        &self,
        site_key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Upload>, bool), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SITE_INDEX)
            .key_condition_expression("siteKey = :site")
            .expression_attribute_values(":site", s(site_key))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if let Some(after) = after {
            query = query.set_exclusive_start_key(Some(
                [("siteKey", site_key), ("importId", after)]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), s(v)))
                    .collect(),
            ));
        }
        let output = query
            .send()
            .await
            .map_err(|e| StoreError::backend("Query", &self.table, e))?;
        let more = output.last_evaluated_key.is_some();
        let uploads = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let id = item
                    .get("importId")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                self.decode_upload(&id, item)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((uploads, more))
    }

    async fn job_view(&self, import_id: &str) -> Result<Option<JobView>, StoreError> {
        let Some(mut item) = self.get_item(import_id).await? else {
            return Ok(None);
        };
        let live = match item.remove(LIVE_PROGRESS) {
            Some(live) => serde_dynamo::from_attribute_value(live).ok(),
            None => None,
        };
        let summary = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
            resource: self.table.clone(),
            key: import_id.to_owned(),
            source: e.into(),
        })?;
        Ok(Some(JobView { summary, live }))
    }
}
