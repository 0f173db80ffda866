//! `imports/questionnaires/<kind>/v<N>/…csv`: paper questionnaires typed in later, on version `N` of the form. Each
//! row becomes the same typed questionnaire as a submission to the HTTP API, checked by that version's rules, and is
//! stored as that version; nested lists travel as JSON cells. A key without a version folder
//! (`imports/questionnaires/<kind>/…csv`, the layout from before kinds had versions) is version 1.
//!
//! A backfill takes retired versions too: it records answers given on the form in use back then, which retiring the
//! form does not change.

use super::{Dataset, Header, Row, RowContext, WriteItem};
use crate::config::ImportConfig;
use crate::import::rejection::{rejections, whole_row, Rejection, RowCode};
use crate::questionnaire::{self, AcceptError, CellCode, Form, Violation, ViolationCode};
use crate::submission::SubmissionRecord;
use serde_json::{Map, Value};

pub struct QuestionnaireRows {
    form: &'static dyn Form,
    table: String,
}

impl QuestionnaireRows {
    pub fn for_key(rest: &str, config: &ImportConfig) -> Result<Box<dyn Dataset>, String> {
        let mut segments = rest.split('/');
        let kind_name = segments.next().unwrap_or("");
        let family = questionnaire::find(kind_name).ok_or_else(|| {
            let known: Vec<&str> = questionnaire::names().collect();
            format!(
                "unknown questionnaire kind {kind_name:?} in the key; known kinds: {}",
                known.join(", ")
            )
        })?;
        // A version folder is `v` and digits, with the file below it; the file's own name is never read as one.
        let folder = segments.next().filter(|_| segments.next().is_some());
        let number = match folder.and_then(|f| f.strip_prefix('v')) {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok(),
            _ => Some(1),
        };
        let versions: Vec<String> = family.versions().map(|f| format!("v{}", f.version())).collect();
        let form = number.and_then(|n| family.version(n)).ok_or_else(|| {
            format!(
                "the key's version folder is not a version of {}; its versions: {}",
                family.name(),
                versions.join(", ")
            )
        })?;
        Ok(Box::new(Self {
            form,
            table: config.submissions_table.clone(),
        }))
    }

    /// The kind and version, for messages: `intake version 2`.
    fn label(&self) -> String {
        format!("{} version {}", self.form.kind(), self.form.version())
    }

    fn violations_for(&self, object: Map<String, Value>) -> Vec<Violation<CellCode>> {
        match self.form.accept_cells(&Value::Object(object)) {
            Err(AcceptError::Invalid(v)) => v.into_listed(),
            _ => Vec::new(),
        }
    }
}

impl Dataset for QuestionnaireRows {
    /// The kind only, as before kinds had versions: the version is in the key, and stored with every row.
    fn name(&self) -> String {
        format!("questionnaires/{}", self.form.kind())
    }

    fn table(&self) -> &str {
        &self.table
    }

