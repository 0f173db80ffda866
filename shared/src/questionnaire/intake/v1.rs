//! `intake` version 1: the enrolment form as first approved.

use super::v2::{IntakeV2, SmokingStatus};
use crate::questionnaire::decode::{Decoder, Fields, Source};
use crate::questionnaire::values::{Bounded, Text};
use crate::questionnaire::{Next, Questionnaire};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Patient name as written on the form, trimmed, 1–200 characters.
pub type PatientName = Text<1, 200>;
/// Age in whole years; zero is a data-entry error, above 150 is implausible.
pub type Age = Bounded<1, 150>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeV1 {
    pub patient_name: PatientName,
    pub age: Age,
    pub has_allergy: bool,
}

impl Questionnaire for IntakeV1 {
    const KIND: &'static str = "intake";
    const SCHEMA_VERSION: u32 = 1;

    fn decode_fields<S: Source>(f: &mut Fields<'_>, d: &mut Decoder<S>) -> Option<Self> {
        let patient_name = f.required("patientName", d);
        let age = f.required("age", d);
        let has_allergy = f.required("hasAllergy", d);
        Some(Self {
            patient_name: patient_name?,
            age: age?,
            has_allergy: has_allergy?,
        })
    }

    /// Version 2 renamed the name and added the smoking status, which version 1 never asked: `unknown` is what the
    /// form records when an answer was not given, so every version-1 answer has its version-2 reading.
    fn upgrade(self) -> Next {
        Next::to(IntakeV2 {
            full_name: self.patient_name,
            age: self.age,
            has_allergy: self.has_allergy,
            smoking_status: SmokingStatus::Unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::violation::paths_and_codes;
    use crate::questionnaire::{decode, CellCode, Cells, Json, ViolationCode};
    use serde_json::{json, Value};

    fn violations(body: Value) -> Vec<(String, ViolationCode)> {
        paths_and_codes(&decode::<IntakeV1, Json>(&body).expect_err("must be rejected"))
    }

    fn v(path: &str, code: ViolationCode) -> (String, ViolationCode) {
        (path.to_owned(), code)
    }

    #[test]
    fn valid_intake_is_accepted_and_name_is_trimmed() {
        let intake =
            decode::<IntakeV1, Json>(&json!({"patientName": "  Jane Example ", "age": 42, "hasAllergy": true}))
                .unwrap();
        assert_eq!(intake.patient_name.as_str(), "Jane Example");
        assert_eq!(intake.age.get(), 42);
        assert!(intake.has_allergy);
    }

    #[test]
    fn age_as_string_is_rejected_and_missing_fields_are_all_reported() {
        assert_eq!(
            violations(json!({"age": "25"})),
            vec![
                v("/patientName", ViolationCode::Missing),
                v("/age", ViolationCode::WrongType),
                v("/hasAllergy", ViolationCode::Missing),
            ]
        );
    }

    #[test]
    fn a_field_name_with_an_invisible_character_inside_is_another_name() {
        assert_eq!(
            violations(json!({"patient\u{200d}Name": "Jane", "age": 42, "hasAllergy": false})),
            vec![
                v("/patientName", ViolationCode::Missing),
                v("/patient\u{200d}Name", ViolationCode::UnknownField),
            ]
        );
    }

    #[test]
    fn age_boundaries() {
        for (age, ok) in [(0, false), (1, true), (150, true), (151, false), (-1, false)] {
            let body = json!({"patientName": "A", "age": age, "hasAllergy": false});
            assert_eq!(decode::<IntakeV1, Json>(&body).is_ok(), ok, "age {age}");
        }
        assert_eq!(
            violations(json!({"patientName": "A", "age": 0, "hasAllergy": false})),
            vec![v("/age", ViolationCode::OutOfRange)]
        );
    }

    #[test]
    fn age_must_be_a_whole_number_not_a_decimal_or_huge_number() {
        assert_eq!(
            violations(json!({"patientName": "A", "age": 25.5, "hasAllergy": false})),
            vec![v("/age", ViolationCode::WrongType)]
        );
        // 25.0 is the integer 25, as JSON Schema counts it: what the schema allows, the API accepts.
        let whole = decode::<IntakeV1, Json>(&json!({"patientName": "A", "age": 25.0, "hasAllergy": false})).unwrap();
        assert_eq!(whole.age.get(), 25);
        assert_eq!(
            violations(json!({"patientName": "A", "age": 1e300, "hasAllergy": false})),
            vec![v("/age", ViolationCode::OutOfRange)]
        );
        assert_eq!(
            violations(json!({"patientName": "A", "age": u64::MAX, "hasAllergy": false})),
            vec![v("/age", ViolationCode::OutOfRange)]
        );
    }

    #[test]
    fn name_length_is_counted_in_characters_after_trimming() {
        let name = |s: String| json!({"patientName": s, "age": 30, "hasAllergy": false});
        assert_eq!(
            violations(name("   ".into())),
            vec![v("/patientName", ViolationCode::TooShort)]
        );
        assert!(decode::<IntakeV1, Json>(&name("é".repeat(200))).is_ok());
        assert!(decode::<IntakeV1, Json>(&name(format!("  {}  ", "a".repeat(200)))).is_ok());
        assert_eq!(
            violations(name("a".repeat(201))),
            vec![v("/patientName", ViolationCode::TooLong)]
        );
    }

    #[test]
    fn control_and_forbidden_characters_are_rejected_but_other_unicode_is_kept() {
        let name = |s: &str| json!({"patientName": s, "age": 30, "hasAllergy": false});
        for bad in ["A\u{0}B", "A\nB", "A\u{1b}[31mB"] {
            assert_eq!(
                violations(name(bad)),
                vec![v("/patientName", ViolationCode::ControlCharacter)],
                "{bad:?}"
            );
        }
        for bad in ["Zoë \u{202e}Åsa", "Zo\u{200b}ë", "\u{2067}Åsa\u{2069}", "Åsa\u{feff}"] {
            assert_eq!(
                violations(name(bad)),
                vec![v("/patientName", ViolationCode::ForbiddenCharacter)],
                "{bad:?}"
            );
        }
        let kept = decode::<IntakeV1, Json>(&name("Zoë Åsa-Ngọc 😀 محمد")).unwrap();
        assert_eq!(kept.patient_name.as_str(), "Zoë Åsa-Ngọc 😀 محمد");
    }

    #[test]
    fn booleans_are_not_coerced_from_strings_or_numbers() {
        for bad in [json!("true"), json!(1), json!(null)] {
            assert_eq!(
                violations(json!({"patientName": "A", "age": 30, "hasAllergy": bad})),
                vec![v("/hasAllergy", ViolationCode::WrongType)]
            );
        }
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        assert_eq!(
            violations(json!({"patientName": "A", "age": 30, "hasAllergy": false, "notes": "x", "a/b": 1})),
            vec![
                v("/a~1b", ViolationCode::UnknownField),
                v("/notes", ViolationCode::UnknownField)
            ]
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_wrong_type_at_the_root() {
        for body in [json!([]), json!("x"), json!(3), json!(null)] {
            assert_eq!(violations(body), vec![v("", ViolationCode::WrongType)]);
        }
    }

    #[test]
    fn csv_text_cells_are_parsed_strictly() {
        let row = |age: &str, allergy: &str| json!({"patientName": "A", "age": age, "hasAllergy": allergy});
        assert!(decode::<IntakeV1, Cells>(&row("25", "false")).is_ok());
        for (age, allergy, path) in [
            ("25.0", "false", "/age"),
            ("x", "false", "/age"),
            ("25", "yes", "/hasAllergy"),
        ] {
            let errs = decode::<IntakeV1, Cells>(&row(age, allergy)).unwrap_err();
            assert_eq!(errs.len(), 1);
            assert_eq!(
                (errs[0].path.as_str(), errs[0].code),
                (path, CellCode::Rule(ViolationCode::WrongType))
            );
        }
        let errs = decode::<IntakeV1, Cells>(&row("", "true")).unwrap_err();
        assert_eq!(
            (errs[0].path.as_str(), errs[0].code),
            ("/age", CellCode::Rule(ViolationCode::Missing))
        );
        let errs = decode::<IntakeV1, Cells>(&row("99999999999999999999", "true")).unwrap_err();
        assert_eq!(errs[0].code, CellCode::Rule(ViolationCode::OutOfRange));
    }

    #[test]
    fn stored_form_round_trips_and_is_revalidated_on_read() {
        let intake = decode::<IntakeV1, Json>(&json!({"patientName": "A", "age": 30, "hasAllergy": false})).unwrap();
        let stored = serde_json::to_value(&intake).unwrap();
        assert_eq!(serde_json::from_value::<IntakeV1>(stored).unwrap(), intake);
        assert!(
            serde_json::from_value::<IntakeV1>(json!({"patientName": "A", "age": 0, "hasAllergy": false})).is_err()
        );
    }

    #[test]
    fn debug_output_does_not_contain_the_name_nor_its_length() {
        let intake =
            decode::<IntakeV1, Json>(&json!({"patientName": "Jane Example", "age": 30, "hasAllergy": false})).unwrap();
        let debug = format!("{intake:?}");
        assert!(!debug.contains("Jane") && !debug.contains("12"), "{debug}");
    }
}
