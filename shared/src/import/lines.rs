//! Line numbers of CSV rows as people count them (header = line 1).
//!
//! csv-async's positions count a line break only once it reads past it, so after a CRLF or blank lines they lag.
//! This reader adapter notes where line breaks are while the body streams through, and answers "on which line does
//! the row at this byte offset start" for increasing offsets, forgetting what lies behind: memory stays bounded by
//! what is buffered ahead.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

#[derive(Default)]
struct Breaks {
    /// Line feeds before the earliest offset still held.
    passed_newlines: u64,
    /// Offsets of `\r` and `\n` bytes read but not yet behind a queried offset; `true` for `\n`.
    ahead: VecDeque<(u64, bool)>,
}

/// Answers line numbers for byte offsets of the stream its [`LineCounting`] reader has seen.
#[derive(Clone, Default)]
pub struct LineIndex(Arc<Mutex<Breaks>>);

impl LineIndex {
    /// The line on which a row starting at `offset` has its first character: line breaks right at `offset` (a CRLF's
    /// `\n` or blank lines, which the CSV reader skips) are passed over. Offsets must not decrease between calls.
    pub fn line_at(&self, offset: u64) -> u64 {
        let mut breaks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(at, newline)) = breaks.ahead.front() {
            if at >= offset {
                break;
            }
            breaks.ahead.pop_front();
            breaks.passed_newlines += u64::from(newline);
        }
        let leading = breaks
            .ahead
            .iter()
            .enumerate()
            .take_while(|(i, (at, _))| *at == offset + *i as u64)
            .filter(|(_, (_, newline))| *newline)
            .count() as u64;
        breaks.passed_newlines + leading + 1
    }
}

/// Wraps a body and records its line breaks in a [`LineIndex`].
pub struct LineCounting<R> {
    inner: R,
    offset: u64,
    index: LineIndex,
}

impl<R> LineCounting<R> {
    pub fn new(inner: R) -> (Self, LineIndex) {
        let index = LineIndex::default();
        (
            Self {
                inner,
                offset: 0,
                index: index.clone(),
            },
            index,
        )
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LineCounting<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let start = self.offset;
        let new = &buf.filled()[before..];
        {
            let mut breaks = self.index.0.lock().unwrap_or_else(|p| p.into_inner());
            for (i, byte) in new.iter().enumerate() {
                if *byte == b'\n' || *byte == b'\r' {
                    breaks.ahead.push_back((start + i as u64, *byte == b'\n'));
                }
            }
        }
        self.offset += new.len() as u64;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn index_of(text: &[u8]) -> LineIndex {
        let (mut reader, index) = LineCounting::new(text);
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).await.unwrap();
        index
    }

    #[tokio::test]
    async fn lf_crlf_and_blank_lines() {
        let index = index_of(b"h\na\r\nb\n\n\nc").await;
        assert_eq!(index.line_at(0), 1);
        assert_eq!(index.line_at(2), 2);
        // After "a\r" the CSV reader resumes at the "\n": the row "b" starts on line 3.
        assert_eq!(index.line_at(4), 3);
        // After "b\n" come two blank lines, then "c" on line 6.
        assert_eq!(index.line_at(7), 6);
    }
}
