//! Property tests of the questionnaire rules: they hold for any input, and no input makes decoding panic.

use super::values::{forbidden_class, is_forbidden, text_pattern, Bounded, Text};
use super::{decode, find, Cells, DailyPain, IntakeV1, IntakeV2, Json, Violation, ViolationCode};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

/// Unicode's `Default_Ignorable_Code_Point` as the `regex` crate knows it (its own tables, Unicode 16.0): an oracle
/// for the rule's hand-written ranges.
static DEFAULT_IGNORABLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\p{Default_Ignorable_Code_Point}").unwrap());

/// The characters no answer may hold: the default-ignorable code points, and the line and paragraph separators.
fn forbidden(c: char) -> bool {
    DEFAULT_IGNORABLE.is_match(c.encode_utf8(&mut [0; 4])) || c == '\u{2028}' || c == '\u{2029}'
}

/// Forbidden characters of every class, at both ends of their ranges.
const FORBIDDEN: [char; 34] = [
    '\u{00AD}',
    '\u{034F}',
    '\u{061C}',
    '\u{115F}',
    '\u{1160}',
    '\u{17B4}',
    '\u{17B5}',
    '\u{180B}',
    '\u{180E}',
    '\u{180F}',
    '\u{200B}',
    '\u{200F}',
    '\u{2028}',
    '\u{2029}',
    '\u{202A}',
    '\u{202E}',
    '\u{2060}',
    '\u{2065}',
    '\u{2069}',
    '\u{206F}',
    '\u{3164}',
    '\u{FE00}',
    '\u{FE0F}',
    '\u{FEFF}',
    '\u{FFA0}',
    '\u{FFF0}',
    '\u{FFF8}',
    '\u{1BCA0}',
    '\u{1D17A}',
    '\u{E0000}',
    '\u{E0001}',
    '\u{E007F}',
    '\u{E0100}',
    '\u{E0FFF}',
];

/// Allowed characters right beside the forbidden ones, white space among them: an off-by-one range shows here.
const NEIGHBOURS: [char; 30] = [
    '\u{00AC}',
    '\u{00AE}',
    '\u{034E}',
    '\u{0350}',
    '\u{061B}',
    '\u{061D}',
    '\u{115E}',
    '\u{1161}',
    '\u{17B3}',
    '\u{17B6}',
    '\u{180A}',
    '\u{1810}',
    '\u{200A}',
    '\u{2010}',
    '\u{2027}',
    '\u{202F}',
    '\u{205F}',
    '\u{2070}',
    '\u{3163}',
    '\u{3165}',
    '\u{FDFF}',
    '\u{FE10}',
    '\u{FEFE}',
    '\u{FF9F}',
    '\u{FFA1}',
    '\u{FFF9}',
    '\u{1BC9F}',
    '\u{1D172}',
    '\u{1D17B}',
    '\u{E1000}',
];

/// Characters whose NFC form differs: a combining accent that composes with the letter before it, Hangul jamo that
/// compose into a syllable, a sign that NFC replaces by a letter, and characters that NFC writes as two or three.
const DENORMAL: [char; 9] = [
    'e',
    '\u{0301}',
    '\u{1100}',
    '\u{1161}',
    '\u{212B}',
    '\u{0958}',
    '\u{0344}',
    '\u{1D160}',
    '\u{0323}',
];

/// Control characters (Unicode's Cc): C0, DEL and C1.
fn is_control(c: char) -> bool {
    matches!(u32::from(c), 0..=0x1F | 0x7F..=0x9F)
}

fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// Text near the rules' edges: white space and control characters around and inside, forbidden characters and
/// their neighbours, text that NFC changes, lengths on both sides of the limits.
fn text() -> impl Strategy<Value = String> {
    let mut odd = vec![
        '\u{0}', '\t', '\n', '\r', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}', '\u{7f}', '\u{9f}', ' ',
    ];
    odd.extend(FORBIDDEN);
    odd.extend(NEIGHBOURS);
    odd.extend(DENORMAL);
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

/// The numbers a message may hold: the rules' bounds. Any other number came from the input (a value, a length, a
/// count, a position).
fn numbers_are_bounds<C>(violations: &[Violation<C>]) -> bool {
    const BOUNDS: [&str; 6] = ["1", "10", "50", "100", "150", "200"];
    violations.iter().all(|v| {
        v.message
            .split(|c: char| !c.is_ascii_digit())
            .all(|number| number.is_empty() || BOUNDS.contains(&number))
    })
}

