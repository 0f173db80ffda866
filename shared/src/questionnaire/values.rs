//! The building blocks of questionnaire fields: trimmed text, bounded integers and bounded lists. Each is a type
//! whose constructor is the only way in, with its [`Decode`] rules and the JSON Schema that states the same limits.

use super::decode::{Decode, Decoder, Source};
use super::violation::ViolationCode;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Bidirectional formatting characters (the Arabic letter mark, LRM and RLM, embeddings and overrides, isolates)
/// and zero-width ones (spaces, non-joiner and joiner, word joiner, invisible operators, the byte-order mark). They
/// change how a text reads without being seen, so two names that look alike could differ; no answer may hold one.
pub fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The same characters as a regular-expression class body (ECMA-262, Python and Rust read `\uHHHH` alike).
const FORBIDDEN_CLASS: &str = "\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff";
/// Control characters (`char::is_control`: Unicode's Cc).
const CONTROL_CLASS: &str = "\\u0000-\\u001f\\u007f-\\u009f";
/// White space as `str::trim` removes it (Unicode's White_Space property).
const SPACE_CLASS: &str = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// Which rule about characters `text` breaks, if any: control characters (unless `allowed`), then forbidden ones.
pub fn character_rule(text: &str, allowed: impl Fn(char) -> bool) -> Option<(ViolationCode, &'static str)> {
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        Some((ViolationCode::ControlCharacter, "must not contain control characters"))
    } else if text.chars().any(is_forbidden) {
        Some((
            ViolationCode::ForbiddenCharacter,
            "must not contain bidirectional formatting or zero-width characters",
        ))
    } else {
        None
    }
}

/// Text that is trimmed and must have `MIN..=MAX` characters afterwards.
///
/// Its `Debug` shows only the length: free text in a questionnaire may identify a patient and must not reach logs.
#[derive(Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    /// Trims and checks the length; the error is the violation code and message.
    pub fn parse(raw: &str) -> Result<Self, (ViolationCode, String)> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len < MIN {
            Err((
                ViolationCode::TooShort,
                format!("must have at least {MIN} character(s) besides surrounding spaces"),
            ))
        } else if let Some((code, message)) = character_rule(trimmed, |_| false) {
            Err((code, message.to_owned()))
        } else if len > MAX {
            Err((
                ViolationCode::TooLong,
                format!("must have at most {MAX} characters, got {len}"),
            ))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Debug for Text<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text(<{} chars>)", self.0.chars().count())
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
            Err(format!("must be between {MIN} and {MAX}, got {n}"))
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
            Err(format!("must have at most {MAX} entries, got {}", items.len()))
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
                    format!("must have at most {MAX} entries, got {}", items.len()),
                );
                None
            }
            _ => Vec::<T>::decode(value, path, d).map(Self),
        }
    }
}

// JSON Schemas of the building blocks, for the OpenAPI document. They state the same limits as the decoders above;
// trimming and the control-character rule are in the descriptions (JSON Schema cannot say "after trimming").

impl<const MIN: usize, const MAX: usize> JsonSchema for Text<MIN, MAX> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Text_{MIN}_{MAX}").into()
    }

    /// Exactly the rule of [`Text::parse`], so that every text the schema allows is accepted and every other is
    /// refused: surrounding white space, then `MIN` to `MAX` characters that start and end with something else,
    /// with no control or forbidden character inside. The lengths are the pattern's alone: `minLength` and
    /// `maxLength` would count the surrounding white space.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": text_pattern(MIN, MAX),
            "description": format!(
                "{MIN} to {MAX} characters once surrounding white space is trimmed; no control characters, \
                 bidirectional formatting or zero-width characters"
            ),
        })
    }
}

/// The regular expression of [`Text::parse`]'s rule (anchored; lengths in characters).
pub fn text_pattern(min: usize, max: usize) -> String {
    let space = format!("[{SPACE_CLASS}]");
    // The first and last kept character: not white space, not a control or forbidden character.
    let edge = format!("[^{SPACE_CLASS}{CONTROL_CLASS}{FORBIDDEN_CLASS}]");
    // Characters between them: anything but a control or forbidden character.
    let inner = format!("[^{CONTROL_CLASS}{FORBIDDEN_CLASS}]");
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
