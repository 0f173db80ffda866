//! `imports/observations/<study_id>/<site_id>/…csv`: clinical observations in long format, one value per row.
//!
//! The key names the study and site a file belongs to: an uploader confined (by IAM) to a site's prefix can only
//! write that site's data, rows naming another study or site are rejected, and the site is part of each item's key,
//! so a row can never overwrite an observation recorded under another site. (A conditional write per row could
//! check the site instead, but `BatchWriteItem` takes no conditions: single conditional `PutItem`s are an order of
//! magnitude slower against DynamoDB, see AWS-NOTES.)

use super::{Dataset, Header, Row, RowContext, WriteItem};
use crate::config::ImportConfig;
use crate::import::ports::Item;
use crate::import::rejection::{Rejection, RejectionCode, RowCode};
use crate::provenance::Provenance;
use crate::questionnaire::values::{character_rule, lengths, nfc};
use crate::questionnaire::ViolationCode;
use aws_sdk_dynamodb::types::AttributeValue;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const IDENTIFIERS: [&str; 6] = ["study_id", "site_id", "subject_id", "visit", "form", "item"];
const REQUIRED: [&str; 8] = [
    "study_id",
    "site_id",
    "subject_id",
    "visit",
    "form",
    "item",
    "value",
    "collected_at",
];
const OPTIONAL: [&str; 1] = ["unit"];
const MAX_IDENTIFIER: usize = 128;
const MAX_VALUE: usize = 4_000;

/// `#` separates key parts and `%` escapes; both are escaped inside a part so keys stay unambiguous.
const KEY_PART: &AsciiSet = &CONTROLS.add(b'#').add(b'%');

pub struct Observations {
    table: String,
    /// The study and site the key names.
    study: String,
    site: String,
}

impl Observations {
    /// `rest` is the key after `imports/observations/`: `<study_id>/<site_id>/<file>`.
    pub fn for_key(rest: &str, config: &ImportConfig) -> Result<Box<dyn Dataset>, String> {
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [study, site, .., _file] if !study.is_empty() && !site.is_empty() => Ok(Box::new(Self {
                table: config.observations_table.clone(),
                study: nfc(study).into_owned(),
                site: nfc(site).into_owned(),
            })),
            _ => Err(
                "observation files go under imports/observations/<study_id>/<site_id>/; this key names no \
                      study and site"
                    .into(),
            ),
        }
    }
}

/// The stored item. `pk`/`sk` are deterministic, so importing the same row twice overwrites it.
///
/// Built into DynamoDB attributes by [`ObservationItem::into_item`] directly: through serde_dynamo it took a third
/// of the import's row work (its own attribute tree first, then a second tree of the SDK's types). The `Serialize`
/// form is the reference that tests hold the direct one to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObservationItem<'a> {
    /// `study_id#site_id#subject_id`: all observations of one subject at one site in one partition.
    pk: String,
    /// `visit#form#item`.
    sk: String,
    study_id: &'a str,
    site_id: &'a str,
    subject_id: &'a str,
    visit: &'a str,
    form: &'a str,
    item: &'a str,
    value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    /// As written in the file (validated RFC 3339; the original offset is kept).
    collected_at: &'a str,
    imported_at: &'a str,
    /// Who uploaded the file (S3's principal id): with `provenance.importId`, who and why of this state of the
    /// observation, as the audit trail records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    imported_by: Option<&'a str>,
    #[serde(serialize_with = "serialize_provenance")]
    provenance: (&'a Provenance, u64),
}

fn serialize_provenance<S: serde::Serializer>(p: &(&Provenance, u64), s: S) -> Result<S::Ok, S::Error> {
    Provenance {
        line: p.1,
        ..p.0.clone()
    }
    .serialize(s)
}

