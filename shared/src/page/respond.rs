//! The answer to CloudFormation: one HTTPS PUT to the pre-signed `ResponseURL`, through the HTTP connector the AWS
//! SDK already brings (hyper 1 with rustls 0.23 and the system's roots), so that no second HTTP stack is added to
//! the function. The URL is signed for a PUT without a content type, so none is sent.

use super::Responder;
use crate::error::BoxError;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::http::Request;
use aws_smithy_types::body::SdkBody;

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
        let connector = Connector::builder()
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
