//! Imports announced through the HTTP API: a site's coordinator asks for an upload URL, the server records the
//! announced file (site, name, size, SHA-256) and who asked, and the object that arrives at the key it chose is
//! attached to that record when its import starts. The record is ours, so it is what vouches for the uploader: the
//! import takes `importedBy` from it, never from the event, and only for an object that is exactly the announced file
//! at exactly the announced key.

use super::event::{IMPORT_PREFIX, IMPORT_SUFFIX};
use super::report::FileStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Datasets a site may upload through the API: those whose key names the study and site
/// (`imports/<dataset>/<study>/<site>/…`), so that a site grant decides who may write them. Questionnaire backfills
/// are keyed by questionnaire kind, not by site, and stay an upload by IAM.
pub const UPLOAD_DATASETS: &[&str] = &["observations"];

/// The key of an announced upload: chosen by the server, never by the caller (the file name is kept as metadata).
pub fn upload_key(dataset: &str, study: &str, site: &str, upload_id: &str) -> String {
    format!("{IMPORT_PREFIX}{dataset}/{study}/{site}/{upload_id}{IMPORT_SUFFIX}")
}

/// The upload id a key was chosen for, if it has the shape of a chosen key; whether an upload with this id and
/// exactly this key was announced is for its record to say.
pub fn upload_id_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(IMPORT_PREFIX)?.strip_suffix(IMPORT_SUFFIX)?;
    let [_dataset, _study, _site, id] = rest.split('/').collect::<Vec<_>>()[..] else {
        return None;
    };
    // Canonical ULIDs only (what the server hands out): 26 characters of Crockford's base32, upper case.
    let canonical = ulid::Ulid::from_string(id).is_ok_and(|ulid| ulid.to_string() == id);
    canonical.then_some(id)
}

/// A new upload id: a ULID, later than every one this process made before (ULIDs of one millisecond are otherwise
/// in random order), so that a site's uploads list newest first.
pub fn new_upload_id() -> String {
    static IDS: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let mut ids = IDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // The generator runs out only after 2^80 ids in one millisecond.
    ids.generate().unwrap_or_else(|_| ulid::Ulid::new()).to_string()
}

/// `<study>/<site>`: the partition of the jobs table's `bySite` index that lists a site's uploads.
pub fn site_key(study: &str, site: &str) -> String {
    format!("{study}/{site}")
}

/// Where an announced upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// The URL was handed out; no object has arrived yet.
    AwaitingUpload,
    /// The object arrived and its import job is `jobId`.
    Attached,
    /// An object arrived at the key but was not the announced file; it is not imported.
    Refused,
}

/// Why an object at an announced key was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    /// Its size differs from the announced size.
    SizeMismatch,
    /// Its SHA-256 differs from the announced one.
    ChecksumMismatch,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::SizeMismatch => "the uploaded object's size differs from the size announced; it was not imported",
            Self::ChecksumMismatch => {
                "the uploaded object's SHA-256 differs from the checksum announced; it was not imported"
            }
        }
    }
}

/// An announced upload as the jobs table keeps it (item `importId = <upload id>`, a ULID, beside the import jobs
/// whose ids are hex digests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// The import id the caller knows (a ULID: it sorts by time, so the site index lists newest first).
    #[serde(rename = "importId")]
    pub upload_id: String,
    /// `upload`: what this item of the jobs table is.
    pub record_type: String,
    pub dataset: String,
    pub study: String,
    pub site: String,
    /// `<study>/<site>`, the site index's partition.
    pub site_key: String,
    /// The object key the server chose.
    pub key: String,
    /// The name of the file on the caller's side, as announced; kept for people, never used as a key or logged.
    pub file_name: String,
    pub size_bytes: u64,
    /// Base64 of the SHA-256 of the content, as S3 keeps it (`x-amz-checksum-sha256`).
    pub sha256: String,
    /// The `sub` and `iss` of the person who asked for the URL: the importer of every row of the file.
    pub requested_by: String,
    pub requester_issuer: String,
    /// RFC 3339, UTC, milliseconds.
    pub requested_at: String,
    pub url_expires_at: String,
    pub upload_state: UploadState,
    /// The import job of the object that arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// When the object arrived (attached or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<String>,
}

impl Upload {
    pub const RECORD_TYPE: &'static str = "upload";
}

/// What the object store says of the object that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub size: u64,
    /// Base64 of the content's SHA-256: the one S3 checked at upload when it keeps one, else computed from the
    /// content.
    pub sha256: String,
}

