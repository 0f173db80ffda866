//! What the import routes read and answer: the announcement of an upload (checked like a questionnaire: every
//! violation with a JSON pointer and a stable code), and the views of an import.

use crate::import::upload::ImportStatus;
use crate::questionnaire::decode::{object, Decoder};
use crate::questionnaire::values::Text;
use crate::questionnaire::{Json, ViolationCode, Violations};
use base64::Engine;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The body of `POST /imports/{dataset}`: the file about to be uploaded, and where it belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Announcement {
    /// The study, as the caller's site grant names it (`site:<study>/<site>`).
    #[schemars(extend("pattern" = NAME_PATTERN))]
    pub study: String,
    /// The site, as the caller's site grant names it.
    #[schemars(extend("pattern" = NAME_PATTERN))]
    pub site: String,
    /// The file's name on the caller's side: shown back to people, never part of the object key.
    #[schemars(with = "Text<1, 255>")]
    pub file_name: String,
    /// The file's exact size in bytes (at most the deployment's import limit, and 5 GiB).
    #[schemars(range(min = 1, max = MAX_SIZE))]
    pub size_bytes: u64,
    /// The base64 of the file's SHA-256 (44 characters), as S3 checks it (`x-amz-checksum-sha256`).
    #[schemars(extend("pattern" = SHA256_PATTERN))]
    pub sha256: String,
}

/// Study and site names: what a key and a group name carry unchanged (never `.` or `..`, which a URL's path would
/// resolve).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
/// Base64 of 32 bytes, in its one canonical form (the last character before the padding carries 4 bits).
const SHA256_PATTERN: &str = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$";
/// S3's limit for a single PUT: the most any deployment takes through the API.
const MAX_SIZE: u64 = crate::config::ImportApiConfig::MAX_SINGLE_PUT_BYTES;

pub fn is_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    (1..=64).contains(&text.len())
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 44
        && base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// Decodes and checks an announcement: every violation, never the values in the messages.
pub fn announcement(body: &Value, max_size: u64) -> Result<Announcement, Violations> {
    let mut d = Decoder::<Json>::new();
    let decoded = object(body, "", &mut d, |fields, d| {
        let study = fields.required::<Json, String>("study", d);
        let site = fields.required::<Json, String>("site", d);
        let file_name = fields.required::<Json, Text<1, 255>>("fileName", d);
        let size = fields.required::<Json, i64>("sizeBytes", d);
        let sha256 = fields.required::<Json, String>("sha256", d);
        let mut name = |path: &str, value: Option<String>| {
            let value = value?;
            if is_name(&value) {
                return Some(value);
            }
            d.report(
                path,
                ViolationCode::InvalidFormat,
                "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, as in the site grant",
            );
            None
        };
        let (study, site) = (name("/study", study), name("/site", site));
        let size = size.and_then(|n| match u64::try_from(n) {
            Ok(n) if (1..=max_size).contains(&n) => Some(n),
            _ => {
                let message = format!("must be between 1 and {max_size} bytes");
                d.report("/sizeBytes", ViolationCode::OutOfRange, message);
                None
            }
        });
        let sha256 = sha256.filter(|text| {
            let ok = is_sha256(text);
            if !ok {
                d.report(
                    "/sha256",
                    ViolationCode::InvalidFormat,
                    "must be the base64 of a SHA-256 digest (44 characters)",
                );
            }
            ok
        });
        Some(Announcement {
            study: study?,
            site: site?,
            file_name: file_name?.into(),
            size_bytes: size?,
            sha256: sha256?,
        })
    });
    d.finish(decoded)
}

/// A request the caller makes exactly as given.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedRequest {
    pub method: String,
    pub url: String,
    /// Headers to send as they are: the signature covers them (for an upload: the content length, the content type
    /// and the SHA-256).
    pub headers: BTreeMap<String, String>,
    /// RFC 3339, UTC: the URL is refused after this.
    pub expires_at: String,
}

/// The answer to `POST /imports/{dataset}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Announced {
    /// The import's id (a ULID): `GET /imports/{importId}` follows it.
    pub import_id: String,
    pub status: ImportStatus,
    /// The upload: a PUT of exactly the announced file, once, before it expires.
    pub upload: SignedRequest,
}

/// How far an import has come.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressView {
    /// Rows imported or rejected so far.
    pub rows_done: u64,
    /// Bytes of the file before the first row not done yet.
    pub bytes_done: u64,
    /// The file's size.
    pub bytes_total: u64,
    /// Invocations of the import function so far.
    pub invocations: u32,
    /// When this was measured (RFC 3339, UTC), while the import runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Rows by outcome; `total = imported + rejected + notReached`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsView {
    pub total: u64,
    pub imported: u64,
    pub rejected: u64,
    pub not_reached: u64,
}

/// Why an import failed as a whole.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorView {
    /// Stable code, e.g. `invalid_header`, `checksum_mismatch`.
    pub code: String,
    pub message: String,
}

/// Short-lived links to an import's reports, once it has ended.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportLinks {
    /// The summary (JSON).
    pub summary_url: String,
    /// The rejected rows (CSV: line, column, code, message).
    pub rejected_rows_url: String,
    /// RFC 3339, UTC: the links are refused after this.
    pub expires_at: String,
}

/// An import as its site sees it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    pub import_id: String,
    pub dataset: String,
    pub study: String,
    pub site: String,
    pub file_name: String,
    pub size_bytes: u64,
    pub status: ImportStatus,
    /// The `sub` of the person who asked for the upload URL: the importer of every row.
    pub requested_by: String,
    /// RFC 3339, UTC, milliseconds.
    pub requested_at: String,
    pub upload_expires_at: String,
    /// When the object arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub progress: ProgressView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<CountsView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
    /// Present once the import has ended (only in the answer of `GET /imports/{importId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reports: Option<ReportLinks>,
}

/// The answer to `GET /imports`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportList {
    /// Newest first.
    pub imports: Vec<ImportView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
