//! The import routes of the HTTP API: a site's coordinator announces a file and gets a pre-signed URL that uploads
//! exactly that file (`POST /imports/{dataset}`), follows the import (`GET /imports/{importId}`) and lists the site's
//! imports (`GET /imports?study=…&site=…`). Who may do this is the person's site grant (a per-user group), never the
//! app's scope alone; an import of another site is answered exactly like an unknown one.

pub mod body;
pub mod openapi;
pub mod presign;

use super::audit::Audit;
use super::identity::{self, Caller};
use super::{request, response, ApiError};
use crate::audit::{ReadAudit, ReadOutcome};
use crate::config::ImportApiConfig;
use crate::error::truncate;
use crate::import::job::{JobView, Progress};
use crate::import::ports::UploadStore;
use crate::import::upload::{self, ImportStatus, Upload, UploadState, UPLOAD_DATASETS};
use body::{Announced, CountsView, ErrorView, ImportList, ImportView, ProgressView, ReportLinks, SignedRequest};
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use presign::{Presigner, Signed};
use time::OffsetDateTime;

/// The largest announcement body read (it is five short members).
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Imports per page of `GET /imports`: the default, and the most one page may ask for.
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

/// The operations of the import routes.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportRoute<'a> {
    Announce { dataset: &'a str },
    Status { id: &'a str },
    List,
}

impl ImportRoute<'_> {
    pub const ANNOUNCE: &'static str = "POST /imports/{dataset}";
    pub const STATUS: &'static str = "GET /imports/{importId}";
    pub const LIST: &'static str = "GET /imports";

    pub fn template(&self) -> &'static str {
        match self {
            Self::Announce { .. } => Self::ANNOUNCE,
            Self::Status { .. } => Self::STATUS,
            Self::List => Self::LIST,
        }
    }
}

/// Maps method and path (stage already stripped) to an operation.
pub fn route<'a>(method: &Method, path: &'a str) -> Result<ImportRoute<'a>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_allowed = |allow| ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    };
    match segments.as_slice() {
        ["imports"] => match *method {
            Method::GET => Ok(ImportRoute::List),
            _ => Err(not_allowed("GET")),
        },
        ["imports", id] if !id.is_empty() => match *method {
            Method::POST => Ok(ImportRoute::Announce { dataset: id }),
            Method::GET => Ok(ImportRoute::Status { id }),
            _ => Err(not_allowed("GET, POST")),
        },
        _ => Err(ApiError::RouteNotFound),
    }
}

/// Handles the import routes against the jobs table, a signer and the audit trail. Never fails: every error becomes
/// its HTTP response here.
pub struct ImportApi<U, P, A> {
    uploads: U,
    presigner: P,
    audit: A,
    config: ImportApiConfig,
}

impl<U: UploadStore, P: Presigner, A: ReadAudit> ImportApi<U, P, A> {
    pub fn new(uploads: U, presigner: P, audit: A, config: ImportApiConfig) -> Self {
        Self {
            uploads,
            presigner,
            audit,
            config,
        }
    }

    pub fn uploads(&self) -> &U {
        &self.uploads
    }

    pub fn audit(&self) -> &A {
        &self.audit
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let dispatch = async |request_id: &str, audit: &mut Audit| self.dispatch(&request, request_id, audit).await;
        super::answer(&request, dispatch, |_, _, _| {}).await
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
        let (upload, read) = (&self.config.upload_scope, &self.config.read_scope);
        match route {
            ImportRoute::Announce { dataset } => {
                super::require(&caller, &[upload])?;
                let dataset = known_dataset(dataset)?;
                audit.kind = Some(dataset);
                self.announce(dataset, &caller, request, audit).await
            }
            ImportRoute::Status { id } => {
                super::require(&caller, &[read, upload])?;
                self.status(id, &caller, request_id, audit).await
            }
            ImportRoute::List => {
                super::require(&caller, &[read, upload])?;
                self.list(&caller, request).await
            }
        }
    }