/// Whether the object at `key` is the upload announced by `upload`: the same key, size and SHA-256.
pub fn check_arrival(upload: &Upload, key: &str, facts: &ObjectFacts) -> Result<(), Refusal> {
    debug_assert_eq!(upload.key, key, "an upload is looked up by its own key");
    if facts.size != upload.size_bytes {
        return Err(Refusal::SizeMismatch);
    }
    if facts.sha256 == upload.sha256 {
        Ok(())
    } else {
        Err(Refusal::ChecksumMismatch)
    }
}

/// What the import learnt from the upload record when an object arrived at a key of the upload form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// No upload was announced for this key: an upload by other means, imported as such.
    NotAnnounced,
    /// The announced file: imported as uploaded by `requested_by`.
    Attached { requested_by: String },
    /// Not the announced file: not imported.
    Refused(Refusal),
}

/// What an arrival writes to the upload record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalWrite {
    /// Attach the object's job (the latest version uploaded with the URL is the one imported).
    Attach,
    /// Record the refusal, unless the announced file arrived already (a later stray version changes nothing).
    Refuse(Refusal),
    Nothing,
}

/// The rule every store carries out when an object arrives at a key of the upload form: `stored` is the record with
/// the key's upload id, if any. Only a record for exactly this key announces it.
pub fn arrive(stored: Option<&Upload>, key: &str, facts: &ObjectFacts) -> (Arrival, ArrivalWrite) {
    let Some(upload) = stored.filter(|u| u.record_type == Upload::RECORD_TYPE && u.key == key) else {
        return (Arrival::NotAnnounced, ArrivalWrite::Nothing);
    };
    match check_arrival(upload, key, facts) {
        Ok(()) => (
            Arrival::Attached {
                requested_by: upload.requested_by.clone(),
            },
            ArrivalWrite::Attach,
        ),
        Err(refusal) if upload.upload_state == UploadState::Attached => {
            (Arrival::Refused(refusal), ArrivalWrite::Nothing)
        }
        Err(refusal) => (Arrival::Refused(refusal), ArrivalWrite::Refuse(refusal)),
    }
}

/// An import as the API reports it: the upload's state and, once attached, its job's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// The upload URL was handed out and no object has arrived yet.
    AwaitingUpload,
    /// An invocation is importing the file.
    Running,
    /// Stopped at a checkpoint; the next invocation carries on.
    Continuing,
    /// Every row was read and is imported or rejected (see the counts and the rejected-rows report).
    Completed,
    /// The file was refused as a whole, or the import could not go on (see `error`).
    Failed,
    /// A newer version of the file replaced it.
    Superseded,
    /// No upload arrived before the URL expired.
    Expired,
}

/// How long after its URL expired an upload may still arrive (an upload begun just before expiry, an event
/// delivered late) before the import is called expired.
pub const ARRIVAL_GRACE: time::Duration = time::Duration::minutes(15);

