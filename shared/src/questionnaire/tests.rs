//! Property tests of the questionnaire rules: they hold for any input, and no input makes decoding panic.

use super::values::{Bounded, Text};
use super::{decode, Cells, DailyPain, Intake, Json, Violation};
use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON, biased towards the field names of the questionnaires so that nested rules are reached.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
        "[ \\t\\n\\x00-\\x1f]{0,4}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("patientName".to_owned()),
        Just("age".to_owned()),
        Just("hasAllergy".to_owned()),
        Just("painLevel".to_owned()),
        Just("medicationLogs".to_owned()),
        Just("drugName".to_owned()),
        Just("dosage".to_owned()),
        "\\PC{0,6}",
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn well_formed<C>(violations: &[Violation<C>]) -> bool {
    violations
        .iter()
        .all(|v| (v.path.is_empty() || v.path.starts_with('/')) && !v.message.is_empty())
}

proptest! {
    #[test]
    fn text_is_accepted_exactly_when_trimmed_length_fits_and_no_control_characters(raw in "\\PC{0,3}[\\s\\x00-\\x1f]{0,2}\\PC{0,210}") {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        let expected = (1..=200).contains(&len) && !trimmed.chars().any(char::is_control);
        let parsed = Text::<1, 200>::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(text) = parsed {
            prop_assert_eq!(text.as_str(), trimmed);
        }
    }

    #[test]
    fn bounded_integers_are_accepted_exactly_inside_their_range(n in any::<i64>()) {
        prop_assert_eq!(Bounded::<1, 150>::new(n).is_ok(), (1..=150).contains(&n));
        prop_assert_eq!(Bounded::<1, 10>::new(n).is_ok(), (1..=10).contains(&n));
    }

    #[test]
    fn any_json_decodes_or_is_rejected_with_addressed_violations(value in json()) {
        if let Err(v) = decode::<Intake, Json>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v), "{:?}", v);
        }
        if let Err(v) = decode::<DailyPain, Json>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v), "{:?}", v);
        }
        if let Err(v) = decode::<Intake, Cells>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v), "{:?}", v);
        }
        if let Err(v) = decode::<DailyPain, Cells>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v), "{:?}", v);
        }
    }

    #[test]
    fn valid_intakes_are_accepted_and_survive_storage(
        name in "[A-Za-zÀ-ÿ' -]{0,20}[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ' -]{0,20}",
        age in 1i64..=150,
        allergy in any::<bool>(),
    ) {
        let body = serde_json::json!({"patientName": name, "age": age, "hasAllergy": allergy});
        let intake = decode::<Intake, Json>(&body).unwrap();
        prop_assert_eq!(intake.patient_name.as_str(), name.trim());
        let stored = serde_json::to_value(&intake).unwrap();
        prop_assert_eq!(serde_json::from_value::<Intake>(stored).unwrap(), intake);
    }

    #[test]
    fn csv_cells_hold_the_same_values_as_json(level in 1i64..=10, logs in 0usize..=50) {
        let list: Vec<Value> = (0..logs).map(|i| serde_json::json!({"drugName": format!("d{i}"), "dosage": "1 mg"})).collect();
        let json = serde_json::json!({"painLevel": level, "medicationLogs": list});
        let text = serde_json::json!({"painLevel": level.to_string(), "medicationLogs": Value::Array(list).to_string()});
        prop_assert_eq!(decode::<DailyPain, Json>(&json).unwrap(), decode::<DailyPain, Cells>(&text).unwrap());
    }
}
