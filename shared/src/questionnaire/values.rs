//! The building blocks of questionnaire fields: trimmed and normalised text, bounded integers and bounded lists. Each
//! is a type whose constructor is the only way in, with its [`Decode`] rules and the JSON Schema that states the same
//! limits.

use super::decode::{Decode, Decoder, Source};
use super::violation::ViolationCode;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Characters that change how a text reads without being seen, so that two names that look alike could differ: no
/// answer may hold one. The set is Unicode's `Default_Ignorable_Code_Point` property (DerivedCoreProperties.txt,
/// Unicode 16.0), which holds every bidirectional mark, embedding, override and isolate, the zero-width characters,
/// soft hyphens, fillers, variation selectors and tags, and the code points reserved for more of them; plus the line
/// and paragraph separators, which many viewers do not show as breaks. Ranges, in order.
const FORBIDDEN: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{115F}', '\u{1160}'),   // Hangul choseong and jungseong fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'),   // Mongolian free variation selectors and vowel separator
    ('\u{200B}', '\u{200F}'),   // zero-width space, non-joiner and joiner; left-to-right and right-to-left marks
    ('\u{2028}', '\u{2029}'),   // line and paragraph separators (not default-ignorable, see above)
    ('\u{202A}', '\u{202E}'),   // bidirectional embeddings and overrides
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, isolates, deprecated format characters
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors 1 to 16 (the emoji presentation selector among them)
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space (byte-order mark)
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFF8}'),   // reserved
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol format controls
    ('\u{E0000}', '\u{E0FFF}'), // tags, variation selectors 17 to 256, reserved
];

/// Whether `c` is one of the [`FORBIDDEN`] characters.
pub fn is_forbidden(c: char) -> bool {
    // Most text is below the first range: one comparison.
    c >= '\u{00AD}' && FORBIDDEN.iter().any(|&(first, last)| (first..=last).contains(&c))
}

/// Control characters (`char::is_control`: Unicode's Cc).
const CONTROL_CLASS: &str = "\\u0000-\\u001f\\u007f-\\u009f";
/// White space as `str::trim` removes it (Unicode's White_Space property).
const SPACE_CLASS: &str = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// [`FORBIDDEN`] as a regular-expression class body that ECMA-262 (with the `u` flag, as JSON Schema asks), Python's
/// `re` and Rust's `regex` read alike: `\uHHHH` in the Basic Multilingual Plane; above it the character itself, since
/// the three spell escapes beyond `\uFFFF` differently (`\u{…}`, `\U…`) and none accepts another's.
pub(super) fn forbidden_class() -> String {
    let one = |c: char| match u16::try_from(u32::from(c)) {
        Ok(unit) => format!("\\u{unit:04x}"),
        Err(_) => c.to_string(),
    };
    FORBIDDEN
        .iter()
        .map(|&(first, last)| match first == last {
            true => one(first),
            false => format!("{}-{}", one(first), one(last)),
        })
        .collect()
}

/// Which rule about characters `text` breaks, if any: control characters (unless `allowed`), then forbidden ones.
pub fn character_rule(text: &str, allowed: impl Fn(char) -> bool) -> Option<(ViolationCode, &'static str)> {
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        Some((ViolationCode::ControlCharacter, "must not contain control characters"))
    } else if text.chars().any(is_forbidden) {
        Some((
            ViolationCode::ForbiddenCharacter,
            "must not contain invisible or bidirectional formatting characters, nor line or paragraph separators",
        ))
    } else {
        None
    }
}

/// `text` in Unicode Normalization Form C, so that texts that look the same are stored, compared and hashed the same
/// (`e` with a combining acute accent becomes `é`). Borrowed when it already is, which a quick check tells for most
/// text without allocating.
pub fn nfc(text: &str) -> Cow<'_, str> {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(text);
    }
    let normal: String = text.nfc().collect();
    if normal == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(normal)
    }
}

/// The shorter and the longer of two lengths, in characters: that of the text as sent (what the JSON Schema pattern
/// counts) and that of its NFC form (what is stored). A limit holds for both, so every stored text keeps the limits it
/// was accepted under and reads back; the price is that a text the schema allows is refused when NFC makes it longer
/// than the limit, which only text not sent in NFC can be (composition exclusions such as U+0958 decompose, marks out
/// of canonical order may stay apart).
pub(crate) fn lengths(sent: &str, normal: &str) -> (usize, usize) {
    let sent_len = sent.chars().count();
    let normal_len = if sent == normal {
        sent_len
    } else {
        normal.chars().count()
    };
    (sent_len.min(normal_len), sent_len.max(normal_len))
}

/// Text that is trimmed, normalised to NFC, and must have `MIN..=MAX` characters afterwards.
///
/// Its `Debug` shows neither the text nor its length: free text in a questionnaire may identify a patient, and nothing
/// about it may reach logs.
#[derive(Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    /// Trims, checks the characters and the length (as sent and in NFC, see [`lengths`]) and keeps the NFC form; the
    /// error is the violation code and message. The characters are checked as sent, as the schema's pattern does; NFC
    /// neither adds nor removes a control, forbidden or white-space character (a test goes through every one).
    pub fn parse(raw: &str) -> Result<Self, (ViolationCode, String)> {
        let trimmed = raw.trim();
        let normal = nfc(trimmed);
        let (shorter, longer) = lengths(trimmed, &normal);
        if shorter < MIN {
            Err((
                ViolationCode::TooShort,
                format!("must have at least {MIN} character(s) besides surrounding spaces"),
            ))
        } else if let Some((code, message)) = character_rule(trimmed, |_| false) {
            Err((code, message.to_owned()))
        } else if longer > MAX {
            Err((ViolationCode::TooLong, format!("must have at most {MAX} characters")))
        } else {
            Ok(Self(normal.into_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Debug for Text<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Text(..)")
    }
}

impl<const MIN: usize, const MAX: usize> TryFrom<String> for Text<MIN, MAX> {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).map_err(|(_, message)| message)
    }
}