/// The status of an upload, given its job's status once attached (`None` while the job record is not written yet).
pub fn status(upload: &Upload, job: Option<FileStatus>, now: OffsetDateTime) -> ImportStatus {
    match upload.upload_state {
        UploadState::Refused => ImportStatus::Failed,
        UploadState::AwaitingUpload => {
            let expires =
                time::OffsetDateTime::parse(&upload.url_expires_at, &time::format_description::well_known::Rfc3339);
            match expires {
                Ok(expires) if now > expires + ARRIVAL_GRACE => ImportStatus::Expired,
                _ => ImportStatus::AwaitingUpload,
            }
        }
        UploadState::Attached => match job {
            None | Some(FileStatus::Running) => ImportStatus::Running,
            Some(FileStatus::Incomplete) => ImportStatus::Continuing,
            Some(FileStatus::Completed) => ImportStatus::Completed,
            Some(FileStatus::Rejected | FileStatus::Failed) => ImportStatus::Failed,
            Some(FileStatus::Superseded) => ImportStatus::Superseded,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn upload(id: &str) -> Upload {
        Upload {
            upload_id: id.into(),
            record_type: Upload::RECORD_TYPE.into(),
            dataset: "observations".into(),
            study: "ST".into(),
            site: "S1".into(),
            site_key: site_key("ST", "S1"),
            key: upload_key("observations", "ST", "S1", id),
            file_name: "visit 3.csv".into(),
            size_bytes: 100,
            sha256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
            requested_by: "coordinator".into(),
            requester_issuer: "https://idp".into(),
            requested_at: "2026-12-05T10:00:00.000Z".into(),
            url_expires_at: "2026-12-05T10:15:00.000Z".into(),
            upload_state: UploadState::AwaitingUpload,
            job_id: None,
            refusal: None,
            arrived_at: None,
        }
    }

    const ID: &str = "01JEQ2Z6T3M0V1ZP8Y7K4N5B6C";

    #[test]
    fn only_keys_of_the_chosen_shape_name_an_upload() {
        let key = upload_key("observations", "ST", "S1", ID);
        assert_eq!(key, format!("imports/observations/ST/S1/{ID}.csv"));
        assert_eq!(upload_id_of(&key), Some(ID));
        for other in [
            format!("imports/observations/ST/{ID}.csv"),
            format!("imports/observations/ST/S1/x/{ID}.csv"),
            format!("imports/observations/ST/S1/{}.csv", ID.to_lowercase()),
            format!("reports/observations/ST/S1/{ID}.csv"),
            format!("imports/observations/ST/S1/{ID}.txt"),
            "imports/observations/ST/S1/visit.csv".into(),
        ] {
            assert_eq!(upload_id_of(&other), None, "{other}");
        }
    }

    #[test]
    fn only_the_announced_size_and_checksum_are_the_announced_file() {
        let announced = upload(ID);
        let facts = |size, sha: &str| ObjectFacts {
            size,
            sha256: sha.to_owned(),
        };
        let key = announced.key.clone();
        assert_eq!(check_arrival(&announced, &key, &facts(100, &announced.sha256)), Ok(()));
        assert_eq!(
            check_arrival(&announced, &key, &facts(101, &announced.sha256)),
            Err(Refusal::SizeMismatch)
        );
        assert_eq!(
            check_arrival(&announced, &key, &facts(100, "AAAA")),
            Err(Refusal::ChecksumMismatch)
        );
    }

    #[test]
    fn an_arrival_attaches_the_announced_file_only_at_its_own_key_and_a_stray_version_never_undoes_it() {
        let mut announced = upload(ID);
        let good = ObjectFacts {
            size: 100,
            sha256: announced.sha256.clone(),
        };
        let bad = ObjectFacts {
            size: 7,
            ..good.clone()
        };
        let key = announced.key.clone();
        assert_eq!(
            arrive(None, &key, &good),
            (Arrival::NotAnnounced, ArrivalWrite::Nothing)
        );
        let elsewhere = upload_key("observations", "ST", "S2", ID);
        assert_eq!(
            arrive(Some(&announced), &elsewhere, &good),
            (Arrival::NotAnnounced, ArrivalWrite::Nothing),
            "the same id under another site's prefix is not the announced upload"
        );
        let attached = Arrival::Attached {
            requested_by: "coordinator".into(),
        };
        assert_eq!(arrive(Some(&announced), &key, &good), (attached, ArrivalWrite::Attach));
        assert_eq!(
            arrive(Some(&announced), &key, &bad),
            (
                Arrival::Refused(Refusal::SizeMismatch),
                ArrivalWrite::Refuse(Refusal::SizeMismatch)
            )
        );
        announced.upload_state = UploadState::Attached;
        assert_eq!(
            arrive(Some(&announced), &key, &bad),
            (Arrival::Refused(Refusal::SizeMismatch), ArrivalWrite::Nothing)
        );
    }

    #[test]
    fn the_status_follows_the_upload_then_its_job_and_an_upload_that_never_came_expires() {
        let mut u = upload(ID);
        let before = datetime!(2026-12-05 10:29:59 UTC);
        let after = datetime!(2026-12-05 10:30:01 UTC);
        assert_eq!(status(&u, None, before), ImportStatus::AwaitingUpload);
        assert_eq!(status(&u, None, after), ImportStatus::Expired);
        u.upload_state = UploadState::Refused;
        assert_eq!(status(&u, None, before), ImportStatus::Failed);
        u.upload_state = UploadState::Attached;
        for (job, expected) in [
            (None, ImportStatus::Running),
            (Some(FileStatus::Running), ImportStatus::Running),
            (Some(FileStatus::Incomplete), ImportStatus::Continuing),
            (Some(FileStatus::Completed), ImportStatus::Completed),
            (Some(FileStatus::Rejected), ImportStatus::Failed),
            (Some(FileStatus::Failed), ImportStatus::Failed),
            (Some(FileStatus::Superseded), ImportStatus::Superseded),
        ] {
            assert_eq!(status(&u, job, after), expected, "{job:?}");
        }
    }
}
