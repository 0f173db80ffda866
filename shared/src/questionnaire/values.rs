//! The building blocks of questionnaire fields: trimmed text, bounded integers and bounded lists. Each is a type
//! whose constructor is the only way in, with its [`Decode`] rules and the JSON Schema that states the same limits.

use super::decode::{Decode, Decoder, Source};
use super::violation::ViolationCode;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

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
        } else if trimmed.chars().any(char::is_control) {
            Err((
                ViolationCode::ControlCharacter,
                "must not contain control characters".to_owned(),
            ))
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
        let too_many = matches!(value, Value::Array(items) if items.len() > MAX);
        let items = Vec::<T>::decode(value, path, d);
        if too_many {
            let len = value.as_array().map_or(0, Vec::len);
            d.report(
                path,
                ViolationCode::TooManyItems,
                format!("must have at most {MAX} entries, got {len}"),
            );
            return None;
        }
        items.map(Self)
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

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": MIN,
            "maxLength": MAX,
            "pattern": "\\S",
            "description": format!(
                "{MIN} to {MAX} characters after surrounding whitespace is trimmed; no control characters"
            ),
        })
    }
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