impl ObservationItem<'_> {
    fn into_item(self) -> Item {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let (file, line) = self.provenance;
        let mut provenance = HashMap::with_capacity(6);
        provenance.insert("bucket".to_owned(), s(&file.bucket));
        provenance.insert("key".to_owned(), s(&file.key));
        if let Some(version_id) = &file.version_id {
            provenance.insert("versionId".to_owned(), s(version_id));
        }
        if let Some(etag) = &file.etag {
            provenance.insert("etag".to_owned(), s(etag));
        }
        provenance.insert("line".to_owned(), AttributeValue::N(line.to_string()));
        provenance.insert("importId".to_owned(), s(&file.import_id));
        let mut item = HashMap::with_capacity(15);
        item.insert("pk".to_owned(), AttributeValue::S(self.pk));
        item.insert("sk".to_owned(), AttributeValue::S(self.sk));
        for (name, value) in [
            ("studyId", self.study_id),
            ("siteId", self.site_id),
            ("subjectId", self.subject_id),
            ("visit", self.visit),
            ("form", self.form),
            ("item", self.item),
            ("value", self.value),
            ("collectedAt", self.collected_at),
            ("importedAt", self.imported_at),
        ] {
            item.insert(name.to_owned(), s(value));
        }
        if let Some(unit) = self.unit {
            item.insert("unit".to_owned(), s(unit));
        }
        if let Some(uploader) = self.imported_by {
            item.insert("importedBy".to_owned(), s(uploader));
        }
        item.insert("provenance".to_owned(), AttributeValue::M(provenance));
        item
    }
}

fn key(parts: &[&str]) -> String {
    let mut key = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push('#');
        }
        key.extend(utf8_percent_encode(part, KEY_PART));
    }
    key
}

/// The rules of a text cell after its presence: control characters (tabs and CR and LF line breaks allowed in free
/// text; U+2028 and U+2029 are not, as everywhere), invisible and bidirectional formatting characters, then the
/// length, as written and in NFC (`normal`, what is stored). Reports the first one broken.
fn text_rules(
    report: &mut impl FnMut(&str, RejectionCode, String),
    column: &str,
    (value, normal): (&str, &str),
    free_text: bool,
    max: usize,
) {
    let line_breaks = |c: char| free_text && matches!(c, '\t' | '\n' | '\r');
    match character_rule(value, line_breaks) {
        Some((ViolationCode::ControlCharacter, _)) if free_text => report(
            column,
            ViolationCode::ControlCharacter.into(),
            "must not contain control characters other than tabs and line breaks".into(),
        ),
        Some((code, message)) => report(column, code.into(), message.into()),
        None if lengths(value, normal).1 > max => report(
            column,
            ViolationCode::TooLong.into(),
            format!("must have at most {max} characters"),
        ),
        None => {}
    }
}

impl Dataset for Observations {
    fn name(&self) -> String {
        "observations".into()
    }

    fn table(&self) -> &str {
        &self.table
    }