proptest! {
    #[test]
    fn text_is_accepted_exactly_when_its_length_fits_as_sent_and_in_nfc_without_control_or_forbidden_characters(
        raw in text()
    ) {
        let trimmed = raw.trim();
        let normal = nfc(trimmed);
        let fits = |s: &str| (1..=200).contains(&s.chars().count());
        let expected = fits(trimmed)
            && fits(&normal)
            && !trimmed.chars().any(is_control)
            && !trimmed.chars().any(forbidden);
        let parsed = Text::<1, 200>::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(text) = parsed {
            prop_assert_eq!(text.as_str(), normal);
        }
    }

    /// The OpenAPI document's pattern is the rule itself: a text matches it exactly when the API accepts it, but for
    /// the one thing no pattern can see, a text that NFC makes longer than the limit.
    #[test]
    fn the_schema_pattern_matches_exactly_the_texts_the_decoder_accepts(raw in text(), short in "[ a\\t\u{200d}]{0,6}") {
        for (min, max) in [(1, 200), (1, 100), (1, 3)] {
            let pattern = Regex::new(&text_pattern(min, max)).unwrap();
            for candidate in [raw.as_str(), short.as_str()] {
                let parsed = match (min, max) {
                    (1, 200) => Text::<1, 200>::parse(candidate).map(|_| ()),
                    (1, 100) => Text::<1, 100>::parse(candidate).map(|_| ()),
                    _ => Text::<1, 3>::parse(candidate).map(|_| ()),
                };
                let longer_in_nfc = nfc(candidate.trim()).chars().count() > max;
                match (pattern.is_match(candidate), parsed) {
                    (true, Ok(())) | (false, Err(_)) => {}
                    (true, Err((ViolationCode::TooLong, _))) if longer_in_nfc => {}
                    (matched, parsed) => prop_assert!(
                        false,
                        "{:?} ({}..={}): pattern {} but {:?}",
                        candidate,
                        min,
                        max,
                        if matched { "matches" } else { "refuses" },
                        parsed
                    ),
                }
            }
        }
    }

    #[test]
    fn bounded_integers_are_accepted_exactly_inside_their_range(n in any::<i64>()) {
        prop_assert_eq!(Bounded::<1, 150>::new(n).is_ok(), (1..=150).contains(&n));
        prop_assert_eq!(Bounded::<1, 10>::new(n).is_ok(), (1..=10).contains(&n));
    }

    #[test]
    fn any_json_decodes_or_is_rejected_with_addressed_violations_whose_messages_hold_only_bounds(value in json()) {
        if let Err(v) = decode::<IntakeV1, Json>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v) && numbers_are_bounds(&v), "{:?}", v);
        }
        if let Err(v) = decode::<DailyPain, Json>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v) && numbers_are_bounds(&v), "{:?}", v);
        }
        if let Err(v) = decode::<IntakeV1, Cells>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v) && numbers_are_bounds(&v), "{:?}", v);
        }
        if let Err(v) = decode::<DailyPain, Cells>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v) && numbers_are_bounds(&v), "{:?}", v);
        }
        if let Err(v) = decode::<IntakeV2, Json>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v) && numbers_are_bounds(&v), "{:?}", v);
        }
        if let Err(v) = decode::<IntakeV2, Cells>(&value) {
            prop_assert!(!v.is_empty() && well_formed(&v) && numbers_are_bounds(&v), "{:?}", v);
        }
    }

    /// The step from version 1 to 2 never loses an answer: every answer version 1 accepts has a reading that
    /// version 2 accepts as a submission, with every answer kept and the new item `unknown`.
    #[test]
    fn every_valid_intake_v1_upgrades_to_a_valid_intake_v2(
        raw_name in prop_oneof![text(), "\\PC{1,200}"],
        age in 1i64..=150,
        allergy in any::<bool>(),
    ) {
        let body = serde_json::json!({"patientName": raw_name, "age": age, "hasAllergy": allergy});
        let v1 = decode::<IntakeV1, Json>(&body);
        prop_assume!(v1.is_ok());
        let v1 = v1.unwrap();
        let stored = serde_json::to_value(&v1).unwrap();
        let upgraded = find("intake").unwrap().upgrade(1, stored).unwrap();
        let v2 = decode::<IntakeV2, Json>(&upgraded).unwrap();
        prop_assert_eq!(v2.full_name.as_str(), v1.patient_name.as_str());
        prop_assert_eq!(v2.age, v1.age);
        prop_assert_eq!(v2.has_allergy, v1.has_allergy);
        prop_assert_eq!(v2.smoking_status, super::intake::SmokingStatus::Unknown);
        // The typed step and the registry's agree.
        prop_assert_eq!(serde_json::to_value(&v2).unwrap(), upgraded);
    }

    #[test]
    fn valid_intakes_are_accepted_and_survive_storage(
        name in "[A-Za-zÀ-ÿ' -]{0,20}[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ' -]{0,20}",
        age in 1i64..=150,
        allergy in any::<bool>(),
    ) {
        let body = serde_json::json!({"patientName": name, "age": age, "hasAllergy": allergy});
        let intake = decode::<IntakeV1, Json>(&body).unwrap();
        prop_assert_eq!(intake.patient_name.as_str(), name.trim());
        let stored = serde_json::to_value(&intake).unwrap();
        prop_assert_eq!(serde_json::from_value::<IntakeV1>(stored).unwrap(), intake);
    }

    #[test]
    fn csv_cells_hold_the_same_values_as_json(level in 1i64..=10, logs in 0usize..=50) {
        let list: Vec<Value> = (0..logs).map(|i| serde_json::json!({"drugName": format!("d{i}"), "dosage": "1 mg"})).collect();
        let json = serde_json::json!({"painLevel": level, "medicationLogs": list});
        let text = serde_json::json!({"painLevel": level.to_string(), "medicationLogs": Value::Array(list).to_string()});
        prop_assert_eq!(decode::<DailyPain, Json>(&json).unwrap(), decode::<DailyPain, Cells>(&text).unwrap());
    }
}

