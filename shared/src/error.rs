//! Error helpers every layer uses: the boxed source type, an error's whole chain on one line, and messages cut to
//! a bounded length (they end up in job records, reports and problem bodies, which have size limits and readers).

use std::borrow::Cow;
use std::error::Error as StdError;

/// A source error of any type, as the adapters keep it.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The whole chain of an error on one line, for logs and job records.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// `text` cut after `max_chars` characters, with an ellipsis marking the cut.
pub fn truncate(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…");
        assert_eq!(truncate(&"é".repeat(10), 4), "éééé…");
        assert!(matches!(truncate("short", 10), Cow::Borrowed(_)));
    }

    #[test]
    fn chain_joins_every_source() {
        let outer = Wrapped(std::io::Error::other("disk full"));
        assert_eq!(chain(&outer), "writing the report: disk full");
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("writing the report")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }
}
