//! `daily-pain`: the daily pain diary with the medication taken that day.

use super::decode::{object, Decode, Decoder, Fields, Source};
use super::values::{Bounded, List, Text};
use super::Questionnaire;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Numeric rating scale, 1 (least) to 10 (worst).
pub type PainLevel = Bounded<1, 10>;
/// At most 50 medication entries per day.
pub type MedicationLogs = List<MedicationLog, 50>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DailyPain {
    pub pain_level: PainLevel,
    /// Absent means "not answered", which is kept apart from an empty list ("took nothing").
    /// (`null` is not "absent": it is rejected like any other wrong type.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "MedicationLogs")]
    pub medication_logs: Option<MedicationLogs>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MedicationLog {
    pub drug_name: Text<1, 200>,
    pub dosage: Text<1, 100>,
}

impl Decode for MedicationLog {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        object(value, path, d, |f, d| {
            let drug_name = f.required("drugName", d);
            let dosage = f.required("dosage", d);
            Some(Self {
                drug_name: drug_name?,
                dosage: dosage?,
            })
        })
    }
}

impl Questionnaire for DailyPain {
    const KIND: &'static str = "daily-pain";
    const SCHEMA_VERSION: u32 = 1;

    fn decode_fields<S: Source>(f: &mut Fields<'_>, d: &mut Decoder<S>) -> Option<Self> {
        let pain_level = f.required("painLevel", d);
        let medication_logs = f.optional("medicationLogs", d);
        Some(Self {
            pain_level: pain_level?,
            medication_logs: medication_logs?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::violation::paths_and_codes;
    use crate::questionnaire::{decode, CellCode, Cells, Json, ViolationCode};
    use serde_json::json;

    fn codes<S: crate::questionnaire::Source>(body: Value) -> Vec<(String, S::Code)>
    where
        S::Code: Copy,
    {
        paths_and_codes(&decode::<DailyPain, S>(&body).expect_err("must be rejected"))
    }

    fn log(drug: &str, dosage: &str) -> Value {
        json!({"drugName": drug, "dosage": dosage})
    }

    #[test]
    fn pain_level_boundaries() {
        for (level, ok) in [(0, false), (1, true), (10, true), (11, false)] {
            assert_eq!(
                decode::<DailyPain, Json>(&json!({"painLevel": level})).is_ok(),
                ok,
                "{level}"
            );
        }
    }

    #[test]
    fn medication_logs_may_be_absent_or_empty_and_stay_distinct() {
        let absent = decode::<DailyPain, Json>(&json!({"painLevel": 2})).unwrap();
        let empty = decode::<DailyPain, Json>(&json!({"painLevel": 2, "medicationLogs": []})).unwrap();
        assert!(absent.medication_logs.is_none());
        assert_eq!(empty.medication_logs.map(|l| l.as_slice().len()), Some(0));
        assert!(serde_json::to_value(&absent).unwrap().get("medicationLogs").is_none());
    }

    #[test]
    fn fifty_entries_are_fine_and_fifty_one_are_too_many() {
        let logs = |n: usize| json!({"painLevel": 5, "medicationLogs": vec![log("a", "1 mg"); n]});
        assert!(decode::<DailyPain, Json>(&logs(50)).is_ok());
        assert_eq!(
            codes::<Json>(logs(51)),
            vec![("/medicationLogs".into(), ViolationCode::TooManyItems)]
        );
    }

    #[test]
    fn every_bad_entry_is_reported_with_its_index() {
        let body = json!({
            "painLevel": "7",
            "medicationLogs": [log("a", "1 mg"), {"drugName": "", "dosage": 5}, log("b", "  "), {"dose": "x"}]
        });
        assert_eq!(
            codes::<Json>(body),
            vec![
                ("/painLevel".into(), ViolationCode::WrongType),
                ("/medicationLogs/1/drugName".into(), ViolationCode::TooShort),
                ("/medicationLogs/1/dosage".into(), ViolationCode::WrongType),
                ("/medicationLogs/2/dosage".into(), ViolationCode::TooShort),
                ("/medicationLogs/3/drugName".into(), ViolationCode::Missing),
                ("/medicationLogs/3/dosage".into(), ViolationCode::Missing),
                ("/medicationLogs/3/dose".into(), ViolationCode::UnknownField),
            ]
        );
    }

    #[test]
    fn entries_must_be_objects_and_the_list_an_array() {
        assert_eq!(
            codes::<Json>(json!({"painLevel": 1, "medicationLogs": ["x"]})),
            vec![("/medicationLogs/0".into(), ViolationCode::WrongType)]
        );
        assert_eq!(
            codes::<Json>(json!({"painLevel": 1, "medicationLogs": {"drugName": "a"}})),
            vec![("/medicationLogs".into(), ViolationCode::WrongType)]
        );
    }

    #[test]
    fn csv_cells_carry_the_list_as_json_and_apply_the_same_rules() {
        let ok = json!({"painLevel": "4", "medicationLogs": r#"[{"drugName":"Paracetamol","dosage":"1 g"}]"#});
        let pain = decode::<DailyPain, Cells>(&ok).unwrap();
        assert_eq!(pain.pain_level.get(), 4);
        assert_eq!(
            pain.medication_logs.unwrap().as_slice()[0].drug_name.as_str(),
            "Paracetamol"
        );

        let bad_json = json!({"painLevel": "4", "medicationLogs": "[{"});
        assert_eq!(
            codes::<Cells>(bad_json),
            vec![("/medicationLogs".into(), CellCode::InvalidJson)]
        );

        // Inside the JSON cell, JSON types apply again: a number is not a dosage.
        let typed = json!({"painLevel": "4", "medicationLogs": r#"[{"drugName":"a","dosage":5}]"#});
        assert_eq!(
            codes::<Cells>(typed),
            vec![("/medicationLogs/0/dosage".into(), ViolationCode::WrongType.into())]
        );

        let many = serde_json::to_string(&vec![log("a", "1"); 51]).unwrap();
        assert_eq!(
            codes::<Cells>(json!({"painLevel": "4", "medicationLogs": many})),
            vec![("/medicationLogs".into(), ViolationCode::TooManyItems.into())]
        );
    }
}