/// Every Unicode scalar value, in order.
fn every_char() -> impl Iterator<Item = char> {
    (0..=u32::from(char::MAX)).filter_map(char::from_u32)
}

#[test]
fn the_forbidden_characters_are_the_default_ignorable_code_points_and_the_line_and_paragraph_separators() {
    let haystack: String = every_char().collect();
    let class = Regex::new(&format!("[{}]", forbidden_class())).unwrap();
    let by_rule: Vec<char> = every_char().filter(|&c| is_forbidden(c)).collect();
    let by_pattern: Vec<char> = class.find_iter(&haystack).flat_map(|m| m.as_str().chars()).collect();
    let mut by_unicode: Vec<char> = DEFAULT_IGNORABLE
        .find_iter(&haystack)
        .flat_map(|m| m.as_str().chars())
        .collect();
    by_unicode.extend(['\u{2028}', '\u{2029}']);
    by_unicode.sort_unstable();
    assert_eq!(by_rule, by_unicode);
    assert_eq!(by_pattern, by_unicode, "the schema's class says what the rule says");
}

/// `text` is refused as a forbidden character, by the decoder and by the schema's pattern, wherever `c` stands.
fn assert_refused_everywhere(c: char) {
    for text in [
        format!("Zo{c}ë"),
        format!("{c}Zoë"),
        format!("Zoë{c}"),
        format!("Zoë {c} Åsa"),
    ] {
        assert_eq!(
            Text::<1, 200>::parse(&text).map_err(|(code, _)| code),
            Err(ViolationCode::ForbiddenCharacter),
            "{text:?}"
        );
        assert!(!Regex::new(&text_pattern(1, 200)).unwrap().is_match(&text), "{text:?}");
    }
}

#[test]
fn a_soft_hyphen_is_refused() {
    assert_refused_everywhere('\u{00AD}');
}

#[test]
fn a_combining_grapheme_joiner_is_refused() {
    assert_refused_everywhere('\u{034F}');
}

#[test]
fn hangul_fillers_are_refused() {
    for c in ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'] {
        assert_refused_everywhere(c);
    }
}

#[test]
fn khmer_inherent_vowels_are_refused() {
    for c in ['\u{17B4}', '\u{17B5}'] {
        assert_refused_everywhere(c);
    }
}

#[test]
fn the_mongolian_vowel_separator_and_free_variation_selectors_are_refused() {
    for c in '\u{180B}'..='\u{180F}' {
        assert_refused_everywhere(c);
    }
}

