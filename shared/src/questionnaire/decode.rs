//! Strict decoding of untrusted input into typed values.
//!
//! serde stops at the first error; a clinical site fixing a rejected form needs *every* problem at once. This decoder
//! walks a parsed JSON value, collects all violations with JSON-pointer paths, never coerces JSON types and rejects
//! unknown fields. The same rules decode CSV cells ([`Source::Text`]), where every scalar arrives as text and is
//! parsed strictly for the field's type.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// One problem with one value, addressed by a JSON pointer (RFC 6901) into the submitted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Violation {
    pub path: String,
    pub code: ViolationCode,
    pub message: String,
}

/// Stable, machine-readable violation codes; clients may switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationCode {
    /// A required field is absent (or, in a CSV cell, empty).
    Missing,
    /// The value has the wrong type, e.g. a string where an integer is required.
    WrongType,
    /// A field that the questionnaire does not define; clinical data is never dropped silently.
    UnknownField,
    /// A number outside its allowed range.
    OutOfRange,
    /// A text shorter than allowed (after trimming).
    TooShort,
    /// A text longer than allowed.
    TooLong,
    /// A list with more entries than allowed.
    TooManyItems,
    /// A text cell that should hold JSON but does not parse.
    InvalidJson,
    /// Text with control characters (NUL, line breaks, escapes), which no single-line answer contains.
    ControlCharacter,
    /// An identifier with spaces before or after it.
    SurroundingSpace,
    /// Text that does not follow its format (e.g. a timestamp that is not RFC 3339).
    InvalidFormat,
    /// A timestamp after the moment of the import.
    InFuture,
    /// A CSV row whose bytes are not UTF-8.
    InvalidUtf8,
    /// A CSV row with more or fewer fields than the header.
    FieldCount,
    /// A valid row that could not be written after all retries.
    WriteFailed,
    /// A row whose processing failed unexpectedly; the row is reported, the import goes on.
    InternalError,
}

impl ViolationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::WrongType => "wrong_type",
            Self::UnknownField => "unknown_field",
            Self::OutOfRange => "out_of_range",
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::TooManyItems => "too_many_items",
            Self::InvalidJson => "invalid_json",
            Self::ControlCharacter => "control_character",
            Self::SurroundingSpace => "surrounding_space",
            Self::InvalidFormat => "invalid_format",
            Self::InFuture => "in_future",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::FieldCount => "field_count",
            Self::WriteFailed => "write_failed",
            Self::InternalError => "internal_error",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How scalars arrive: JSON keeps its own types; CSV cells are text parsed strictly per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Json,
    Text,
}

/// Collects violations while a value is decoded.
#[derive(Debug)]
pub struct Decoder {
    source: Source,
    violations: Vec<Violation>,
}

impl Decoder {
    pub fn new(source: Source) -> Self {
        Self {
            source,
            violations: Vec::new(),
        }
    }

    pub fn source(&self) -> Source {
        self.source
    }

    pub fn report(&mut self, path: &str, code: ViolationCode, message: impl Into<String>) {
        self.violations.push(Violation {
            path: path.to_owned(),
            code,
            message: message.into(),
        });
    }

    /// The decoded value, or every violation found on the way.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<Violation>> {
        match value {
            Some(value) if self.violations.is_empty() => Ok(value),
            _ => {
                debug_assert!(!self.violations.is_empty(), "a failed decode must report why");
                Err(self.violations)
            }
        }
    }

    /// Runs `f` on nested JSON found inside a text cell: inside it, JSON types apply again.
    fn with_source<T>(&mut self, source: Source, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = std::mem::replace(&mut self.source, source);
        let out = f(self);
        self.source = outer;
        out
    }
}

