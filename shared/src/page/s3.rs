//! The page bucket on S3. The bucket is versioned, so emptying it means deleting every version and delete marker;
//! the page holds a handful of objects, so they are listed and deleted one request at a time.

use super::{PageObject, PageStore};
use crate::error::BoxError;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

pub struct S3PageStore {
    client: Client,
}

impl S3PageStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn no_such_bucket(error: &(impl ProvideErrorMetadata + ?Sized)) -> bool {
    error.code() == Some("NoSuchBucket")
}

impl PageStore for S3PageStore {
    async fn put(&self, bucket: &str, object: &PageObject) -> Result<(), BoxError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(&object.key)
            .content_type(object.content_type)
            .cache_control(object.cache_control)
            .body(ByteStream::from(object.body.clone()))
            .send()
            .await?;
        Ok(())
    }

    async fn keys(&self, bucket: &str) -> Result<Vec<String>, BoxError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            keys.extend(page?.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }

    async fn remove(&self, bucket: &str, keys: &[String]) -> Result<(), BoxError> {
        for key in keys {
            self.client.delete_object().bucket(bucket).key(key).send().await?;
        }
        Ok(())
    }

    async fn empty(&self, bucket: &str) -> Result<(), BoxError> {
        // Listed page by page (no paginator for this operation): key and version markers carry on from the last.
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let listed = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(error) if no_such_bucket(&error) => return Ok(()),
                Err(error) => return Err(error.into()),
            };
            versions.extend(
                page.versions()
                    .iter()
                    .map(|v| (v.key().map(str::to_owned), v.version_id().map(str::to_owned))),
            );
            versions.extend(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key().map(str::to_owned), m.version_id().map(str::to_owned))),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        for (key, version) in versions {
            let Some(key) = key else { continue };
            let result = self
                .client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version)
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(error) if no_such_bucket(&error) => return Ok(()),
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}
