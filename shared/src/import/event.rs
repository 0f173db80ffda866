//! From an S3 event to the objects to import: key decoding and the trigger's own filter, checked again here.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use percent_encoding::percent_decode_str;

/// Prefix and suffix of the keys this function imports; reports go elsewhere so they never trigger it.
pub const IMPORT_PREFIX: &str = "imports/";
pub const IMPORT_SUFFIX: &str = ".csv";
pub const REPORT_PREFIX: &str = "reports/";

/// One object named by an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The decoded key.
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    /// Who uploaded it (the event's principal id), stored as the submitter of backfilled questionnaires.
    pub uploader: Option<String>,
}

/// What to do with one record of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Import(ObjectRef),
    /// Not for this function (another event type, prefix or suffix); logged and skipped.
    Ignore {
        key: String,
        reason: String,
    },
    /// A record that names an object but cannot be read (bad key encoding, no bucket): reported.
    Invalid {
        key: String,
        reason: String,
    },
}

/// Decodes an S3 event key: `+` means space, then percent-decoding (`%2B` is a literal `+`, `%20` a space).
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| "the key is not valid UTF-8 after percent-decoding".to_owned())
}

pub fn plan(event: &S3Event) -> Vec<Planned> {
    event.records.iter().map(plan_record).collect()
}

fn plan_record(record: &S3EventRecord) -> Planned {
    let event_name = record.event_name.as_deref().unwrap_or("");
    let raw_key = record.s3.object.key.as_deref().unwrap_or("");
    if !event_name.starts_with("ObjectCreated:") {
        return Planned::Ignore {
            key: raw_key.to_owned(),
            reason: format!("event {event_name:?} is not an ObjectCreated event"),
        };
    }
    let key = match decode_key(raw_key) {
        Ok(key) => key,
        Err(reason) => {
            return Planned::Invalid {
                key: raw_key.to_owned(),
                reason,
            }
        }
    };
    if !key.starts_with(IMPORT_PREFIX) || !key.ends_with(IMPORT_SUFFIX) {
        return Planned::Ignore {
            key,
            reason: format!("key is not under {IMPORT_PREFIX} with suffix {IMPORT_SUFFIX}"),
        };
    }
    let Some(bucket) = record.s3.bucket.name.clone().filter(|b| !b.is_empty()) else {
        return Planned::Invalid {
            key,
            reason: "the record names no bucket".into(),
        };
    };
    Planned::Import(ObjectRef {
        bucket,
        key,
        version_id: record.s3.object.version_id.clone().filter(|v| !v.is_empty()),
        etag: record.s3.object.e_tag.clone().filter(|e| !e.is_empty()),
        uploader: record.principal_id.principal_id.clone().filter(|p| !p.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GENERATED: &str = include_str!("../../../events/s3-put-observations.json");

    fn event_with_key(key: &str, event_name: &str) -> S3Event {
        let mut value: serde_json::Value = serde_json::from_str(GENERATED).unwrap();
        value["Records"][0]["s3"]["object"]["key"] = key.into();
        value["Records"][0]["eventName"] = event_name.into();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn plus_is_a_space_and_percent_escapes_are_decoded() {
        assert_eq!(
            decode_key("imports/observations/site+12/a%20b.csv").unwrap(),
            "imports/observations/site 12/a b.csv"
        );
        assert_eq!(decode_key("imports/a%2Bb.csv").unwrap(), "imports/a+b.csv");
        assert_eq!(decode_key("imports/%C3%A9t%C3%A9.csv").unwrap(), "imports/été.csv");
        assert!(decode_key("imports/%FF.csv").is_err());
    }

    #[test]
    fn generated_event_plans_an_import_with_decoded_key_and_etag() {
        let planned = plan(&serde_json::from_str(GENERATED).unwrap());
        let [Planned::Import(object)] = planned.as_slice() else {
            panic!("{planned:?}")
        };
        assert!(object.key.starts_with("imports/observations/"));
        assert!(object.etag.is_some());
    }

    #[test]
    fn other_prefixes_suffixes_and_event_types_are_ignored() {
        for (key, name) in [
            ("reports/x.csv", "ObjectCreated:Put"),
            ("imports/observations/x.txt", "ObjectCreated:Put"),
            ("imports/observations/x.csv", "ObjectRemoved:Delete"),
        ] {
            assert!(
                matches!(plan(&event_with_key(key, name))[0], Planned::Ignore { .. }),
                "{key} {name}"
            );
        }
        assert!(matches!(
            plan(&event_with_key("imports/%FF.csv", "ObjectCreated:Put"))[0],
            Planned::Invalid { .. }
        ));
    }

    proptest! {
        /// Encoding any key the way S3 does and decoding it gives the key back.
        #[test]
        fn decoding_inverts_s3_form_encoding(key in "\\PC{0,40}") {
            let encoded: String = percent_encoding::utf8_percent_encode(&key, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%20", "+");
            prop_assert_eq!(decode_key(&encoded).unwrap(), key);
        }

        #[test]
        fn decoding_never_panics(raw in "\\PC{0,40}") {
            let _ = decode_key(&raw);
        }
    }
}
