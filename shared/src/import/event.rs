//! From an S3 event to the objects to import: key decoding and the trigger's own filter, checked again here.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use percent_encoding::percent_decode_str;

/// Prefix and suffix of the keys this function imports; reports go elsewhere so they never trigger it.
pub const IMPORT_PREFIX: &str = "imports/";
pub const IMPORT_SUFFIX: &str = ".csv";
pub const REPORT_PREFIX: &str = "reports/";

/// One object version named by an event record (and, once recorded, by its import job).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub bucket: String,
    /// The decoded key.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// S3's order of the events for one key: a larger sequencer is a later version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    /// Who uploaded it (the event's principal id), kept as the importer of backfilled questionnaires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploader: Option<String>,
}

/// What the import function is invoked with: an S3 notification, or the continuation of an import that stopped at
/// its checkpoint (see `ports::lambda`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum ImportEvent {
    Continue(ContinueImport),
    S3(S3Event),
}

/// The event of a continuation: which job goes on, and the token its job record holds. Nothing else is taken from
/// it: object, version, uploader and checkpoint are read from the job record, which only this function writes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueImport {
    pub continue_import: Continuation,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Continuation {
    pub import_id: String,
    pub token: String,
}

/// What to do with one record of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// The object version, and the id of its import job.
    Import(ObjectRef, String),
    /// A continuation: claimed only if its job vouches for it.
    Continue(Continuation),
    /// Not for this function (another event type, prefix or suffix); logged and skipped.
    Ignore { key: String, reason: String },
    /// A record that names an object but cannot be read (bad key encoding, no bucket): reported.
    Invalid { key: String, reason: String },
}

/// Decodes an S3 event key: `+` means space, then percent-decoding (`%2B` is a literal `+`, `%20` a space).
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| "the key is not valid UTF-8 after percent-decoding".to_owned())
}

/// What to do with each record of `event`, for the function whose configured bucket is `bucket`. A record naming
/// any other bucket is refused: the trigger only covers `bucket`, so such an event was sent by hand or forged, and
/// reading it would widen what the function may be made to import.
pub fn plan(event: &ImportEvent, bucket: &str) -> Vec<Planned> {
    let planned: Vec<Planned> = match event {
        ImportEvent::S3(s3) => s3.records.iter().map(plan_record).collect(),
        ImportEvent::Continue(next) => vec![Planned::Continue(next.continue_import.clone())],
    };
    planned
        .into_iter()
        .map(|p| match p {
            Planned::Import(object, _) if object.bucket != bucket => Planned::Invalid {
                key: object.key,
                reason: "the record names a bucket other than this function's (IMPORT_BUCKET)".into(),
            },
            p => p,
        })
        .collect()
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
    let object = ObjectRef {
        bucket,
        key,
        version_id: record.s3.object.version_id.clone().filter(|v| !v.is_empty()),
        etag: record.s3.object.e_tag.clone().filter(|e| !e.is_empty()),
        sequencer: record.s3.object.sequencer.clone().filter(|s| !s.is_empty()),
        uploader: record.principal_id.principal_id.clone().filter(|p| !p.is_empty()),
    };
    // S3 always sends both; without them the version read could not be pinned, the job not be found again, and
    // the record not be ordered against other versions of the key.
    let reason = match super::ids::job_id(&object) {
        None => "the record names neither a version id nor an ETag",
        Some(_) if object.sequencer.is_none() => {
            "the record has no sequencer to order it against other versions of the key"
        }
        Some(import_id) => return Planned::Import(object, import_id),
    };
    Planned::Invalid {
        key: object.key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GENERATED: &str = include_str!("../../../events/s3-put-observations.json");

    /// The bucket the generated events name, as the function's configuration names it.
    const BUCKET: &str = "local-123456789012-us-east-1-edc-imports";

    fn event_with_key(key: &str, event_name: &str) -> ImportEvent {
        let mut value: serde_json::Value = serde_json::from_str(GENERATED).unwrap();
        value["Records"][0]["s3"]["object"]["key"] = key.into();
        value["Records"][0]["eventName"] = event_name.into();
        serde_json::from_value(value).unwrap()
    }

    fn plan_one(event: &ImportEvent) -> Planned {
        let planned = plan(event, BUCKET);
        let [one] = planned.as_slice() else {
            panic!("{planned:?}")
        };
        one.clone()
    }

    #[test]
    fn a_continuation_carries_only_a_job_id_and_a_token() {
        let event: ImportEvent =
            serde_json::from_str(include_str!("../../../events/lambda-continue-import.json")).unwrap();
        let ImportEvent::Continue(next) = &event else {
            panic!("a continuation")
        };
        assert_eq!(
            plan(&event, BUCKET),
            vec![Planned::Continue(next.continue_import.clone())]
        );
        let round_trip = serde_json::to_value(next).unwrap();
        assert_eq!(&serde_json::from_value::<ContinueImport>(round_trip).unwrap(), next);
        // The former shape, naming an object, uploader and sequencer itself, is not a continuation.
        let naming_an_object = serde_json::json!({"continueImport": {
            "importId": "x", "token": "y", "bucket": BUCKET, "key": "imports/observations/a.csv", "uploader": "AWS:X"
        }});
        assert!(serde_json::from_value::<ImportEvent>(naming_an_object).is_err());
    }

    #[test]
    fn records_without_a_version_or_etag_or_without_a_sequencer_are_refused() {
        for (drop, reason) in [
            (&["versionId", "eTag"][..], "neither a version id nor an ETag"),
            (&["sequencer"][..], "sequencer"),
        ] {
            let mut value: serde_json::Value = serde_json::from_str(GENERATED).unwrap();
            for field in drop {
                value["Records"][0]["s3"]["object"]
                    .as_object_mut()
                    .unwrap()
                    .remove(*field);
            }
            let event = serde_json::from_value(value).unwrap();
            let Planned::Invalid { reason: said, .. } = plan_one(&event) else {
                panic!("refused without {drop:?}")
            };
            assert!(said.contains(reason), "{said}");
        }
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
        let Planned::Import(object, _) = plan_one(&serde_json::from_str(GENERATED).unwrap()) else {
            panic!("an import")
        };
        assert_eq!(object.bucket, BUCKET);
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
                matches!(plan_one(&event_with_key(key, name)), Planned::Ignore { .. }),
                "{key} {name}"
            );
        }
        assert!(matches!(
            plan_one(&event_with_key("imports/%FF.csv", "ObjectCreated:Put")),
            Planned::Invalid { .. }
        ));
    }

    #[test]
    fn records_naming_another_bucket_are_refused_not_read() {
        let event: ImportEvent = serde_json::from_str(GENERATED).unwrap();
        assert!(matches!(plan_one(&event), Planned::Import(..)));
        let planned = plan(&event, "another-bucket");
        let [Planned::Invalid { key, reason }] = planned.as_slice() else {
            panic!("{planned:?}")
        };
        assert!(key.starts_with("imports/observations/"), "{key}");
        assert!(reason.contains("IMPORT_BUCKET"), "{reason}");
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