/// A type that can be decoded strictly from a JSON value.
pub trait Decode: Sized {
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self>;
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` as RFC 6901 requires.
pub fn child_path(parent: &str, token: &str) -> String {
    let escaped = token.replace('~', "~0").replace('/', "~1");
    format!("{parent}/{escaped}")
}

/// Human name of a JSON value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(d: &mut Decoder, path: &str, expected: &str, value: &Value) {
    let message = match (d.source(), value) {
        (Source::Text, Value::String(s)) => {
            format!("must be {expected}, got the text {:?}", truncate(s))
        }
        _ => format!("must be {expected}, got {}", type_name(value)),
    };
    d.report(path, ViolationCode::WrongType, message);
}

/// Keeps messages short when echoing a rejected cell (which is never patient-identifying in non-text fields).
fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl Decode for bool {
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
        match (value, d.source()) {
            (Value::Bool(b), _) => Some(*b),
            (Value::String(s), Source::Text) if s == "true" => Some(true),
            (Value::String(s), Source::Text) if s == "false" => Some(false),
            _ => {
                wrong_type(d, path, "a boolean (true or false)", value);
                None
            }
        }
    }
}

impl Decode for i64 {
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
        let parsed = match (value, d.source()) {
            (Value::Number(n), _) => n.as_i64().ok_or(n.is_u64()),
            (Value::String(s), Source::Text) => s.parse::<i64>().map_err(|_| {
                // A long run of digits is an integer that is out of range, not a wrong type.
                let digits = s.strip_prefix('-').unwrap_or(s);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            }),
            _ => Err(false),
        };
        match parsed {
            Ok(n) => Some(n),
            Err(true) => {
                d.report(path, ViolationCode::OutOfRange, "is far outside the allowed range");
                None
            }
            Err(false) => {
                wrong_type(d, path, "an integer", value);
                None
            }
        }
    }
}

impl Decode for String {
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
        match value {
            Value::String(s) => Some(s.clone()),
            _ => {
                wrong_type(d, path, "a string", value);
                None
            }
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
        match (value, d.source()) {
            (Value::Array(items), _) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match T::decode(item, &child_path(path, &i.to_string()), d) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            (Value::String(text), Source::Text) => {
                let nested = json_array_cell(text, path, d)?;
                d.with_source(Source::Json, |d| Self::decode(&nested, path, d))
            }
            _ => {
                wrong_type(d, path, "an array", value);
                None
            }
        }
    }
}

/// A CSV cell holding a JSON array (how nested lists travel in a flat file).
fn json_array_cell(text: &str, path: &str, d: &mut Decoder) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(nested @ Value::Array(_)) => Some(nested),
        Ok(other) => {
            d.with_source(Source::Json, |d| wrong_type(d, path, "a JSON array", &other));
            None
        }
        Err(e) => {
            d.report(path, ViolationCode::InvalidJson, format!("must be a JSON array: {e}"));
            None
        }
    }
}

/// Decodes one JSON object with `read`, then reports the fields `read` did not ask for.
pub fn object<T>(
    value: &Value,
    path: &str,
    d: &mut Decoder,
    read: impl FnOnce(&mut Fields<'_>, &mut Decoder) -> Option<T>,
) -> Option<T> {
    let mut fields = Fields::of(value, path, d)?;
    let out = read(&mut fields, d);
    let clean = fields.finish(d);
    out.filter(|_| clean)
}

/// Reads the fields of one JSON object; [`Fields::finish`] reports the fields nobody asked for.
pub struct Fields<'v> {
    map: &'v Map<String, Value>,
    path: String,
    known: Vec<&'static str>,
}

impl<'v> Fields<'v> {
    /// Starts reading an object, or reports a wrong type and returns `None`.
    pub fn of(value: &'v Value, path: &str, d: &mut Decoder) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self {
                map,
                path: path.to_owned(),
                known: Vec::new(),
            }),
            _ => {
                wrong_type(d, path, "an object", value);
                None
            }
        }
    }

    /// A field that must be present. In CSV text an empty cell counts as absent.
    pub fn required<T: Decode>(&mut self, name: &'static str, d: &mut Decoder) -> Option<T> {
        self.known.push(name);
        let path = child_path(&self.path, name);
        match self.present(name, d) {
            Some(value) => T::decode(value, &path, d),
            None => {
                d.report(&path, ViolationCode::Missing, "is required");
                None
            }
        }
    }

    /// A field that may be absent: `Some(None)` when absent, `None` when present but invalid (already reported).
    pub fn optional<T: Decode>(&mut self, name: &'static str, d: &mut Decoder) -> Option<Option<T>> {
        self.known.push(name);
        let path = child_path(&self.path, name);
        match self.present(name, d) {
            Some(value) => T::decode(value, &path, d).map(Some),
            None => Some(None),
        }
    }

    fn present(&self, name: &str, d: &Decoder) -> Option<&'v Value> {
        match self.map.get(name) {
            Some(Value::String(s)) if d.source() == Source::Text && s.is_empty() => None,
            other => other,
        }
    }

    /// Reports every field that the type does not define; returns whether there were none.
    pub fn finish(self, d: &mut Decoder) -> bool {
        let mut clean = true;
        for key in self.map.keys() {
            if !self.known.contains(&key.as_str()) {
                clean = false;
                let expected = self.known.join(", ");
                d.report(
                    &child_path(&self.path, key),
                    ViolationCode::UnknownField,
                    format!("is not a field of this form (expected: {expected})"),
                );
            }
        }
        clean
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
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
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
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
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
    fn decode(value: &Value, path: &str, d: &mut Decoder) -> Option<Self> {
        if let (Value::String(text), Source::Text) = (value, d.source()) {
            let nested = json_array_cell(text, path, d)?;
            return d.with_source(Source::Json, |d| Self::decode(&nested, path, d));
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