#[test]
fn variation_selectors_are_refused_the_emoji_and_ideographic_ones_included() {
    for c in ['\u{FE00}', '\u{FE0E}', '\u{FE0F}', '\u{E0100}', '\u{E01EF}'] {
        assert_refused_everywhere(c);
    }
    // A heart sent with its emoji presentation selector, a name's ideograph with its variation sequence.
    for text in ["Zoë \u{2764}\u{FE0F}", "\u{845B}\u{E0100}\u{57CE}"] {
        assert!(Text::<1, 200>::parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn tag_characters_are_refused() {
    for c in ['\u{E0001}', '\u{E0020}', '\u{E0041}', '\u{E007F}'] {
        assert_refused_everywhere(c);
    }
    // Tags hide text inside text that looks plain: "Zoë" carrying "ADMIN".
    let hidden: String = "ADMIN"
        .chars()
        .map(|c| char::from_u32(0xE0000 + u32::from(c)).unwrap())
        .collect();
    assert!(Text::<1, 200>::parse(&format!("Zo{hidden}ë")).is_err());
}

#[test]
fn line_and_paragraph_separators_are_refused_inside_and_trimmed_around() {
    for c in ['\u{2028}', '\u{2029}'] {
        assert_eq!(
            Text::<1, 200>::parse(&format!("first{c}second")).map_err(|(code, _)| code),
            Err(ViolationCode::ForbiddenCharacter)
        );
        // Around the text they are white space, which is trimmed like any other.
        let around = format!("{c}Zoë{c}");
        assert_eq!(Text::<1, 200>::parse(&around).unwrap().as_str(), "Zoë");
        assert!(Regex::new(&text_pattern(1, 200)).unwrap().is_match(&around));
    }
}

#[test]
fn deprecated_format_characters_and_reserved_default_ignorable_code_points_are_refused() {
    for c in [
        '\u{2065}',
        '\u{206A}',
        '\u{206F}',
        '\u{FFF0}',
        '\u{FFF8}',
        '\u{E0000}',
        '\u{E0080}',
        '\u{E0FFF}',
    ] {
        assert_refused_everywhere(c);
    }
}

#[test]
fn shorthand_and_musical_format_controls_are_refused() {
    for c in ['\u{1BCA0}', '\u{1BCA3}', '\u{1D173}', '\u{1D17A}'] {
        assert_refused_everywhere(c);
    }
}

#[test]
fn characters_beside_the_forbidden_ranges_are_kept() {
    for c in NEIGHBOURS.into_iter().filter(|c| !c.is_whitespace()) {
        let text = format!("Zo{c}ë");
        assert!(Text::<1, 200>::parse(&text).is_ok(), "{text:?}");
        assert!(Regex::new(&text_pattern(1, 200)).unwrap().is_match(&text), "{text:?}");
    }
}

#[test]
fn text_is_stored_in_nfc() {
    for (sent, stored) in [
        ("Zoe\u{0301}", "Zo\u{00E9}"),
        ("  Zoe\u{0301} ", "Zo\u{00E9}"),
        ("\u{1112}\u{1161}\u{11AB}", "\u{D55C}"),
        ("\u{212B}sa", "\u{00C5}sa"),
        ("Zo\u{00E9}", "Zo\u{00E9}"),
    ] {
        assert_eq!(Text::<1, 200>::parse(sent).unwrap().as_str(), stored, "{sent:?}");
    }
    // Texts that look the same are the same text.
    assert_eq!(
        Text::<1, 200>::parse("Zoe\u{0301}"),
        Text::<1, 200>::parse("Zo\u{00E9}")
    );
}

#[test]
fn length_limits_hold_for_the_text_as_sent_and_in_nfc() {
    let pattern = Regex::new(&text_pattern(1, 200)).unwrap();
    let code = |text: &str| Text::<1, 200>::parse(text).map(|t| t.as_str().chars().count());
    // 100 decomposed accents are 200 characters as sent, 100 stored.
    assert_eq!(code(&"e\u{0301}".repeat(100)), Ok(100));
    assert!(pattern.is_match(&"e\u{0301}".repeat(100)));
    // 101 are 202 as sent: too long, as the schema says, though only 101 in NFC.
    assert_eq!(
        code(&"e\u{0301}".repeat(101)).map_err(|e| e.0),
        Err(ViolationCode::TooLong)
    );
    assert!(!pattern.is_match(&"e\u{0301}".repeat(101)));
    // U+0958 is one character as sent and two in NFC: 198 of `a` and one fit, 199 do not, though the schema allows
    // them (the one difference, documented in the schema's description).
    assert_eq!(code(&format!("{}\u{0958}", "a".repeat(198))), Ok(200));
    let longer = format!("{}\u{0958}", "a".repeat(199));
    assert_eq!(code(&longer).map_err(|e| e.0), Err(ViolationCode::TooLong));
    assert!(pattern.is_match(&longer));
    // What is stored reads back: its NFC form is itself.
    let stored = Text::<1, 200>::parse(&format!("{}\u{0958}", "a".repeat(198))).unwrap();
    assert_eq!(Text::<1, 200>::parse(stored.as_str()).unwrap(), stored);
}

#[test]
fn nfc_neither_adds_nor_removes_a_control_forbidden_or_white_space_character() {
    // So checking the characters as sent (as the schema's pattern does) is checking what is stored, and trimmed text
    // stays trimmed. Single characters suffice: composing two characters never yields one of these.
    for c in every_char() {
        let normal = nfc(c.encode_utf8(&mut [0; 4]));
        let class = |c: char| (is_control(c), is_forbidden(c), c.is_whitespace());
        assert!(normal.chars().all(|n| class(n) == class(c)), "{c:?} becomes {normal:?}");
    }
}

#[tokio::test]
async fn a_replay_in_nfd_of_answers_sent_in_nfc_replays() {
    use crate::store::memory::MemorySubmissionStore;
    use crate::store::submissions::{IdempotencyClaim, Inserted, KeyOwner, SubmissionStore};
    let kind = super::find("daily-pain").unwrap().latest();
    let answers = |drug: &str| {
        kind.accept(&serde_json::json!({"painLevel": 3, "medicationLogs": [{"drugName": drug, "dosage": "1 g"}]}))
            .unwrap()
    };
    let (composed, decomposed) = (answers("Parac\u{00E9}tamol"), answers("Parace\u{0301}tamol"));
    assert_eq!(composed, decomposed);
    let owner = KeyOwner {
        issuer: "idp",
        subject: "patient-a",
    };
    let claim = |answers: &Value| IdempotencyClaim::new(kind.kind(), owner, "key-1", answers, 0, 3600);
    let record = |id: &str, answers: Value| crate::submission::SubmissionRecord {
        id: id.into(),
        kind: kind.kind().into(),
        received_at: "2026-11-27T12:00:00.000Z".into(),
        schema_version: kind.version(),
        request_id: "r".into(),
        submitted_by: Some("patient-a".into()),
        submitter_issuer: Some("idp".into()),
        imported_by: None,
        answers,
        provenance: None,
    };
    let store = MemorySubmissionStore::default();
    let first = store
        .insert(&record("first", composed.clone()), Some(&claim(&composed)))
        .await;
    assert!(matches!(first, Ok(Inserted::Created)), "{first:?}");
    let replay = store
        .insert(&record("second", decomposed.clone()), Some(&claim(&decomposed)))
        .await;
    match replay {
        Ok(Inserted::Replayed(original)) => assert_eq!(original.id, "first"),
        other => panic!("the NFD replay must replay the NFC original: {other:?}"),
    }
    assert_eq!(store.len(), 1);
}

#[test]
fn messages_name_the_rule_and_its_bounds_never_the_value_its_length_or_count() {
    let messages = |body: Value| -> Vec<String> {
        let json = decode::<IntakeV1, Json>(&body)
            .err()
            .into_iter()
            .flat_map(|v| v.into_listed());
        let pain = decode::<DailyPain, Json>(&body)
            .err()
            .into_iter()
            .flat_map(|v| v.into_listed());
        json.chain(pain)
            .map(|v| v.message)
            .filter(|m| m != "is required" && !m.starts_with("is not a field"))
            .collect()
    };
    let logs: Vec<Value> = (0..73)
        .map(|_| serde_json::json!({"drugName": "a", "dosage": "1 g"}))
        .collect();
    for (body, expected) in [
        (serde_json::json!({"age": 9187}), "must be between 1 and 150"),
        (serde_json::json!({"painLevel": 7391}), "must be between 1 and 10"),
        (
            serde_json::json!({"patientName": "a".repeat(237)}),
            "must have at most 200 characters",
        ),
        (
            serde_json::json!({"medicationLogs": logs}),
            "must have at most 50 entries",
        ),
    ] {
        assert_eq!(messages(body.clone()), [expected], "{body}");
    }
    // In CSV cells too, and where a JSON cell breaks is not said: it would tell the length of what comes before.
    let cells = |list: String| {
        let row = serde_json::json!({"painLevel": "7391", "medicationLogs": list});
        let violations = decode::<DailyPain, Cells>(&row).unwrap_err().into_listed();
        violations.into_iter().map(|v| v.message).collect::<Vec<_>>()
    };
    assert_eq!(
        cells(Value::Array(vec![serde_json::json!({"drugName": "a", "dosage": "1 g"}); 73]).to_string()),
        ["must be between 1 and 10", "must have at most 50 entries"]
    );
    assert_eq!(
        cells(r#"[{"drugName": "Paracetamol 500", "dosage": 1g}]"#.into()),
        [
            "must be between 1 and 10",
            "must be a JSON array; the cell is not valid JSON"
        ]
    );
    assert_eq!(
        cells(r#"[{"drugName": "Paracetamol 500""#.into()),
        [
            "must be between 1 and 10",
            "must be a JSON array; the cell's JSON ends before it is complete"
        ]
    );
}
