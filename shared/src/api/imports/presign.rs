//! Pre-signed S3 requests: the upload of exactly the announced file, and short-lived links to an import's reports.
//! Signed with the function's own credentials, so its role bounds what a URL can do (PUT under `imports/`, GET
//! under `reports/`, `template.yaml`).

use crate::error::BoxError;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::Client;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// A request the caller makes as given: method, URL and every header, for the signature covers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub method: String,
    pub url: String,
    /// Header names in lower case, in the order signed.
    pub headers: Vec<(String, String)>,
}

/// The content type every upload is signed with.
pub const CSV: &str = "text/csv";

pub trait Presigner: Send + Sync {
    /// A PUT of `bucket`/`key` whose signature binds the content length, the content type and the SHA-256
    /// (`x-amz-checksum-sha256`, base64): S3 refuses any other body.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        sha256: &str,
        valid_for: Duration,
    ) -> impl Future<Output = Result<Signed, BoxError>> + Send;

    /// A GET of `bucket`/`key`.
    fn get(
        &self,
        bucket: &str,
        key: &str,
        valid_for: Duration,
    ) -> impl Future<Output = Result<Signed, BoxError>> + Send;
}

/// Signs with the SDK's client (offline: signing needs credentials, no request).
pub struct S3Presigner {
    client: Client,
}

impl S3Presigner {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn config(valid_for: Duration) -> Result<PresigningConfig, BoxError> {
    let config = PresigningConfig::builder()
        .start_time(SystemTime::now())
        .expires_in(valid_for)
        .build()?;
    Ok(config)
}

/// The request to hand out.
fn signed(request: PresignedRequest) -> Signed {
    let url = request.uri().to_owned();
    let headers = request
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
    Signed {
        method: request.method().to_owned(),
        headers: only_signed(&url, headers),
        url,
    }
}

/// The headers a pre-signed URL's signature covers (`X-Amz-SignedHeaders`), names in lower case: the SDK also adds
/// others, such as the invocation's trace id in Lambda, which the caller has no use for.
fn only_signed(url: &str, headers: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let signed = url
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .map(|names| names.replace("%3B", ";").to_ascii_lowercase())
        .unwrap_or_default();
    let signed: Vec<&str> = signed.split(';').collect();
    headers
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| signed.contains(&name.as_str()))
        .collect()
}

impl Presigner for S3Presigner {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        sha256: &str,
        valid_for: Duration,
    ) -> Result<Signed, BoxError> {
        let size = i64::try_from(size)?;
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(size)
            .content_type(CSV)
            .checksum_sha256(sha256)
            .presigned(config(valid_for)?)
            .await
            .map_err(|e| {
                format!(
                    "signing a PutObject failed: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(signed(request))
    }

    async fn get(&self, bucket: &str, key: &str, valid_for: Duration) -> Result<Signed, BoxError> {
        let request = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config(valid_for)?)
            .await
            .map_err(|e| {
                format!(
                    "signing a GetObject failed: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(signed(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn signer() -> S3Presigner {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-central-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "tests"))
            .build();
        S3Presigner::new(Client::from_conf(config))
    }

    fn query<'u>(url: &'u str, name: &str) -> Option<&'u str> {
        url.split_once('?')?
            .1
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    const SHA256: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    /// What S3 checks of a pre-signed PUT is what its signature covers: the length, the type and the checksum must be
    /// among the signed headers (S3 then refuses a request whose headers differ) and must be sent as given.
    #[tokio::test]
    async fn an_upload_url_signs_the_length_the_type_and_the_checksum() {
        let key = "imports/observations/STUDY/SITE-1/01JEQ2Z6T3M0V1ZP8Y7K4N5B6C.csv";
        let signed = signer()
            .put("bucket", key, 1234, SHA256, Duration::from_secs(900))
            .await
            .unwrap();
        assert_eq!(signed.method, "PUT");
        assert!(signed.url.contains(key), "{}", signed.url);
        assert_eq!(query(&signed.url, "X-Amz-Expires"), Some("900"));
        let signed_headers = query(&signed.url, "X-Amz-SignedHeaders").unwrap().replace("%3B", ";");
        let signed_headers: Vec<&str> = signed_headers.split(';').collect();
        for header in ["content-length", "content-type", "host", "x-amz-checksum-sha256"] {
            assert!(signed_headers.contains(&header), "{header} not in {signed_headers:?}");
        }
        let sent: std::collections::HashMap<&str, &str> =
            signed.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(sent.get("content-length"), Some(&"1234"));
        assert_eq!(sent.get("content-type"), Some(&CSV));
        assert_eq!(sent.get("x-amz-checksum-sha256"), Some(&SHA256));
        // Every signed header but the host is one the caller is told to send.
        for header in signed_headers.iter().filter(|h| **h != "host") {
            assert!(
                sent.contains_key(header),
                "{header} is signed but not among the headers to send"
            );
        }
    }

    #[test]
    fn only_the_signed_headers_are_handed_out() {
        let url = "https://b.s3.example/k?X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Expires=900";
        let headers = [
            ("Content-Length", "12"),
            ("content-type", "text/csv"),
            ("x-amzn-trace-id", "Root=1-00000000-000000000000000000000000"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(
            only_signed(url, headers.into_iter()),
            [("content-length", "12"), ("content-type", "text/csv")].map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
    }

    #[tokio::test]
    async fn a_report_link_is_a_get_valid_for_the_time_asked() {
        let signed = signer()
            .get(
                "bucket",
                "reports/observations/x/1.summary.json",
                Duration::from_secs(300),
            )
            .await
            .unwrap();
        assert_eq!(signed.method, "GET");
        assert_eq!(query(&signed.url, "X-Amz-Expires"), Some("300"));
    }
}
