//! A byte budget per CSV record: the reader is given at most `max` bytes past the start of the record it is reading.
//!
//! csv-async holds a whole record in memory, and an unclosed quote makes the rest of the file one field: without a
//! limit a hostile or broken file exhausts memory before anything is reported. The reader moves the budget on after
//! each record; running out makes the read fail, and [`RecordBudget::exceeded`] tells that failure from others.
//! Blank lines before a record are not part of it (the CSV reader skips them without holding them), so a run of
//! millions of them costs no budget.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

#[derive(Debug)]
pub struct RecordBudget {
    max: u64,
    record_start: AtomicU64,
    /// Where the current record's first byte that is not a line break is, once delivered (`u64::MAX`: not yet).
    content_start: AtomicU64,
    exceeded: AtomicBool,
}

impl RecordBudget {
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            max,
            record_start: AtomicU64::new(0),
            content_start: AtomicU64::new(u64::MAX),
            exceeded: AtomicBool::new(false),
        })
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The next record starts at `offset` (from the start of the stream).
    pub fn record_starts_at(&self, offset: u64) {
        self.record_start.fetch_max(offset, Ordering::SeqCst);
    }

    /// Where the record being read begins past any blank lines, if a byte of it has been delivered.
    fn content_start(&self) -> Option<u64> {
        Some(self.content_start.load(Ordering::SeqCst)).filter(|&at| at != u64::MAX)
    }

    /// Whether reading stopped because a record was longer than the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::SeqCst)
    }
}

fn is_line_break(byte: &u8) -> bool {
    matches!(byte, b'\n' | b'\r')
}

/// A body that stops delivering bytes once the current record would exceed its budget.
pub struct Budgeted<R> {
    inner: R,
    delivered: u64,
    /// The offset of the last byte delivered that is not a line break.
    last_content: Option<u64>,
    /// The record start the budget was last computed for.
    seen_start: Option<u64>,
    /// Bytes read past the budget's limit while looking for the start of a record; handed on first.
    carry: Vec<u8>,
    budget: Arc<RecordBudget>,
}

impl<R> Budgeted<R> {
    pub fn new(inner: R, budget: Arc<RecordBudget>) -> Self {
        Self {
            inner,
            delivered: 0,
            last_content: None,
            seen_start: None,
            carry: Vec::new(),
            budget,
        }
    }

    /// Where the current record's content starts, as far as the bytes delivered tell.
    fn content_start(&mut self) -> Option<u64> {
        let start = self.budget.record_start.load(Ordering::SeqCst);
        if self.seen_start != Some(start) {
            self.seen_start = Some(start);
            // Bytes already delivered past `start` that are not all line breaks: count from `start` itself (their
            // exact position is no longer known, and counting from earlier only makes the budget stricter).
            let content = self.last_content.filter(|&at| at >= start).map(|_| start);
            self.budget
                .content_start
                .store(content.unwrap_or(u64::MAX), Ordering::SeqCst);
        }
        self.budget.content_start()
    }
}

impl<R: AsyncRead + Unpin> Budgeted<R> {
    /// Reads at most `max` bytes into `buf`, from the carried bytes first.
    fn fill(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>, max: usize) -> Poll<io::Result<()>> {
        if !self.carry.is_empty() {
            let n = max.min(buf.remaining()).min(self.carry.len());
            buf.put_slice(&self.carry[..n]);
            self.carry.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if max >= buf.remaining() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        // Near the limit only: read into a smaller buffer so that no byte past it is handed on.
        let mut bytes = vec![0; max];
        let mut small = ReadBuf::new(&mut bytes);
        let poll = Pin::new(&mut self.inner).poll_read(cx, &mut small);
        buf.put_slice(small.filled());
        poll
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Budgeted<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let limit = this.content_start().map(|at| at + this.budget.max);
        let allowed = limit.map_or(usize::MAX, |limit| {
            usize::try_from(limit.saturating_sub(this.delivered)).unwrap_or(usize::MAX)
        });
        if allowed == 0 {
            this.budget.exceeded.store(true, Ordering::SeqCst);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a record is longer than the record size limit",
            )));
        }
        let before = buf.filled().len();
        let poll = this.fill(cx, buf, allowed);
        let new = &buf.filled()[before..];
        let mut delivered = new.len();
        if limit.is_none() {
            // Until now only line breaks: the record starts at the first byte that is not one.
            if let Some(first) = new.iter().position(|b| !is_line_break(b)) {
                let at = this.delivered + first as u64;
                this.budget.content_start.store(at, Ordering::SeqCst);
                let keep = (first as u64 + this.budget.max).min(new.len() as u64) as usize;
                if keep < new.len() {
                    this.carry.splice(0..0, new[keep..].iter().copied());
                    delivered = keep;
                }
            }
        }
        if let Some(last) = buf.filled()[before..before + delivered]
            .iter()
            .rposition(|b| !is_line_break(b))
        {
            this.last_content = Some(this.delivered + last as u64);
        }
        buf.set_filled(before + delivered);
        this.delivered += delivered as u64;
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_record_longer_than_the_budget_stops_the_body() {
        let budget = RecordBudget::new(10);
        let mut body = Budgeted::new(&[b'x'; 100][..], Arc::clone(&budget));
        let mut out = Vec::new();
        let err = body.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out.len(), 10);
        assert!(budget.exceeded());
    }

    #[tokio::test]
    async fn the_budget_moves_on_with_each_record() {
        let budget = RecordBudget::new(10);
        let mut body = Budgeted::new(&[b'x'; 25][..], Arc::clone(&budget));
        let mut chunk = [0u8; 8];
        let mut read = 0;
        while read < 25 {
            let n = body.read(&mut chunk).await.unwrap();
            read += n;
            budget.record_starts_at(read as u64);
        }
        assert!(!budget.exceeded());
    }

    #[tokio::test]
    async fn line_breaks_before_a_record_are_not_counted() {
        let budget = RecordBudget::new(10);
        let mut bytes = vec![b'\n'; 1_000];
        bytes.extend_from_slice(b"\r\n\r\n0123456789rest");
        let mut body = Budgeted::new(&bytes[..], Arc::clone(&budget));
        let mut out = Vec::new();
        let err = body.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            &out[..],
            &bytes[..1_014],
            "every line break and exactly the budget of the record"
        );
        assert_eq!(budget.content_start(), Some(1_004));
    }

    #[tokio::test]
    async fn bytes_held_back_at_the_limit_are_handed_on_when_the_record_ends_in_time() {
        let budget = RecordBudget::new(10);
        let bytes = b"\n\nabc\ndefgh\nij\n".repeat(3);
        let mut body = Budgeted::new(&bytes[..], Arc::clone(&budget));
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            let n = body.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            // A reader that has just finished the record ending at the last line break it was given.
            let end = out.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
            budget.record_starts_at(end as u64);
        }
        assert_eq!(out, bytes);
        assert!(!budget.exceeded());
    }
}