    fn key_attributes(&self) -> &'static [&'static str] {
        &["pk", "sk"]
    }

    fn check_header(&self, header: &Header) -> Result<(), String> {
        header.expect(&REQUIRED, &OPTIONAL)
    }

    fn decode(&self, row: &Row<'_>, at: &RowContext<'_>) -> Result<WriteItem, Vec<Rejection>> {
        let mut violations = Vec::new();
        let mut report =
            |column: &str, code: RejectionCode, message: String| violations.push(Rejection::new(column, code, message));
        let cell = |column: &str| row.get(column).unwrap_or("");

        // Every text is validated as written and kept in NFC: cells that look alike make the same key and item.
        let identifiers = IDENTIFIERS.map(|column| nfc(cell(column)));
        for (column, normal) in IDENTIFIERS.into_iter().zip(&identifiers) {
            let value = cell(column);
            if value.is_empty() {
                report(column, ViolationCode::Missing.into(), "is required".into());
            } else if value.trim() != value {
                report(
                    column,
                    RowCode::SurroundingSpace.into(),
                    "must not start or end with spaces".into(),
                );
            } else {
                text_rules(&mut report, column, (value, normal), false, MAX_IDENTIFIER);
            }
        }
        let value = nfc(cell("value"));
        if value.trim().is_empty() {
            report("value", ViolationCode::Missing.into(), "is required".into());
        } else {
            // Free text may span lines; NUL and other control characters are corruption.
            text_rules(&mut report, "value", (cell("value"), &value), true, MAX_VALUE);
        }
        let written_unit = row.get("unit").filter(|u| !u.trim().is_empty());
        let unit = written_unit.map(nfc);
        if let (Some(written), Some(unit)) = (written_unit, &unit) {
            text_rules(&mut report, "unit", (written, unit), false, MAX_IDENTIFIER);
        }
        let collected_at = cell("collected_at");
        if collected_at.is_empty() {
            report("collected_at", ViolationCode::Missing.into(), "is required".into());
        } else {
            match OffsetDateTime::parse(collected_at, &Rfc3339) {
                Err(_) => report(
                    "collected_at",
                    RowCode::InvalidFormat.into(),
                    "must be an RFC 3339 timestamp such as 2026-03-01T09:30:00Z".into(),
                ),
                Ok(t) if t > at.now => report(
                    "collected_at",
                    RowCode::InFuture.into(),
                    "is later than the time of the import".into(),
                ),
                Ok(_) => {}
            }
        }
        // A well-formed identifier must also be the one the key names (both in NFC).
        let [study_id, site_id, subject_id, visit, form, item] = &identifiers;
        for (column, stored, scope) in [("study_id", study_id, &self.study), ("site_id", site_id, &self.site)] {
            let well_formed = !violations.iter().any(|v| v.path == column);
            if well_formed && stored.as_ref() != scope.as_str() {
                let message = "differs from the study and site the file's key names";
                violations.push(Rejection::new(column, RowCode::ScopeMismatch, message));
            }
        }
        if !violations.is_empty() {
            return Err(violations);
        }

        let item = ObservationItem {
            pk: key(&[study_id, site_id, subject_id]),
            sk: key(&[visit, form, item]),
            study_id,
            site_id,
            subject_id,
            visit,
            form,
            item,
            value: &value,
            unit: unit.as_deref(),
            collected_at,
            imported_at: at.imported_at,
            imported_by: at.uploader,
            provenance: (at.file, at.line),
        };
        let key = format!("{}\u{0}{}", item.pk, item.sk);
        Ok(WriteItem {
            key,
            item: item.into_item(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::violation::paths_and_codes;
    use time::macros::datetime;

    fn decode(pairs: &[(&str, &str)]) -> Result<WriteItem, Vec<(String, RejectionCode)>> {
        let dataset = Observations {
            table: "t".into(),
            study: "ST-1".into(),
            site: "S01".into(),
        };
        decode_by(&dataset, pairs).map_err(|v| paths_and_codes(&v))
    }

    /// One row of `pairs` (column, cell) decoded by `dataset`, uploaded by `AWS:AIDA-SITE-1` for import `i`.
    fn decode_by(dataset: &dyn Dataset, pairs: &[(&str, &str)]) -> Result<WriteItem, Vec<Rejection>> {
        let header = Header::new(pairs.iter().map(|(k, _)| k.to_string()).collect()).unwrap();
        let cells: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
        let provenance = Provenance {
            bucket: "b".into(),
            key: "imports/observations/ST-1/S01/x.csv".into(),
            version_id: None,
            etag: Some("e".into()),
            line: 2,
            import_id: "i".into(),
        };
        let secret = crate::import::ids::IdSecret::from_bytes(&[7; 32]).unwrap();
        let at = RowContext {
            file: &provenance,
            line: 2,
            id_secret: &secret,
            request_id: "r",
            uploader: Some("AWS:AIDA-SITE-1"),
            now: datetime!(2026-11-27 12:00 UTC),
            imported_at: "2026-11-27T12:00:00.000Z",
            object_time: datetime!(2026-11-27 11:00 UTC),
        };
        dataset.decode(&Row::new(&header, &cells), &at)
    }

    fn row() -> Vec<(&'static str, &'static str)> {
        vec![
            ("study_id", "ST-1"),
            ("site_id", "S01"),
            ("subject_id", "SUBJ-001"),
            ("visit", "V1"),
            ("form", "VITALS"),
            ("item", "SYSBP"),
            ("value", "120"),
            ("unit", "mmHg"),
            ("collected_at", "2026-03-01T09:30:00+01:00"),
        ]
    }

    fn with<'a>(column: &str, value: &'a str) -> Vec<(&'a str, &'a str)> {
        row()
            .into_iter()
            .map(|(k, v)| (k, if k == column { value } else { v }))
            .collect()
    }

    #[test]
    fn a_valid_row_gets_a_deterministic_key_and_its_provenance() {
        let item = decode(&row()).unwrap();
        assert_eq!(item.item["pk"].as_s().unwrap(), "ST-1#S01#SUBJ-001");
        assert_eq!(item.item["sk"].as_s().unwrap(), "V1#VITALS#SYSBP");
        assert_eq!(item, decode(&row()).unwrap());
        let provenance = item.item["provenance"].as_m().unwrap();
        assert_eq!(provenance["line"].as_n().unwrap(), "2");
        // Who wrote this state and for which job: what the audit trail records of each change.
        assert_eq!(provenance["importId"].as_s().unwrap(), "i");
        assert_eq!(item.item["importedBy"].as_s().unwrap(), "AWS:AIDA-SITE-1");
        // The value is not part of the key: a corrected value overwrites.
        assert_eq!(decode(&with("value", "125")).unwrap().key, item.key);
    }

    #[test]
    fn the_item_built_directly_is_what_serde_dynamo_makes_of_the_record() {
        for (unit, version_id, etag, uploader) in [
            (Some("mmHg"), Some("v1"), Some("e"), Some("AWS:AIDA-SITE-1")),
            (None, None, None, None),
        ] {
            let file = Provenance {
                bucket: "b".into(),
                key: "imports/observations/ST-1/S01/x.csv".into(),
                version_id: version_id.map(str::to_owned),
                etag: etag.map(str::to_owned),
                line: 0,
                import_id: "i".into(),
            };
            let record = || ObservationItem {
                pk: "ST-1#S01#SUBJ-001".into(),
                sk: "V1#VITALS#SYSBP".into(),
                study_id: "ST-1",
                site_id: "S01",
                subject_id: "SUBJ-001",
                visit: "V1",
                form: "VITALS",
                item: "SYSBP",
                value: "120",
                unit,
                collected_at: "2026-03-01T09:30:00+01:00",
                imported_at: "2026-11-27T12:00:00.000Z",
                imported_by: uploader,
                provenance: (&file, 17),
            };
            let reference: Item = serde_dynamo::to_item(record()).unwrap();
            assert_eq!(record().into_item(), reference);
            assert_eq!(reference["provenance"].as_m().unwrap()["line"].as_n().unwrap(), "17");
        }
    }

    #[test]
    fn rows_of_another_study_or_site_than_the_key_names_are_rejected() {
        assert_eq!(
            decode(&with("site_id", "S02")).unwrap_err(),
            vec![("site_id".to_owned(), RowCode::ScopeMismatch.into())]
        );
        assert_eq!(
            decode(&with("study_id", "ST-2")).unwrap_err(),
            vec![("study_id".to_owned(), RowCode::ScopeMismatch.into())]
        );
    }

    #[test]
    fn keys_must_name_the_study_and_the_site() {
        let config = ImportConfig::for_tests();
        assert!(Observations::for_key("ST-1/S01/visit.csv", &config).is_ok());
        assert!(Observations::for_key("ST-1/S01/2026/visit.csv", &config).is_ok());
        for bad in ["visit.csv", "ST-1/visit.csv", "ST-1//visit.csv"] {
            let err = Observations::for_key(bad, &config).err().expect(bad);
            assert!(err.contains("<study_id>/<site_id>"), "{err}");
        }
    }

    #[test]
    fn separators_inside_identifiers_cannot_make_two_keys_equal() {
        let a = decode(&with("visit", "V1#X")).unwrap();
        let b = decode(&with("form", "X#VITALS")).unwrap();
        assert_ne!(a.key, b.key);
    }

    #[test]
    fn unit_is_optional() {
        let without: Vec<_> = row().into_iter().filter(|(k, _)| *k != "unit").collect();
        assert!(!decode(&without).unwrap().item.contains_key("unit"));
        assert!(!decode(&with("unit", "")).unwrap().item.contains_key("unit"));
    }

    #[test]
    fn every_rule_reports_its_column_and_code() {
        let cases: [(&str, &str, RejectionCode); 17] = [
            ("subject_id", "", ViolationCode::Missing.into()),
            (
                "subject_id",
                "SUBJ-\u{E0041}001",
                ViolationCode::ForbiddenCharacter.into(),
            ),
            ("item", "SYS\u{00AD}BP", ViolationCode::ForbiddenCharacter.into()),
            ("unit", "mm\u{FE0F}Hg", ViolationCode::ForbiddenCharacter.into()),
            ("value", "high\u{3164}", ViolationCode::ForbiddenCharacter.into()),
            ("subject_id", " SUBJ-001", RowCode::SurroundingSpace.into()),
            ("visit", "V1 ", RowCode::SurroundingSpace.into()),
            ("form", "VI\tTALS", ViolationCode::ControlCharacter.into()),
            (
                "subject_id",
                "SUBJ\u{200b}001",
                ViolationCode::ForbiddenCharacter.into(),
            ),
            ("value", "12\u{202e}0", ViolationCode::ForbiddenCharacter.into()),
            ("unit", "mm\u{0}Hg", ViolationCode::ControlCharacter.into()),
            ("unit", "mm\u{2066}Hg", ViolationCode::ForbiddenCharacter.into()),
            ("value", " ", ViolationCode::Missing.into()),
            ("value", "12\u{0}0", ViolationCode::ControlCharacter.into()),
            ("collected_at", "", ViolationCode::Missing.into()),
            ("collected_at", "2026-03-01 09:30", RowCode::InvalidFormat.into()),
            ("collected_at", "2026-11-27T12:00:01Z", RowCode::InFuture.into()),
        ];
        for (column, value, code) in cases {
            assert_eq!(
                decode(&with(column, value)).unwrap_err(),
                vec![(column.to_owned(), code)],
                "{column}={value:?}"
            );
        }
        assert!(
            decode(&with("collected_at", "2026-11-27T12:00:00Z")).is_ok(),
            "now itself is not the future"
        );
    }

    #[test]
    fn values_may_hold_tabs_and_line_breaks_but_not_line_or_paragraph_separators() {
        for value in ["first\tsecond", "first\nsecond", "first\r\nsecond"] {
            assert!(decode(&with("value", value)).is_ok(), "{value:?}");
        }
        for value in ["first\u{2028}second", "first\u{2029}second"] {
            assert_eq!(
                decode(&with("value", value)).unwrap_err(),
                vec![("value".to_owned(), ViolationCode::ForbiddenCharacter.into())],
                "{value:?}"
            );
        }
    }

    #[test]
    fn cells_in_nfd_make_the_same_key_and_item_as_in_nfc() {
        let composed = decode(&with("subject_id", "SUBJ-\u{00C9}")).unwrap();
        let decomposed = decode(&with("subject_id", "SUBJ-E\u{0301}")).unwrap();
        assert_eq!(composed.key, decomposed.key);
        assert_eq!(composed.item, decomposed.item);
        assert_eq!(decomposed.item["subjectId"].as_s().unwrap(), "SUBJ-\u{00C9}");
        let value = decode(&with("value", "cafe\u{0301}")).unwrap();
        assert_eq!(value.item["value"].as_s().unwrap(), "caf\u{00E9}");
    }

    #[test]
    fn a_key_naming_its_study_in_nfd_takes_the_rows_naming_it_in_nfc() {
        let dataset = Observations::for_key("STUDIE-E\u{0301}/S01/x.csv", &ImportConfig::for_tests()).unwrap();
        let pairs: Vec<(&str, &str)> = row()
            .into_iter()
            .map(|(k, v)| (k, if k == "study_id" { "STUDIE-\u{00C9}" } else { v }))
            .collect();
        let item = decode_by(dataset.as_ref(), &pairs).unwrap();
        assert_eq!(item.item["studyId"].as_s().unwrap(), "STUDIE-\u{00C9}");
    }

    #[test]
    fn lengths_hold_for_the_cell_as_written_and_in_nfc() {
        let exactly = "e\u{0301}".repeat(64);
        assert!(
            decode(&with("form", &exactly)).is_ok(),
            "128 characters as written, 64 in NFC"
        );
        let longer = "e\u{0301}".repeat(65);
        assert_eq!(
            decode(&with("form", &longer)).unwrap_err(),
            vec![("form".to_owned(), ViolationCode::TooLong.into())],
            "130 characters as written"
        );
        let growing = format!("{}\u{0958}", "a".repeat(127));
        assert_eq!(
            decode(&with("form", &growing)).unwrap_err(),
            vec![("form".to_owned(), ViolationCode::TooLong.into())],
            "128 characters as written, 129 in NFC"
        );
    }

    #[test]
    fn all_violations_of_a_row_are_reported() {
        let errs = decode(&[("study_id", ""), ("site_id", " x"), ("subject_id", "s")]).unwrap_err();
        let columns: Vec<&str> = errs.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            columns,
            ["study_id", "site_id", "visit", "form", "item", "value", "collected_at"]
        );
    }
}
