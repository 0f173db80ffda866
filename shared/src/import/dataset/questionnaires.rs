//! `imports/questionnaires/<kind>/…csv`: paper questionnaires typed in later. Each row becomes the same typed
//! questionnaire as a submission to the HTTP API, checked by the same rules; nested lists travel as JSON cells.

use super::{Dataset, Header, Row, RowContext, WriteItem};
use crate::config::ImportConfig;
use crate::import::rejection::{rejections, whole_row, Rejection, RowCode};
use crate::questionnaire::{self, AcceptError, CellCode, Kind, Violation, ViolationCode};
use crate::submission::SubmissionRecord;
use serde_json::{Map, Value};

pub struct QuestionnaireRows {
    kind: &'static dyn Kind,
    table: String,
}

impl QuestionnaireRows {
    pub fn for_key(rest: &str, config: &ImportConfig) -> Result<Box<dyn Dataset>, String> {
        let kind_name = rest.split('/').next().unwrap_or("");
        let kind = questionnaire::find(kind_name).ok_or_else(|| {
            let known: Vec<&str> = questionnaire::names().collect();
            format!(
                "unknown questionnaire kind {kind_name:?} in the key; known kinds: {}",
                known.join(", ")
            )
        })?;
        Ok(Box::new(Self {
            kind,
            table: config.submissions_table.clone(),
        }))
    }

    fn violations_for(&self, object: Map<String, Value>) -> Vec<Violation<CellCode>> {
        match self.kind.accept_cells(&Value::Object(object)) {
            Err(AcceptError::Invalid(v)) => v.into_listed(),
            _ => Vec::new(),
        }
    }
}

impl Dataset for QuestionnaireRows {
    fn name(&self) -> String {
        format!("questionnaires/{}", self.kind.name())
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
            let required = format!("{} for questionnaire kind {}", missing.join(", "), self.kind.name());
            return Err(super::looks_like_data(&required));
        }
        let positions = header.positions_where(|name| unknown.iter().any(|u| u == name));
        let problems = super::column_problems(&missing, &positions);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{problems} for questionnaire kind {}", self.kind.name()))
        }
    }

    fn decode(&self, row: &Row<'_>, at: &RowContext<'_>) -> Result<WriteItem, Vec<Rejection>> {
        let object: Map<String, Value> = row.iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect();
        let answers = self.kind.accept_cells(&Value::Object(object)).map_err(|e| match e {
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
            kind: self.kind.name().to_owned(),
            received_at: at.imported_at.to_owned(),
            schema_version: self.kind.schema_version(),
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
        let dataset = QuestionnaireRows::for_key(&format!("{kind}/x.csv"), &config()).unwrap();
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
}