    async fn announce(
        &self,
        dataset: &'static str,
        caller: &Caller,
        request: &Request,
        audit: &mut Audit,
    ) -> Result<Response<Body>, ApiError> {
        let body = request::json_body(request, MAX_BODY_BYTES)?;
        let announced = body::announcement(&body, self.config.max_upload_bytes).map_err(ApiError::Validation)?;
        if !may_upload(caller, &announced.study, &announced.site) {
            return Err(ApiError::NoSiteGrant);
        }
        let now = OffsetDateTime::now_utc();
        let id = upload::new_upload_id();
        audit.record_id = Some(id.clone());
        let expires = now + self.config.upload_url_ttl;
        let record = Upload {
            upload_id: id.clone(),
            record_type: Upload::RECORD_TYPE.into(),
            dataset: dataset.into(),
            site_key: upload::site_key(&announced.study, &announced.site),
            key: upload::upload_key(dataset, &announced.study, &announced.site, &id),
            study: announced.study,
            site: announced.site,
            file_name: announced.file_name,
            size_bytes: announced.size_bytes,
            sha256: announced.sha256,
            requested_by: caller.subject.clone(),
            requester_issuer: caller.issuer.clone(),
            requested_at: crate::time::rfc3339_millis(now),
            url_expires_at: crate::time::rfc3339_millis(expires),
            upload_state: UploadState::AwaitingUpload,
            job_id: None,
            refusal: None,
            arrived_at: None,
        };
        // Recorded before the URL exists: an object can only arrive for an upload we know of.
        let created = self
            .uploads
            .announce(&record)
            .await
            .map_err(ApiError::StoreUnavailable)?;
        if !created {
            return Err(ApiError::Internal("a new upload id was taken already".into()));
        }
        let signed = self
            .presigner
            .put(
                &self.config.bucket,
                &record.key,
                record.size_bytes,
                &record.sha256,
                self.config.upload_url_ttl,
            )
            .await
            .map_err(ApiError::Internal)?;
        let mut response = response::json(
            StatusCode::CREATED,
            &Announced {
                import_id: id.clone(),
                status: ImportStatus::AwaitingUpload,
                upload: signed_request(signed, expires),
            },
        );
        if let Ok(location) = HeaderValue::from_str(&format!("/imports/{id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    async fn status(
        &self,
        id: &str,
        caller: &Caller,
        request_id: &str,
        audit: &mut Audit,
    ) -> Result<Response<Body>, ApiError> {
        let not_found = || ApiError::ImportNotFound {
            id: truncate(id, 64).into_owned(),
        };
        // Only canonical ULIDs are import ids: anything else cannot exist (and must not reach a job's record).
        let id = ulid::Ulid::from_string(id)
            .ok()
            .map(|ulid| ulid.to_string())
            .filter(|canonical| canonical == id)
            .ok_or_else(not_found)?;
        audit.record_id = Some(id.clone());
        let upload = self
            .uploads
            .upload(&id)
            .await
            .map_err(ApiError::StoreUnavailable)?
            .filter(|u| may_follow(caller, u));
        let outcome = match upload {
            Some(_) => ReadOutcome::Returned,
            None => ReadOutcome::NotFound,
        };
        // Recorded before anything is answered: a status (and its report links) whose read cannot be recorded is not
        // returned.
        let mut read = audit.read(request_id, &self.config.jobs_table, &id, outcome);
        read.dataset = upload.as_ref().map(|u| u.dataset.clone());
        self.audit
            .record_read(&read)
            .await
            .map_err(ApiError::AuditUnavailable)?;
        let upload = upload.ok_or_else(not_found)?;
        let job = self.job_of(&upload).await?;
        let mut view = view(&upload, job.as_ref(), OffsetDateTime::now_utc());
        if let Some(job) = job.filter(|job| job.summary.status.is_final()) {
            view.reports = Some(self.report_links(&job).await?);
        }
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn list(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, ApiError> {
        let query = ListQuery::of(request)?;
        if !may_list(caller, &query.study, &query.site) {
            return Err(ApiError::NoSiteGrant);
        }
        let site_key = upload::site_key(&query.study, &query.site);
        let (uploads, more) = self
            .uploads
            .uploads_of_site(&site_key, query.after.as_deref(), query.limit)
            .await
            .map_err(ApiError::StoreUnavailable)?;
        let jobs = futures::future::try_join_all(uploads.iter().map(|u| self.job_of(u))).await?;
        let now = OffsetDateTime::now_utc();
        let imports: Vec<ImportView> = uploads
            .iter()
            .zip(&jobs)
            .map(|(upload, job)| view(upload, job.as_ref(), now))
            .collect();
        let next_cursor = match (more, uploads.last()) {
            (true, Some(last)) => Some(cursor(&last.upload_id)),
            _ => None,
        };
        Ok(response::json(StatusCode::OK, &ImportList { imports, next_cursor }))
    }

    async fn job_of(&self, upload: &Upload) -> Result<Option<JobView>, ApiError> {
        match &upload.job_id {
            Some(job_id) => self.uploads.job_view(job_id).await.map_err(ApiError::StoreUnavailable),
            None => Ok(None),
        }
    }

    async fn report_links(&self, job: &JobView) -> Result<ReportLinks, ApiError> {
        let ttl = self.config.report_url_ttl;
        let expires = OffsetDateTime::now_utc() + ttl;
        let reports = &job.summary.reports;
        let summary = self.presigner.get(&job.summary.bucket, &reports.summary, ttl);
        let rejected = self.presigner.get(&job.summary.bucket, &reports.rejected_rows, ttl);
        let (summary, rejected) = futures::try_join!(summary, rejected).map_err(ApiError::Internal)?;
        Ok(ReportLinks {
            summary_url: summary.url,
            rejected_rows_url: rejected.url,
            expires_at: crate::time::rfc3339_millis(expires),
        })
    }
}

/// The datasets a site may upload through the API, by the name in the path.
fn known_dataset(name: &str) -> Result<&'static str, ApiError> {
    UPLOAD_DATASETS
        .iter()
        .copied()
        .find(|known| *known == name)
        .ok_or_else(|| ApiError::UnknownDataset {
            dataset: truncate(name, 64).into_owned(),
            known: UPLOAD_DATASETS.join(", "),
        })
}

fn has_grant(caller: &Caller, study: &str, site: &str) -> bool {
    caller.roles.sites.iter().any(|g| g.study == study && g.site == site)
}

/// Uploading a site's data takes that site's grant: the staff role reads, it does not upload for a site.
fn may_upload(caller: &Caller, study: &str, site: &str) -> bool {
    has_grant(caller, study, site)
}

/// A site's imports are followed by that site's people, and by staff.
fn may_list(caller: &Caller, study: &str, site: &str) -> bool {
    caller.roles.staff || has_grant(caller, study, site)
}

fn may_follow(caller: &Caller, upload: &Upload) -> bool {
    may_list(caller, &upload.study, &upload.site)
}

fn signed_request(signed: Signed, expires: OffsetDateTime) -> SignedRequest {
    SignedRequest {
        method: signed.method,
        url: signed.url,
        headers: signed.headers.into_iter().collect(),
        expires_at: crate::time::rfc3339_millis(expires),
    }
}

/// An import as its site sees it, as of `now`.
fn view(upload: &Upload, job: Option<&JobView>, now: OffsetDateTime) -> ImportView {
    let status = upload::status(upload, job.map(|j| j.summary.status), now);
    let summary = job.map(|j| &j.summary);
    let at_checkpoint = summary.map_or_else(Progress::default, |s| {
        Progress::at_checkpoint(s, Some(upload.size_bytes))
    });
    // A renewal's progress is newer than the last checkpoint's until the next save replaces it.
    let live = job
        .and_then(|j| j.live.as_ref())
        .filter(|_| status == ImportStatus::Running);
    let (progress, updated_at) = match live {
        Some(live) if live.progress.rows_done >= at_checkpoint.rows_done => (live.progress, Some(live.at.clone())),
        _ => (at_checkpoint, None),
    };
    let error = match (upload.refusal, summary.and_then(|s| s.error.as_ref())) {
        (Some(refusal), _) if upload.upload_state == UploadState::Refused => Some(ErrorView {
            code: refusal.as_str().into(),
            message: refusal.message().into(),
        }),
        (_, Some(error)) => Some(ErrorView {
            code: error.code.as_str().into(),
            message: error.message.clone(),
        }),
        _ => None,
    };
    ImportView {
        import_id: upload.upload_id.clone(),
        dataset: upload.dataset.clone(),
        study: upload.study.clone(),
        site: upload.site.clone(),
        file_name: upload.file_name.clone(),
        size_bytes: upload.size_bytes,
        status,
        requested_by: upload.requested_by.clone(),
        requested_at: upload.requested_at.clone(),
        upload_expires_at: upload.url_expires_at.clone(),
        arrived_at: upload.arrived_at.clone(),
        started_at: summary.map(|s| s.started_at.clone()),
        finished_at: summary.and_then(|s| s.finished_at.clone()),
        progress: ProgressView {
            rows_done: progress.rows_done,
            bytes_done: progress.bytes_done.min(upload.size_bytes),
            bytes_total: upload.size_bytes,
            invocations: summary.map_or(0, |s| s.invocations),
            updated_at,
        },
        counts: summary.map(|s| CountsView {
            total: s.rows.total,
            imported: s.rows.imported,
            rejected: s.rows.rejected,
            not_reached: s.rows.not_reached,
        }),
        error,
        reports: None,
    }
}

/// The cursor after upload `id`: the position in the site's list (an upload id, whether or not one exists there),
/// so any cursor of the right form is a place to go on from.
fn cursor(id: &str) -> String {
    id.to_owned()
}

/// Crockford's base32, as ULIDs are written: 26 characters.
pub const CURSOR_PATTERN: &str = "^[0-9A-HJKMNP-TV-Z]{26}$";

/// The query of `GET /imports`.
struct ListQuery {
    study: String,
    site: String,
    limit: usize,
    /// The last upload of the page before.
    after: Option<String>,
}

impl ListQuery {
    fn of(request: &Request) -> Result<Self, ApiError> {
        let params = request.query_string_parameters();
        let one = |name: &'static str| -> Result<Option<&str>, ApiError> {
            match params.all(name).as_deref() {
                None | Some([]) => Ok(None),
                Some([value]) => Ok(Some(*value)),
                Some(_) => Err(ApiError::InvalidQuery(format!("{name} is given more than once"))),
            }
        };
        let required = |name: &'static str| -> Result<String, ApiError> {
            let value = one(name)?.ok_or_else(|| ApiError::InvalidQuery(format!("{name} is required")))?;
            if body::is_name(value) {
                Ok(value.to_owned())
            } else {
                Err(ApiError::InvalidQuery(format!(
                    "{name} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
                )))
            }
        };
        let (study, site) = (required("study")?, required("site")?);
        let limit = match one("limit")? {
            None => DEFAULT_PAGE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| ApiError::InvalidQuery(format!("limit must be an integer from 1 to {MAX_PAGE}")))?,
        };
        let after = match one("cursor")? {
            None => None,
            Some(text) => Some(after_cursor(text).ok_or(ApiError::InvalidCursor)?),
        };
        Ok(Self {
            study,
            site,
            limit,
            after,
        })
    }
}

/// The position a cursor continues after, if it has a cursor's form.
fn after_cursor(text: &str) -> Option<String> {
    let crockford = |b: u8| b.is_ascii_digit() || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'L' | b'O' | b'U'));
    (text.len() == 26 && text.bytes().all(crockford)).then(|| text.to_owned())
}

#[cfg(test)]
mod tests;
