//! The HTTP API, for callers that API Gateway's JWT authorizer has authenticated: the questionnaire routes
//! (`POST /questionnaires/{kind}`, `GET /questionnaires/{kind}/{id}`) here, the import routes in `imports` (a
//! function of their own). Identity, errors, responses and the audit line are shared.

mod audit;
mod error;
pub mod identity;
pub mod imports;
pub mod openapi;
mod request;
mod response;

pub use error::ApiError;
pub use identity::Caller;
pub use request::{route, Route};
pub use response::{Receipt, StoredView};

use crate::audit::{ReadAudit, ReadOutcome};
use crate::config::ApiConfig;
use crate::error::truncate;
use crate::questionnaire::{self, AcceptError, Kind, Refused, UpgradeError};
use crate::store::{IdempotencyClaim, Inserted, KeyOwner, SubmissionStore};
use crate::submission::SubmissionRecord;
use crate::telemetry::metrics;
use audit::Audit;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;
use tracing::Instrument;

/// Handles API requests against a store, recording each read in the audit trail. Never fails: every error becomes
/// its HTTP response here.
pub struct SubmissionApi<S, A> {
    store: S,
    audit: A,
    config: ApiConfig,
}

impl<S: SubmissionStore, A: ReadAudit> SubmissionApi<S, A> {
    pub fn new(store: S, audit: A, config: ApiConfig) -> Self {
        Self { store, audit, config }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn audit(&self) -> &A {
        &self.audit
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let dispatch = async |request_id: &str, audit: &mut Audit| self.dispatch(&request, request_id, audit).await;
        answer(&request, dispatch, |audit, status, code| {
            if audit.route == Some(Route::SUBMIT) {
                metrics::submission_answered(status, code);
            }
        })
        .await
    }

    async fn dispatch(
        &self,
        request: &Request,
        request_id: &str,
        audit: &mut Audit,
    ) -> Result<Response<Body>, ApiError> {
        // Identity first, on every path: without it the caller learns nothing, not even which routes exist.
        let caller = identity::caller(request, &self.config.identity).map_err(|untrusted| {
            tracing::warn!(reason = untrusted.code(), "no trusted identity in the event");
            ApiError::Unauthenticated
        })?;
        let caller = audit.caller.insert(caller).clone();
        let route = route(request.method(), request::path_without_stage(request))?;
        audit.route = Some(route.template());
        let scopes = &self.config.scopes;
        match route {
            Route::Submit { kind } => {
                require(&caller, &[&scopes.submit])?;
                let kind = audit.known_kind(kind)?;
                self.submit(kind, &caller, request, request_id, audit).await
            }
            Route::Fetch { kind, id } => {
                require(&caller, &[&scopes.read])?;
                let kind = audit.known_kind(kind)?;
                self.fetch(kind, &caller, request, id, request_id, audit).await
            }
        }
    }

    async fn submit(
        &self,
        kind: Kind,
        caller: &Caller,
        request: &Request,
        request_id: &str,
        audit: &mut Audit,
    ) -> Result<Response<Body>, ApiError> {
        let key = request::idempotency_key(request.headers())?;
        let mut body = request::json_body(request, self.config.max_body_bytes)?;
        let requested = request::take_schema_version(&mut body)?;
        let form = self
            .config
            .versions
            .choose(kind, &caller.studies(), requested)
            .map_err(|refused| match refused {
                Refused::Unsupported { requested, live } => ApiError::UnsupportedSchemaVersion {
                    kind: kind.name(),
                    requested,
                    live,
                },
                Refused::Ambiguous { live } => ApiError::SchemaVersionRequired {
                    kind: kind.name(),
                    live,
                },
            })?;
        let answers = form.accept(&body).map_err(|e| match e {
            AcceptError::Invalid(violations) => ApiError::Validation(violations),
            AcceptError::Encode(e) => ApiError::Internal(e.into()),
        })?;

        let now = OffsetDateTime::now_utc();
        let record = SubmissionRecord {
            id: ulid::Ulid::new().to_string(),
            kind: kind.name().to_owned(),
            received_at: crate::time::rfc3339_millis(now),
            schema_version: form.version(),
            request_id: request_id.to_owned(),
            submitted_by: Some(caller.subject.clone()),
            submitter_issuer: Some(caller.issuer.clone()),
            imported_by: None,
            answers,
            provenance: None,
        };
        let claim = key.map(|key| {
            let owner = KeyOwner {
                issuer: &caller.issuer,
                subject: &caller.subject,
            };
            let expires_at = (now + self.config.idempotency_ttl).unix_timestamp();
            IdempotencyClaim::new(
                kind.name(),
                owner,
                key,
                &record.answers,
                now.unix_timestamp(),
                expires_at,
            )
        });
        let inserted = self
            .store
            .insert(&record, claim.as_ref())
            .await
            .map_err(ApiError::StoreUnavailable)?;
        let receipt = match inserted {
            Inserted::Created => Receipt::from(record.reference()),
            Inserted::Replayed(original) => Receipt::from(original),
            Inserted::KeyReused => return Err(ApiError::IdempotencyConflict),
        };
        audit.record_id = Some(receipt.id.clone());
        Ok(created(&receipt))
    }

    async fn fetch(
        &self,
        kind: Kind,
        caller: &Caller,
        request: &Request,
        id: &str,
        request_id: &str,
        audit: &mut Audit,
    ) -> Result<Response<Body>, ApiError> {
        let latest = request::wants_latest_shape(request)?;
        let not_found = || ApiError::NotFound {
            kind: kind.name(),
            id: truncate(id, 64).into_owned(),
        };
        // Only ULIDs are submission ids; anything else cannot exist (and must not reach other item types).
        let id = ulid::Ulid::from_string(id).map_err(|_| not_found())?.to_string();
        audit.record_id = Some(id.clone());
        // Staff is who the person is (a per-user group), never what the app may do (a scope).
        let staff = caller.roles.staff;
        // Another caller's submission is answered exactly like an absent one: its existence is not revealed.
        let record = self
            .store
            .get(&id)
            .await
            .map_err(ApiError::StoreUnavailable)?
            .filter(|r| r.kind == kind.name() && (staff || is_own(r, caller)));
        // Recorded before anything is answered: a record whose read cannot be recorded is not returned.
        let outcome = match record {
            Some(_) => ReadOutcome::Returned,
            None => ReadOutcome::NotFound,
        };
        let read = audit.read(request_id, &self.config.submissions_table, &id, outcome);
        self.audit
            .record_read(&read)
            .await
            .map_err(ApiError::AuditUnavailable)?;
        let record = record.ok_or_else(not_found)?;
        let stored = record.schema_version;
        // Read with the type of the version the patient answered; the latest shape only when asked for.
        let (schema_version, answers) = if latest && stored != kind.latest().version() {
            let answers = kind.upgrade(stored, record.answers).map_err(|e| match e {
                UpgradeError::Impossible { from, reason } => ApiError::UpgradeImpossible {
                    kind: kind.name(),
                    from,
                    reason,
                },
                e @ UpgradeError::Unreadable { .. } => ApiError::Internal(e.into()),
            })?;
            (kind.latest().version(), answers)
        } else {
            let form = kind.version(stored).ok_or_else(|| {
                ApiError::Internal(format!("a stored {} submission has unknown version {stored}", kind.name()).into())
            })?;
            let answers = form.read(record.answers).map_err(|e| ApiError::Internal(e.into()))?;
            (stored, answers)
        };
        Ok(response::json(
            StatusCode::OK,
            &StoredView {
                id: record.id,
                kind: record.kind,
                received_at: record.received_at,
                schema_version,
                upgraded_from: (schema_version != stored).then_some(stored),
                submitted_by: record.submitted_by,
                imported_by: record.imported_by.filter(|_| staff),
                answers,
            },
        ))
    }
}

/// One request through the API, for both functions: its span (API Gateway's request id and the method), every
/// error as its problem response, and the audit line with the outcome. `dispatch` decides; `answered` sees the
/// audit facts, the status and the error code (for metrics).
async fn answer(
    request: &Request,
    dispatch: impl AsyncFnOnce(&str, &mut Audit) -> Result<Response<Body>, ApiError>,
    answered: impl FnOnce(&Audit, u16, Option<&'static str>),
) -> Response<Body> {
    let request_id = request::request_id(request);
    // Lambda's request id is the invocation span's (`function_request_id`); API Gateway's is this one, the
    // `requestId` of the API's access log. At level ERROR like the invocation's, so every line carries it.
    let span = tracing::error_span!(
        "request",
        api_request_id = request::gateway_request_id(request),
        method = %request.method(),
    );
    let mut audit = Audit::default();
    async {
        let (response, code) = match dispatch(&request_id, &mut audit).await {
            Ok(response) => (response, None),
            Err(error) => {
                let code = error.code();
                (error.into_response(&request_id), Some(code))
            }
        };
        audit.emit(response.status(), code);
        answered(&audit, response.status().as_u16(), code);
        response
    }
    .instrument(span)
    .await
}

/// A patient reads what they submitted themselves through the API; imported records are for staff only. The same
/// subject at another issuer is another person, and a record that does not say its submitter's issuer is nobody's.
fn is_own(record: &SubmissionRecord, caller: &Caller) -> bool {
    match (&record.submitted_by, &record.submitter_issuer) {
        (Some(subject), Some(issuer)) => !record.is_imported() && caller.is(issuer, subject),
        _ => false,
    }
}

/// The caller must hold one of `scopes`; API Gateway checked this already, the function does not rely on it.
fn require(caller: &Caller, scopes: &[&String]) -> Result<(), ApiError> {
    if scopes.iter().any(|scope| caller.has_scope(scope)) {
        Ok(())
    } else {
        Err(ApiError::MissingScope {
            scope: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
        })
    }
}

impl Audit {
    /// The registered kind of this name, noted for the audit line.
    fn known_kind(&mut self, name: &str) -> Result<Kind, ApiError> {
        let kind = questionnaire::find(name).ok_or_else(|| ApiError::UnknownKind {
            kind: truncate(name, 64).into_owned(),
            known: questionnaire::names().collect::<Vec<_>>().join(", "),
        })?;
        self.kind = Some(kind.name());
        Ok(kind)
    }
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
