//! The answer to CloudFormation: one HTTPS PUT to the pre-signed `ResponseURL`, through the HTTP connector the AWS
//! SDK already brings (hyper 1 with rustls 0.23 and the system's roots), so that no second HTTP stack is added to
//! the function. The URL is signed for a PUT without a content type, so none is sent.
//!
//! The PUT is bounded twice: here by a connect and a read timeout, whatever the caller does, and by the handler
//! ([`super::resource::handle`]) by the invocation's deadline, so that a response URL that never answers ends the
//! invocation in an error Lambda retries instead of one that times out.

use super::Responder;
use crate::error::BoxError;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::http::Request;
use aws_smithy_types::body::SdkBody;
use std::time::Duration;

/// S3, which serves the response URLs, accepts a connection in milliseconds; one not made by then is not coming.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The wait for the answer's HTTP status once the connection is made (a document of under 4 KiB to S3).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct HttpsResponder {
    connector: Connector,
}

impl Default for HttpsResponder {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpsResponder {
    pub fn new() -> Self {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build();
        let connector = Connector::builder()
            .connector_settings(settings)
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build();
        Self { connector }
    }
}

impl Responder for HttpsResponder {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), BoxError> {
        let request = http::Request::builder()
            .method("PUT")
            .uri(url)
            .header("content-length", body.len())
            .body(SdkBody::from(body))?;
        let response = self.connector.call(Request::try_from(request)?).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(format!("the response URL answered HTTP {status}").into());
        }
        Ok(())
    }
}