    fn key_attributes(&self) -> &'static [&'static str] {
        &["id"]
    }

    /// The questionnaire type is the only definition of its fields: the header is checked by decoding a probe row
    /// whose cells are all empty (so absent) and reading which columns the type calls unknown or missing.
    fn check_header(&self, header: &Header) -> Result<(), String> {
        let probe: Map<String, Value> = header.names().iter().map(|n| (n.clone(), Value::from(""))).collect();
        let violations = self.violations_for(probe);
        let columns = |code| {
            violations
                .iter()
                .filter(|v| v.code == CellCode::Rule(code))
                .map(|v| v.path.trim_start_matches('/').to_owned())
                .collect::<Vec<_>>()
        };
        // Every probe cell is empty, so present columns read as missing too: only absent ones count.
        let unknown = columns(ViolationCode::UnknownField);
        let missing: Vec<String> = columns(ViolationCode::Missing)
            .into_iter()
            .filter(|c| !header.names().contains(c))
            .collect();
        if unknown.len() == header.len() {
            let required = format!("{} for questionnaire {}", missing.join(", "), self.label());
            return Err(super::looks_like_data(&required));
        }
        let positions = header.positions_where(|name| unknown.iter().any(|u| u == name));
        let problems = super::column_problems(&missing, &positions);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{problems} for questionnaire {}", self.label()))
        }
    }

    fn decode(&self, row: &Row<'_>, at: &RowContext<'_>) -> Result<WriteItem, Vec<Rejection>> {
        let object: Map<String, Value> = row.iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect();
        let answers = self.form.accept_cells(&Value::Object(object)).map_err(|e| match e {
            AcceptError::Invalid(violations) => rejections(violations),
            AcceptError::Encode(e) => {
                whole_row(RowCode::InternalError, format!("the answers could not be encoded: {e}"))
            }
        })?;
        // The same id every time this object version is imported (a redelivered event overwrites), but not one
        // that anybody could compute from bucket, key, line and upload time.
        let object_ms = (at.object_time.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let id = at.id_secret.questionnaire_id(at.line, object_ms);
        let record = SubmissionRecord {
            id: id.clone(),
            kind: self.form.kind().to_owned(),
            received_at: at.imported_at.to_owned(),
            schema_version: self.form.version(),
            request_id: at.request_id.to_owned(),
            submitted_by: None,
            submitter_issuer: None,
            imported_by: at.uploader.map(str::to_owned),
            answers,
            provenance: Some(at.provenance()),
        };
        let item = super::encode(&record)?;
        Ok(WriteItem { key: id, item })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::Provenance;
    use crate::questionnaire::violation::paths_and_codes;
    use time::macros::datetime;

    fn config() -> ImportConfig {
        ImportConfig::for_tests()
    }

    fn header(names: &[&str]) -> Header {
        Header::new(names.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    fn provenance(line: u64) -> Provenance {
        Provenance {
            bucket: "b".into(),
            key: "imports/questionnaires/daily-pain/x.csv".into(),
            version_id: None,
            etag: None,
            line,
            import_id: "i".into(),
        }
    }

    fn decode(kind: &str, names: &[&str], cells: &[&str], line: u64) -> Result<WriteItem, Vec<Rejection>> {
        decode_at(&format!("{kind}/x.csv"), names, cells, line)
    }

    /// Decodes one row of a file at `rest` (the key after `imports/questionnaires/`).
    fn decode_at(rest: &str, names: &[&str], cells: &[&str], line: u64) -> Result<WriteItem, Vec<Rejection>> {
        let dataset = QuestionnaireRows::for_key(rest, &config()).unwrap();
        let header = header(names);
        let provenance = provenance(line);
        let secret = crate::import::ids::IdSecret::from_bytes(&[7; 32]).unwrap();
        let at = RowContext {
            file: &provenance,
            line,
            id_secret: &secret,
            request_id: "r",
            uploader: Some("AWS:uploader"),
            now: datetime!(2026-11-27 12:00 UTC),
            imported_at: "2026-11-27T12:00:00.000Z",
            object_time: datetime!(2026-11-27 11:00 UTC),
        };
        dataset.decode(&Row::new(&header, cells), &at)
    }

    #[test]
    fn unknown_kind_in_the_key_names_the_known_kinds() {
        let err = QuestionnaireRows::for_key("weekly-mood/x.csv", &config())
            .err()
            .unwrap();
        assert!(err.contains("intake") && err.contains("daily-pain"), "{err}");
    }

    #[test]
    fn header_check_comes_from_the_questionnaire_type() {
        let dataset = QuestionnaireRows::for_key("daily-pain/x.csv", &config()).unwrap();
        assert!(dataset.check_header(&header(&["painLevel"])).is_ok());
        assert!(dataset.check_header(&header(&["medicationLogs", "painLevel"])).is_ok());
        let err = dataset.check_header(&header(&["medicationLogs", "mood"])).unwrap_err();
        assert!(err.contains("missing required column(s): painLevel"), "{err}");
        assert!(err.contains("unknown column(s) at position(s): 2"), "{err}");
        let err = dataset.check_header(&header(&["4", "[]"])).unwrap_err();
        assert!(err.contains("is the header missing?"), "{err}");
    }

    #[test]
    fn rows_are_typed_like_api_submissions_with_provenance() {
        let item = decode(
            "daily-pain",
            &["painLevel", "medicationLogs"],
            &["7", r#"[{"drugName":"Ibuprofen","dosage":"400 mg"}]"#],
            3,
        )
        .unwrap();
        let record: SubmissionRecord = serde_dynamo::from_item(item.item).unwrap();
        assert_eq!(record.answers["painLevel"], 7);
        assert_eq!(record.answers["medicationLogs"][0]["dosage"], "400 mg");
        assert_eq!(record.imported_by.as_deref(), Some("AWS:uploader"));
        assert_eq!(record.submitted_by, None, "an upload is no patient's own submission");
        assert_eq!(record.provenance.unwrap().line, 3);
        assert_eq!(
            ulid::Ulid::from_string(&record.id).unwrap().timestamp_ms(),
            1_795_777_200_000
        );
    }

    #[test]
    fn ids_are_stable_per_line_and_differ_between_lines() {
        let a = decode("daily-pain", &["painLevel"], &["7"], 2).unwrap();
        assert_eq!(a.key, decode("daily-pain", &["painLevel"], &["7"], 2).unwrap().key);
        assert_ne!(a.key, decode("daily-pain", &["painLevel"], &["7"], 3).unwrap().key);
    }

    #[test]
    fn the_api_rules_apply_to_cells() {
        let errs = decode("intake", &["patientName", "age", "hasAllergy"], &["", "0", "maybe"], 2).unwrap_err();
        assert_eq!(
            paths_and_codes(&errs),
            [
                ("/patientName".to_owned(), ViolationCode::Missing.into()),
                ("/age".to_owned(), ViolationCode::OutOfRange.into()),
                ("/hasAllergy".to_owned(), ViolationCode::WrongType.into())
            ]
        );
    }

    #[test]
    fn the_version_folder_chooses_the_rules_and_is_stored_with_the_row() {
        let v1 = ["patientName", "age", "hasAllergy"];
        let v2 = ["fullName", "age", "hasAllergy", "smokingStatus"];
        let version = |item: WriteItem| {
            serde_dynamo::from_item::<_, SubmissionRecord>(item.item)
                .unwrap()
                .schema_version
        };
        for rest in ["intake/x.csv", "intake/v1/x.csv", "intake/v2.csv", "intake/v1/v2.csv"] {
            assert_eq!(
                version(decode_at(rest, &v1, &["A", "30", "true"], 2).unwrap()),
                1,
                "{rest}"
            );
        }
        let item = decode_at("intake/v2/batch.csv", &v2, &["A", "30", "true", "never"], 2).unwrap();
        let record: SubmissionRecord = serde_dynamo::from_item(item.item).unwrap();
        assert_eq!(record.schema_version, 2);
        assert_eq!(record.answers["smokingStatus"], "never");
        // A version-1 file under v2/ is refused by its header, before any row.
        let dataset = QuestionnaireRows::for_key("intake/v2/batch.csv", &config()).unwrap();
        let err = dataset.check_header(&header(&v1)).unwrap_err();
        assert!(
            err.contains("fullName") && err.ends_with("for questionnaire intake version 2"),
            "{err}"
        );
    }

    #[test]
    fn a_version_folder_that_is_not_a_version_of_the_kind_names_the_versions() {
        for rest in [
            "intake/v3/x.csv",
            "intake/v0/x.csv",
            "intake/v99999999999/x.csv",
            "daily-pain/v2/x.csv",
        ] {
            let err = QuestionnaireRows::for_key(rest, &config()).err().unwrap();
            assert!(err.contains("versions: v1"), "{rest}: {err}");
        }
        // Another folder is not a version folder: it is the layout from before versions, version 1.
        assert!(QuestionnaireRows::for_key("intake/2026-11/x.csv", &config()).is_ok());
    }
}
