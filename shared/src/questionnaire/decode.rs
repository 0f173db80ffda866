//! Strict decoding of untrusted input into typed values.
//!
//! serde stops at the first error; a clinical site fixing a rejected form needs *every* problem at once. This decoder
//! walks a parsed JSON value, collects all violations with JSON-pointer paths, never coerces JSON types and rejects
//! unknown fields. The same rules decode CSV cells ([`Cells`]), where every scalar arrives as text and is parsed
//! strictly for the field's type and lists travel as JSON text. The source is a type parameter, so the codes a
//! decoder can report follow from it: JSON answers can only break the questionnaire rules ([`ViolationCode`]).

use super::violation::{CellCode, Violation, ViolationCode, Violations};
use crate::json::{self, JsonError};
use serde_json::error::Category;
use serde_json::{Map, Value};

/// Where the values come from, and how that changes reading them.
pub trait Source: Sized {
    /// The codes this source's violations carry.
    type Code: From<ViolationCode> + Copy;
    /// Scalars arrive as text and are parsed for the field's type; an empty text is an absent value.
    const TEXT: bool;
    /// A text where a list is expected.
    fn list_in_text<T>(
        text: &str,
        path: &str,
        d: &mut Decoder<Self>,
        decode: impl FnOnce(&Value, &mut Decoder<Json>) -> Option<T>,
    ) -> Option<T>;
}

/// A JSON document, with JSON's own types.
#[derive(Debug)]
pub enum Json {}

/// The cells of a CSV row: every scalar is text; lists are JSON text, inside which JSON's types apply again.
#[derive(Debug)]
pub enum Cells {}

impl Source for Json {
    type Code = ViolationCode;
    const TEXT: bool = false;

    fn list_in_text<T>(
        _: &str,
        path: &str,
        d: &mut Decoder<Self>,
        _: impl FnOnce(&Value, &mut Decoder<Json>) -> Option<T>,
    ) -> Option<T> {
        d.report(path, ViolationCode::WrongType, "must be an array, got a string");
        None
    }
}

impl Source for Cells {
    type Code = CellCode;
    const TEXT: bool = true;

    fn list_in_text<T>(
        text: &str,
        path: &str,
        d: &mut Decoder<Self>,
        decode: impl FnOnce(&Value, &mut Decoder<Json>) -> Option<T>,
    ) -> Option<T> {
        // Messages say what kind of JSON the cell holds, never what it holds.
        match json::parse(text) {
            Ok(nested @ Value::Array(_)) => {
                let mut inner = Decoder::<Json>::new();
                let out = decode(&nested, &mut inner);
                let clean = inner.violations.is_clean();
                d.violations.absorb(inner.violations);
                out.filter(|_| clean)
            }
            Ok(other) => {
                let message = format!("must be a JSON array, got {}", type_name(&other));
                d.report(path, ViolationCode::WrongType, message);
                None
            }
            Err(JsonError::DuplicateMember { .. }) => {
                let message = "must be a JSON array whose objects name each member once";
                d.report(path, CellCode::InvalidJson, message);
                None
            }
            // Not where it breaks: a line and column would tell how long the text before them is.
            Err(JsonError::Syntax(e)) => {
                let message = match e.classify() {
                    Category::Eof => "must be a JSON array; the cell's JSON ends before it is complete",
                    _ => "must be a JSON array; the cell is not valid JSON",
                };
                d.report(path, CellCode::InvalidJson, message);
                None
            }
        }
    }
}

/// Collects violations while a value is decoded (a bounded number; the rest are counted).
#[derive(Debug)]
pub struct Decoder<S: Source> {
    violations: Violations<S::Code>,
}

impl<S: Source> Default for Decoder<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Source> Decoder<S> {
    pub fn new() -> Self {
        Self {
            violations: Violations::default(),
        }
    }

    pub fn report(&mut self, path: &str, code: impl Into<S::Code>, message: impl Into<String>) {
        self.violations.push(Violation::new(path, code, message));
    }

    /// The decoded value, or every violation found on the way.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Violations<S::Code>> {
        match value {
            Some(value) if self.violations.is_clean() => Ok(value),
            _ => {
                debug_assert!(!self.violations.is_clean(), "a failed decode must report why");
                Err(self.violations)
            }
        }
    }
}

/// A type that can be decoded strictly from a JSON value or from CSV cells.
pub trait Decode: Sized {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self>;
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

/// A wrong type is described by what was sent (its JSON type, or "other text" for a cell), never by the value.
fn wrong_type<S: Source>(d: &mut Decoder<S>, path: &str, expected: &str, value: &Value) {
    let message = match value {
        Value::String(_) if S::TEXT => format!("must be {expected}; the cell holds other text"),
        _ => format!("must be {expected}, got {}", type_name(value)),
    };
    d.report(path, ViolationCode::WrongType, message);
}

impl Decode for bool {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if S::TEXT && s == "true" => Some(true),
            Value::String(s) if S::TEXT && s == "false" => Some(false),
            _ => {
                wrong_type(d, path, "a boolean (true or false)", value);
                None
            }
        }
    }
}

impl Decode for i64 {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        let parsed = match value {
            Value::Number(n) => integer(n),
            Value::String(s) if S::TEXT => s.parse::<i64>().map_err(|_| {
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

/// A JSON number as an integer; `Err(true)` when it is whole but beyond `i64`, `Err(false)` when it has a fraction.
/// A whole number written with a fraction or exponent (`25.0`, `1e2`) is that integer, as JSON Schema counts it.
fn integer(n: &serde_json::Number) -> Result<i64, bool> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        _ if n.is_u64() => Err(true),
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        Some(f) if f.fract() == 0.0 => Err(true),
        _ => Err(false),
    }
}

impl Decode for String {
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
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
    fn decode<S: Source>(value: &Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
        match value {
            Value::Array(items) => {
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
            Value::String(text) => S::list_in_text(text, path, d, |nested, d| Self::decode(nested, path, d)),
            _ => {
                wrong_type(d, path, "an array", value);
                None
            }
        }
    }
}

/// Decodes one JSON object with `read`, then reports the fields `read` did not ask for.
pub fn object<S: Source, T>(
    value: &Value,
    path: &str,
    d: &mut Decoder<S>,
    read: impl FnOnce(&mut Fields<'_>, &mut Decoder<S>) -> Option<T>,
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
    pub fn of<S: Source>(value: &'v Value, path: &str, d: &mut Decoder<S>) -> Option<Self> {
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
    pub fn required<S: Source, T: Decode>(&mut self, name: &'static str, d: &mut Decoder<S>) -> Option<T> {
        self.known.push(name);
        let path = child_path(&self.path, name);
        match self.present::<S>(name) {
            Some(value) => T::decode(value, &path, d),
            None => {
                d.report(&path, ViolationCode::Missing, "is required");
                None
            }
        }
    }

    /// A field that may be absent: `Some(None)` when absent, `None` when present but invalid (already reported).
    pub fn optional<S: Source, T: Decode>(&mut self, name: &'static str, d: &mut Decoder<S>) -> Option<Option<T>> {
        self.known.push(name);
        let path = child_path(&self.path, name);
        match self.present::<S>(name) {
            Some(value) => T::decode(value, &path, d).map(Some),
            None => Some(None),
        }
    }

    fn present<S: Source>(&self, name: &str) -> Option<&'v Value> {
        match self.map.get(name) {
            Some(Value::String(s)) if S::TEXT && s.is_empty() => None,
            other => other,
        }
    }

    /// Reports every field that the type does not define; returns whether there were none.
    pub fn finish<S: Source>(self, d: &mut Decoder<S>) -> bool {
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