impl<const MIN: usize, const MAX: usize> From<Text<MIN, MAX>> for String {
    fn from(text: Text<MIN, MAX>) -> Self {
        text.0
    }
}

impl<const MIN: usize, const MAX: usize> Decode for Text<MIN, MAX> {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        let raw = String::decode(value, path, d)?;
        Self::parse(&raw)
            .map_err(|(code, message)| d.report(path, code, message))
            .ok()
    }
}

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Bounded<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    pub fn new(n: i64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("must be between {MIN} and {MAX}"))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<const MIN: i64, const MAX: i64> TryFrom<i64> for Bounded<MIN, MAX> {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl<const MIN: i64, const MAX: i64> From<Bounded<MIN, MAX>> for i64 {
    fn from(b: Bounded<MIN, MAX>) -> Self {
        b.0
    }
}

impl<const MIN: i64, const MAX: i64> Decode for Bounded<MIN, MAX> {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        let n = i64::decode(value, path, d)?;
        Self::new(n)
            .map_err(|message| d.report(path, ViolationCode::OutOfRange, message))
            .ok()
    }
}

/// A list with at most `MAX` entries; every entry is still checked so that all problems are reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<T>", into = "Vec<T>")]
#[serde(bound(serialize = "T: Serialize + Clone", deserialize = "T: serde::de::DeserializeOwned"))]
pub struct List<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> List<T, MAX> {
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for List<T, MAX> {
    type Error = String;
    fn try_from(items: Vec<T>) -> Result<Self, Self::Error> {
        if items.len() > MAX {
            Err(format!("must have at most {MAX} entries"))
        } else {
            Ok(Self(items))
        }
    }
}

impl<T, const MAX: usize> From<List<T, MAX>> for Vec<T> {
    fn from(list: List<T, MAX>) -> Self {
        list.0
    }
}

impl<T: Decode, const MAX: usize> Decode for List<T, MAX> {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        if let Value::String(text) = value {
            return S::list_in_text(text, path, d, |nested, d| Self::decode(nested, path, d));
        }
        match value {
            // Only the entries that may be there are checked: a hostile list is not decoded whole.
            Value::Array(items) if items.len() > MAX => {
                let allowed = Value::Array(items[..MAX].to_vec());
                let _ = Vec::<T>::decode(&allowed, path, d);
                d.report(
                    path,
                    ViolationCode::TooManyItems,
                    format!("must have at most {MAX} entries"),
                );
                None
            }
            _ => Vec::<T>::decode(value, path, d).map(Self),
        }
    }
}

// JSON Schemas of the building blocks, for the OpenAPI document. They state the same limits as the decoders above;
// what JSON Schema cannot say (normalisation) is in the descriptions.

impl<const MIN: usize, const MAX: usize> JsonSchema for Text<MIN, MAX> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Text_{MIN}_{MAX}").into()
    }

    /// The rule of [`Text::parse`], so that every text the schema allows is accepted and every other is refused:
    /// surrounding white space, then `MIN` to `MAX` characters that start and end with something else, with no
    /// control or forbidden character inside. The lengths are the pattern's alone: `minLength` and `maxLength` would
    /// count the surrounding white space. What no pattern can say, normalisation, is in the description: a text
    /// that NFC makes longer than `MAX` is refused (see [`lengths`]).
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": text_pattern(MIN, MAX),
            "description": format!(
                "{MIN} to {MAX} characters once surrounding white space is trimmed, both as sent and in Unicode \
                 normalization form C (NFC), the form that is stored; no control characters, no invisible or \
                 bidirectional formatting characters (Unicode's Default_Ignorable_Code_Point), no line or paragraph \
                 separators"
            ),
        })
    }
}

/// The regular expression of [`Text::parse`]'s rule (anchored; lengths in characters).
pub fn text_pattern(min: usize, max: usize) -> String {
    let space = format!("[{SPACE_CLASS}]");
    // The first and last kept character: not white space, not a control or forbidden character.
    let forbidden = forbidden_class();
    let edge = format!("[^{SPACE_CLASS}{CONTROL_CLASS}{forbidden}]");
    // Characters between them: anything but a control or forbidden character.
    let inner = format!("[^{CONTROL_CLASS}{forbidden}]");
    let kept = match (min, max) {
        (_, 0) => String::new(),
        (0, 1) => format!("(?:{edge})?"),
        (_, 1) => edge,
        (0, _) => format!("(?:{edge}(?:{inner}{{0,{}}}{edge})?)?", max - 2),
        (1, _) => format!("{edge}(?:{inner}{{0,{}}}{edge})?", max - 2),
        _ => format!("{edge}{inner}{{{},{}}}{edge}", min - 2, max - 2),
    };
    format!("^{space}*{kept}{space}*$")
}

impl<const MIN: i64, const MAX: i64> JsonSchema for Bounded<MIN, MAX> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Bounded_{MIN}_{MAX}").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": MIN, "maximum": MAX })
    }
}

impl<T: JsonSchema, const MAX: usize> JsonSchema for List<T, MAX> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("List_{}_{MAX}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "array", "items": generator.subschema_for::<T>(), "maxItems": MAX })
    }
}
