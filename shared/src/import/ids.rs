//! Identities that an import derives: its job id (one per object version, so a redelivered event finds the same job)
//! and the ids of backfilled questionnaires (stable across redeliveries, yet not computable from public facts).

use super::event::ObjectRef;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

/// The id of the import of one object version: derived from bucket, key and version id (the ETag where the bucket
/// keeps no versions). A record naming neither has none: it could not be recognised again, so it is not imported.
pub fn job_id(object: &ObjectRef) -> Option<String> {
    let version = match (&object.version_id, &object.etag) {
        (Some(version), _) => format!("version:{version}"),
        (None, Some(etag)) => format!("etag:{}", etag.trim_matches('"')),
        (None, None) => return None,
    };
    let digest = Sha256::new()
        .chain_update(object.bucket.as_bytes())
        .chain_update([0])
        .chain_update(object.key.as_bytes())
        .chain_update([0])
        .chain_update(version.as_bytes())
        .finalize();
    Some(hex::encode(&digest[..16]))
}

/// A random secret per object key, kept in the key's record and its jobs' (never in a report or a log). Ids derived
/// from it are the same every time any version of the key is imported, so a corrected re-upload replaces each line's
/// questionnaire, and nobody without it can compute them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdSecret([u8; 32]);

impl IdSecret {
    /// A new secret from the operating system's cryptographic random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id of the questionnaire on `line` of the file: a ULID whose time is when the key was first imported and
    /// whose random part is a keyed hash of the line.
    pub fn questionnaire_id(&self, line: u64, object_time_ms: u64) -> String {
        // HMAC pads a shorter key with zeros to the hash's block size; doing it here makes the key's size a type.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&key.into());
        mac.update(b"questionnaire-row\0");
        mac.update(&line.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        ulid::Ulid::from_parts(object_time_ms.min((1 << 48) - 1), u128::from_be_bytes(random)).to_string()
    }
}

impl fmt::Debug for IdSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(version: Option<&str>, etag: Option<&str>) -> ObjectRef {
        ObjectRef {
            bucket: "b".into(),
            key: "imports/observations/x.csv".into(),
            version_id: version.map(str::to_owned),
            etag: etag.map(str::to_owned),
            sequencer: None,
            uploader: None,
        }
    }

    #[test]
    fn one_job_per_object_version() {
        let v1 = job_id(&object(Some("v1"), Some("e")));
        assert_eq!(
            v1,
            job_id(&object(Some("v1"), Some("other etag"))),
            "the version decides"
        );
        assert_ne!(v1, job_id(&object(Some("v2"), Some("e"))));
        assert_eq!(job_id(&object(None, Some("e"))), job_id(&object(None, Some("\"e\""))));
        assert_ne!(job_id(&object(None, Some("e"))), job_id(&object(None, Some("f"))));
        assert_eq!(job_id(&object(None, None)), None, "nothing to recognise it by");
    }

    #[test]
    fn ids_are_stable_per_secret_and_line_and_differ_otherwise() {
        let (a, b) = (IdSecret::generate().unwrap(), IdSecret::generate().unwrap());
        assert_ne!(a, b);
        let id = a.questionnaire_id(2, 1_795_777_200_000);
        assert_eq!(id, a.questionnaire_id(2, 1_795_777_200_000));
        assert_ne!(id, a.questionnaire_id(3, 1_795_777_200_000));
        assert_ne!(id, b.questionnaire_id(2, 1_795_777_200_000));
        assert_eq!(ulid::Ulid::from_string(&id).unwrap().timestamp_ms(), 1_795_777_200_000);
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let secret = IdSecret::from_bytes(&[7; 32]).unwrap();
        assert_eq!(format!("{secret:?}"), "IdSecret(<redacted>)");
    }
}
