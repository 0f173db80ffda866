//! The questionnaire HTTP API: `POST /questionnaires/{kind}` and `GET /questionnaires/{kind}/{id}`.

mod error;
pub mod openapi;
mod request;
mod response;

pub use error::ApiError;
pub use request::{route, Route};
pub use response::{Receipt, StoredView};

use crate::config::ApiConfig;
use crate::error::truncate;
use crate::questionnaire::{self, AcceptError, Kind};
use crate::store::{IdempotencyClaim, Inserted, SubmissionStore};
use crate::submission::SubmissionRecord;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;
use tracing::Instrument;

/// Handles API requests against a store. Never fails: every error becomes its HTTP response here.
pub struct SubmissionApi<S> {
    store: S,
    config: ApiConfig,
}

impl<S: SubmissionStore> SubmissionApi<S> {
    pub fn new(store: S, config: ApiConfig) -> Self {
        Self { store, config }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let request_id = request::request_id(&request);
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            kind = tracing::field::Empty,
            id = tracing::field::Empty,
        );
        async {
            match self.dispatch(&request, &request_id).await {
                Ok(response) => {
                    tracing::info!(status = response.status().as_u16(), "request handled");
                    response
                }
                Err(error) => error.into_response(&request_id),
            }
        }
        .instrument(span)
        .await
    }

    async fn dispatch(&self, request: &Request, request_id: &str) -> Result<Response<Body>, ApiError> {
        match route(request.method(), request::path_without_stage(request))? {
            Route::Submit { kind } => self.submit(known_kind(kind)?, request, request_id).await,
            Route::Fetch { kind, id } => self.fetch(known_kind(kind)?, id).await,
        }
    }

    async fn submit(&self, kind: &dyn Kind, request: &Request, request_id: &str) -> Result<Response<Body>, ApiError> {
        let key = request::idempotency_key(request.headers())?;
        let body = request::json_body(request, self.config.max_body_bytes)?;
        let answers = kind.accept(&body).map_err(|e| match e {
            AcceptError::Invalid(violations) => ApiError::Validation(violations),
            AcceptError::Encode(e) => ApiError::Internal(e.into()),
        })?;

        let now = OffsetDateTime::now_utc();
        let id = ulid::Ulid::new().to_string();
        tracing::Span::current().record("id", id.as_str());
        let submitted_by = request::caller(request);
        let expires_at = (now + self.config.idempotency_ttl).unix_timestamp();
        let claim =
            key.map(|key| IdempotencyClaim::new(kind.name(), submitted_by.as_deref(), key, &answers, expires_at));
        let record = SubmissionRecord {
            id,
            kind: kind.name().to_owned(),
            received_at: crate::time::rfc3339_millis(now),
            schema_version: kind.schema_version(),
            request_id: request_id.to_owned(),
            submitted_by,
            answers,
            provenance: None,
        };
        match self
            .store
            .insert(&record, claim.as_ref())
            .await
            .map_err(ApiError::StoreUnavailable)?
        {
            Inserted::Created => Ok(created(&Receipt::from(record.reference()))),
            Inserted::Replayed(original) => {
                tracing::info!(original_id = %original.id, "idempotent replay");
                Ok(created(&Receipt::from(original)))
            }
            Inserted::KeyReused => Err(ApiError::IdempotencyConflict),
        }
    }

    async fn fetch(&self, kind: &dyn Kind, id: &str) -> Result<Response<Body>, ApiError> {
        let not_found = || ApiError::NotFound {
            kind: kind.name(),
            id: truncate(id, 64).into_owned(),
        };
        // Only ULIDs are submission ids; anything else cannot exist (and must not reach other item types).
        let id = ulid::Ulid::from_string(id).map_err(|_| not_found())?.to_string();
        tracing::Span::current().record("id", id.as_str());
        let record = self
            .store
            .get(&id)
            .await
            .map_err(ApiError::StoreUnavailable)?
            .filter(|r| r.kind == kind.name())
            .ok_or_else(not_found)?;
        let answers = kind
            .read(record.answers.clone())
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(response::json(
            StatusCode::OK,
            &StoredView {
                id: record.id,
                kind: record.kind,
                received_at: record.received_at,
                schema_version: record.schema_version,
                submitted_by: record.submitted_by,
                answers,
            },
        ))
    }
}

fn known_kind(name: &str) -> Result<&'static dyn Kind, ApiError> {
    let kind = questionnaire::find(name).ok_or_else(|| ApiError::UnknownKind {
        kind: truncate(name, 64).into_owned(),
        known: questionnaire::names().collect::<Vec<_>>().join(", "),
    })?;
    tracing::Span::current().record("kind", kind.name());
    Ok(kind)
}

fn created(receipt: &Receipt) -> Response<Body> {
    let mut response = response::json(StatusCode::CREATED, receipt);
    let location = format!("/questionnaires/{}/{}", receipt.kind, receipt.id);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests;
