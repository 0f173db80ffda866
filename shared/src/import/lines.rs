//! Line numbers of CSV rows as people count them (header = line 1), in constant memory.
//!
//! csv-async's positions count a line break only once it reads past it, so after a CRLF or blank lines they lag.
//! This reader adapter notes where line breaks are while the body streams through, and answers "on which line does
//! the row at this byte offset start" for increasing offsets, forgetting what lies behind. Consecutive break bytes
//! are kept as one run, so a million blank lines take one entry: memory stays bounded by what is buffered ahead
//! (and, inside one record, by the record's size limit).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Consecutive `\r` and `\n` bytes from `start`: `len` bytes, of which `newlines` are `\n`.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    len: u64,
    newlines: u64,
}

#[derive(Default)]
struct Breaks {
    /// The line of the stream's first byte.
    first_line: u64,
    /// Line feeds before the earliest run still held.
    passed_newlines: u64,
    /// Runs read but not yet behind a queried offset.
    ahead: VecDeque<Run>,
}

/// Answers line numbers for byte offsets (from the start of the stream) of what its [`LineCounting`] reader saw.
#[derive(Clone, Default)]
pub struct LineIndex(Arc<Mutex<Breaks>>);

impl LineIndex {
    /// The line on which a row starting at `offset` has its first character: line breaks right at `offset` (a CRLF's
    /// `\n` or blank lines, which the CSV reader skips) are passed over. Offsets must not decrease between calls.
    pub fn line_at(&self, offset: u64) -> u64 {
        let mut breaks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(run) = breaks.ahead.front().copied() {
            if run.start + run.len > offset {
                break;
            }
            breaks.ahead.pop_front();
            breaks.passed_newlines += run.newlines;
        }
        // A run that holds `offset` lies between it and the row's first character: all of it is passed over.
        let leading = match breaks.ahead.front() {
            Some(run) if run.start <= offset => run.newlines,
            _ => 0,
        };
        breaks.first_line + breaks.passed_newlines + leading
    }

    /// How many runs of line breaks are held: what the memory bound is about.
    pub fn held(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).ahead.len()
    }
}

/// Wraps a body and records its line breaks in a [`LineIndex`].
pub struct LineCounting<R> {
    inner: R,
    offset: u64,
    index: LineIndex,
}

impl<R> LineCounting<R> {
    /// `first_line` is the line of the body's first byte: 1 for a whole file, the checkpoint's for a resumed one.
    pub fn new(inner: R, first_line: u64) -> (Self, LineIndex) {
        let index = LineIndex::default();
        index.0.lock().unwrap_or_else(|p| p.into_inner()).first_line = first_line;
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
                if *byte != b'\n' && *byte != b'\r' {
                    continue;
                }
                let at = start + i as u64;
                let newline = u64::from(*byte == b'\n');
                match breaks.ahead.back_mut() {
                    Some(run) if run.start + run.len == at => {
                        run.len += 1;
                        run.newlines += newline;
                    }
                    _ => breaks.ahead.push_back(Run {
                        start: at,
                        len: 1,
                        newlines: newline,
                    }),
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

    async fn index_of(text: &[u8], first_line: u64) -> LineIndex {
        let (mut reader, index) = LineCounting::new(text, first_line);
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).await.unwrap();
        index
    }

    #[tokio::test]
    async fn lf_crlf_and_blank_lines() {
        let index = index_of(b"h\na\r\nb\n\n\nc", 1).await;
        assert_eq!(index.line_at(0), 1);
        assert_eq!(index.line_at(2), 2);
        // After "a\r" the CSV reader resumes at the "\n": the row "b" starts on line 3.
        assert_eq!(index.line_at(4), 3);
        // After "b\n" come two blank lines, then "c" on line 6.
        assert_eq!(index.line_at(7), 6);
    }

    #[tokio::test]
    async fn a_resumed_body_counts_from_its_first_line() {
        let index = index_of(b"x\ny\r\nz", 41).await;
        assert_eq!((index.line_at(0), index.line_at(2), index.line_at(5)), (41, 42, 43));
    }

    #[tokio::test]
    async fn a_million_blank_lines_are_one_entry() {
        let mut body = b"h\n".to_vec();
        body.extend(std::iter::repeat_n(b'\n', 1_000_000));
        body.extend_from_slice(b"row\n");
        let index = index_of(&body, 1).await;
        assert_eq!(index.held(), 2, "the header's break run and the last row's");
        assert_eq!(index.line_at(2), 1_000_002);
    }
}
