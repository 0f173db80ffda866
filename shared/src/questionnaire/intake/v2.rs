//! `intake` version 2, from the first protocol amendment: the name is `fullName`, and the smoking status is asked.

use crate::questionnaire::decode::{type_name, Decode, Decoder, Fields, Source};
use crate::questionnaire::{Questionnaire, ViolationCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::v1::Age;
/// The name as written on the form, with version 1's rules.
pub type FullName = super::v1::PatientName;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeV2 {
    /// Version 1's `patientName`, renamed.
    pub full_name: FullName,
    pub age: Age,
    pub has_allergy: bool,
    /// Added by the amendment; required.
    pub smoking_status: SmokingStatus,
}

/// The smoking-status item. `unknown` is an answer of its own ("does not know or does not say"), and the one that
/// answers of version 1, where the item did not exist, read as.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, strum::EnumString, strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SmokingStatus {
    Never,
    Former,
    Current,
    Unknown,
}

impl Decode for SmokingStatus {
    /// Exactly one of the options' spellings; the message lists the options, never what was sent.
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        use strum::VariantNames;
        let options = Self::VARIANTS.join(", ");
        match value {
            Value::String(text) => text.parse().ok().or_else(|| {
                d.report(path, ViolationCode::UnknownOption, format!("must be one of: {options}"));
                None
            }),
            other => {
                let message = format!("must be one of: {options} (a string), got {}", type_name(other));
                d.report(path, ViolationCode::WrongType, message);
                None
            }
        }
    }
}

impl Questionnaire for IntakeV2 {
    const KIND: &'static str = "intake";
    const SCHEMA_VERSION: u32 = 2;

    fn decode_fields<S: Source>(f: &mut Fields<'_>, d: &mut Decoder<S>) -> Option<Self> {
        let full_name = f.required("fullName", d);
        let age = f.required("age", d);
        let has_allergy = f.required("hasAllergy", d);
        let smoking_status = f.required("smokingStatus", d);
        Some(Self {
            full_name: full_name?,
            age: age?,
            has_allergy: has_allergy?,
            smoking_status: smoking_status?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::violation::paths_and_codes;
    use crate::questionnaire::{decode, CellCode, Cells, Json};
    use serde_json::json;

    fn violations(body: Value) -> Vec<(String, ViolationCode)> {
        paths_and_codes(&decode::<IntakeV2, Json>(&body).expect_err("must be rejected"))
    }

    #[test]
    fn a_valid_answer_is_accepted_and_stored_with_its_own_names() {
        let body = json!({"fullName": " Jane Example ", "age": 42, "hasAllergy": true, "smokingStatus": "former"});
        let intake = decode::<IntakeV2, Json>(&body).unwrap();
        assert_eq!(intake.full_name.as_str(), "Jane Example");
        assert_eq!(intake.smoking_status, SmokingStatus::Former);
        assert_eq!(
            serde_json::to_value(&intake).unwrap(),
            json!({"fullName": "Jane Example", "age": 42, "hasAllergy": true, "smokingStatus": "former"})
        );
    }

    #[test]
    fn a_version_1_body_is_told_what_changed() {
        assert_eq!(
            violations(json!({"patientName": "Jane", "age": 42, "hasAllergy": true})),
            vec![
                ("/fullName".to_owned(), ViolationCode::Missing),
                ("/smokingStatus".to_owned(), ViolationCode::Missing),
                ("/patientName".to_owned(), ViolationCode::UnknownField),
            ]
        );
    }

    #[test]
    fn the_smoking_status_is_one_of_its_options_spelled_exactly() {
        let body = |status: Value| json!({"fullName": "A", "age": 30, "hasAllergy": false, "smokingStatus": status});
        for ok in ["never", "former", "current", "unknown"] {
            assert!(decode::<IntakeV2, Json>(&body(json!(ok))).is_ok(), "{ok}");
        }
        for bad in ["Never", "smoker", "", " never"] {
            assert_eq!(
                violations(body(json!(bad))),
                vec![("/smokingStatus".to_owned(), ViolationCode::UnknownOption)],
                "{bad:?}"
            );
        }
        for bad in [json!(1), json!(null), json!(["never"])] {
            assert_eq!(
                violations(body(bad)),
                vec![("/smokingStatus".to_owned(), ViolationCode::WrongType)]
            );
        }
        let errs = decode::<IntakeV2, Json>(&body(json!("Jane smokes"))).unwrap_err();
        assert!(!errs[0].message.contains("Jane"), "{}", errs[0].message);
    }

    #[test]
    fn csv_cells_take_the_same_options_and_an_empty_cell_is_missing() {
        let row = |status: &str| json!({"fullName": "A", "age": "30", "hasAllergy": "false", "smokingStatus": status});
        assert!(decode::<IntakeV2, Cells>(&row("current")).is_ok());
        let errs = decode::<IntakeV2, Cells>(&row("")).unwrap_err();
        assert_eq!(errs[0].code, CellCode::Rule(ViolationCode::Missing));
        let errs = decode::<IntakeV2, Cells>(&row("yes")).unwrap_err();
        assert_eq!(errs[0].code, CellCode::Rule(ViolationCode::UnknownOption));
    }

    #[test]
    fn the_stored_form_is_revalidated_on_read() {
        let stored = json!({"fullName": "A", "age": 30, "hasAllergy": false, "smokingStatus": "never"});
        assert!(serde_json::from_value::<IntakeV2>(stored).is_ok());
        let bad = json!({"fullName": "A", "age": 30, "hasAllergy": false, "smokingStatus": "sometimes"});
        assert!(serde_json::from_value::<IntakeV2>(bad).is_err());
    }
}
