//! JSON parsed strictly: an object that names a member twice is an error, never "the last one wins" (serde_json's
//! `Value` keeps the last silently, so `{"age":30,"age":31}` would store 31 without anyone seeing the 30).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a text is not acceptable JSON.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// A member name appears twice in one object; `pointer` (RFC 6901) addresses the second one.
    #[error("the member {pointer} appears more than once")]
    DuplicateMember { pointer: String },
    #[error(transparent)]
    Syntax(serde_json::Error),
}

/// Parses one JSON document, refusing duplicate member names at any depth. serde_json's nesting limit applies.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = At {
        parent: None,
        token: Token::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|e| match duplicate.into_inner() {
        Some(pointer) => JsonError::DuplicateMember { pointer },
        None => JsonError::Syntax(e),
    })
}

#[derive(Clone, Copy)]
enum Token<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// Where in the document a value is being read: a chain of tokens up to the root, built without allocating.
#[derive(Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    token: Token<'a>,
    /// Set when a duplicate is found, so that the error can say where without the parser's error type knowing.
    duplicate: &'a RefCell<Option<String>>,
}

impl At<'_> {
    fn pointer(&self) -> String {
        let mut tokens = Vec::new();
        let mut at = Some(self);
        while let Some(current) = at {
            match current.token {
                Token::Root => {}
                Token::Key(key) => tokens.push(key.replace('~', "~0").replace('/', "~1")),
                Token::Index(i) => tokens.push(i.to_string()),
            }
            at = current.parent;
        }
        tokens.iter().rev().map(|t| format!("/{t}")).collect()
    }
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let at = At {
                parent: Some(&self),
                token: Token::Index(items.len()),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(at)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let at = At {
                parent: Some(&self),
                token: Token::Key(&key),
                duplicate: self.duplicate,
            };
            if map.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(at.pointer());
                return Err(de::Error::custom("a member name appears more than once"));
            }
            let value = access.next_value_seed(at)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_without_duplicates_parse_as_serde_json_would() {
        let text = r#"{"a": [1, -2, 3.5, true, null, "x", {"b": {}}], "c/d": "é"}"#;
        assert_eq!(parse(text).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_duplicate_member_at_any_depth_is_refused_with_its_pointer() {
        for (text, pointer) in [
            (r#"{"age": 30, "age": 31}"#, "/age"),
            (
                r#"{"logs": [{"dose": "a"}, {"dose": "b", "dose": "c"}]}"#,
                "/logs/1/dose",
            ),
            (r#"{"a/b": {"~": 1, "~": 2}}"#, "/a~1b/~0"),
        ] {
            match parse(text) {
                Err(JsonError::DuplicateMember { pointer: found }) => assert_eq!(found, pointer, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn syntax_errors_trailing_text_and_deep_nesting_are_syntax_errors() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for text in ["{", "{} x", "[1,]", &deep, "1e400"] {
            assert!(matches!(parse(text), Err(JsonError::Syntax(_))), "{text:.20}");
        }
        assert_eq!(parse(" [] ").unwrap(), json!([]));
    }
}
