//! Property tests of the questionnaire rules: they hold for any input, and no input makes decoding panic.

use super::values::{text_pattern, Bounded, Text};
use super::{decode, Cells, DailyPain, Intake, Json, Violation};
use proptest::prelude::*;
use serde_json::Value;

/// The characters no answer may hold, listed one by one from the rule (bidirectional formatting and zero-width
/// characters), independently of the decoder's own ranges.
const FORBIDDEN: [char; 21] = [
    '\u{061C}', // ARABIC LETTER MARK
    '\u{200B}', // ZERO WIDTH SPACE
    '\u{200C}', // ZERO WIDTH NON-JOINER
    '\u{200D}', // ZERO WIDTH JOINER
    '\u{200E}', // LEFT-TO-RIGHT MARK
    '\u{200F}', // RIGHT-TO-LEFT MARK
    '\u{202A}', // LEFT-TO-RIGHT EMBEDDING
    '\u{202B}', // RIGHT-TO-LEFT EMBEDDING
    '\u{202C}', // POP DIRECTIONAL FORMATTING
    '\u{202D}', // LEFT-TO-RIGHT OVERRIDE
    '\u{202E}', // RIGHT-TO-LEFT OVERRIDE
    '\u{2060}', // WORD JOINER
    '\u{2061}', // FUNCTION APPLICATION
    '\u{2062}', // INVISIBLE TIMES
    '\u{2063}', // INVISIBLE SEPARATOR
    '\u{2064}', // INVISIBLE PLUS
    '\u{2066}', // LEFT-TO-RIGHT ISOLATE
    '\u{2067}', // RIGHT-TO-LEFT ISOLATE
    '\u{2068}', // FIRST STRONG ISOLATE
    '\u{2069}', // POP DIRECTIONAL ISOLATE
    '\u{FEFF}', // ZERO WIDTH NO-BREAK SPACE (byte-order mark)
];

/// Allowed characters right beside the forbidden ones, white space among them: an off-by-one range shows here.
const NEIGHBOURS: [char; 10] = [
    '\u{061B}', '\u{061D}', '\u{200A}', '\u{2010}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{2065}', '\u{206A}',
    '\u{FEFE}',
];

/// Control characters (Unicode's Cc): C0, DEL and C1.
fn is_control(c: char) -> bool {
    matches!(u32::from(c), 0..=0x1F | 0x7F..=0x9F)
}

/// Text near the rules' edges: white space and control characters around and inside, every forbidden character and
/// its neighbours, lengths on both sides of the limits.
fn text() -> impl Strategy<Value = String> {
    let mut odd = vec![
        '\u{0}', '\t', '\n', '\r', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}', '\u{7f}', '\u{9f}', ' ',
    ];
    odd.extend(FORBIDDEN);
    odd.extend(NEIGHBOURS);
    let odd = prop::sample::select(odd);
    (
        prop::collection::vec(odd.clone(), 0..3),
        "\\PC{0,3}",
        prop::collection::vec(odd.clone(), 0..2),
        "\\PC{0,210}",
        prop::collection::vec(odd, 0..3),
    )
        .prop_map(|(a, b, c, d, e)| {
            let mut s: String = a.into_iter().collect();
            s.push_str(&b);
            s.extend(c);
            s.push_str(&d);
            s.extend(e);
            s
        })
}

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
        // `\PC` never yields a control or format character: these do.
        text().prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("patientName".to_owned()),
        Just("age".to_owned()),
        Just("hasAllergy".to_owned()),
        Just("painLevel".to_owned()),
        Just("medicationLogs".to_owned()),
        Just("drugName".to_owned()),
        Just("dosage".to_owned()),
        // A known name with an invisible character inside is another, unknown name.
        Just("patient\u{200d}Name".to_owned()),
        Just("\u{feff}painLevel".to_owned()),
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
    fn text_is_accepted_exactly_when_trimmed_length_fits_and_no_control_or_forbidden_characters(raw in text()) {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        let expected = (1..=200).contains(&len)
            && !trimmed.chars().any(is_control)
            && !trimmed.chars().any(|c| FORBIDDEN.contains(&c));
        let parsed = Text::<1, 200>::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(text) = parsed {
            prop_assert_eq!(text.as_str(), trimmed);
        }
    }

    /// The OpenAPI document's pattern is the rule itself: a text matches it exactly when the API accepts it.
    #[test]
    fn the_schema_pattern_matches_exactly_the_texts_the_decoder_accepts(raw in text(), short in "[ a\\t\u{200d}]{0,6}") {
        for (min, max) in [(1, 200), (1, 100), (1, 3)] {
            let pattern = regex::Regex::new(&text_pattern(min, max)).unwrap();
            for candidate in [raw.as_str(), short.as_str()] {
                let accepted = match (min, max) {
                    (1, 200) => Text::<1, 200>::parse(candidate).is_ok(),
                    (1, 100) => Text::<1, 100>::parse(candidate).is_ok(),
                    _ => Text::<1, 3>::parse(candidate).is_ok(),
                };
                prop_assert_eq!(pattern.is_match(candidate), accepted, "{:?} ({}..={})", candidate, min, max);
            }
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
