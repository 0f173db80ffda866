//! The rejected-rows report of an import that spans invocations: every invocation before the last writes its rows as
//! one part, and the last joins the parts into the report.
//!
//! The join streams each part into a temporary file: a report can be far larger than the function's memory (a file
//! of bad rows gives tens of megabytes). And each part is read only as it was written, by the ETag its writer was
//! given: whoever can write under `reports/` could otherwise swap a part before the join and have the report say
//! what they like.

use super::ports::ReportSink;
use crate::error::BoxError;
use serde::{Deserialize, Serialize};
use std::io::Seek;
use tokio::io::AsyncWriteExt;

/// A part of the report as written: its key and the ETag the store gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartRef {
    pub key: String,
    pub etag: String,
}

/// The report's header row; the parts and the last invocation's rows have none.
pub const HEADER: &[u8] = b"line,column,code,message\n";

/// The whole report in a temporary file, at its start: [`HEADER`], the `parts` in order, then `last` (the rows of the
/// invocation that joins, at their start). A part that is missing or was replaced fails the join.
///
/// # Cancel safety
/// Dropped mid-way, it leaves nothing behind: the temporary file goes with it.
pub async fn join<R: ReportSink>(
    reports: &R,
    bucket: &str,
    parts: &[PartRef],
    last: Option<std::fs::File>,
) -> Result<std::fs::File, BoxError> {
    let mut joined = tokio::fs::File::from_std(tempfile::tempfile()?);
    joined.write_all(HEADER).await?;
    for part in parts {
        reports.append_to(bucket, &part.key, &part.etag, &mut joined).await?;
    }
    if let Some(last) = last {
        tokio::io::copy(&mut tokio::fs::File::from_std(last), &mut joined).await?;
    }
    joined.flush().await?;
    let mut joined = joined.into_std().await;
    joined.rewind()?;
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ports::memory::MemoryBucket;
    use crate::import::ports::ReportBody;
    use std::io::{Read, Write};

    const BUCKET: &str = "bucket";

    async fn put(reports: &MemoryBucket, key: &str, content: &str) -> PartRef {
        let body = ReportBody::Bytes(content.as_bytes().to_vec());
        let etag = reports.put(BUCKET, key, "text/csv", body).await.unwrap();
        PartRef {
            key: key.to_owned(),
            etag,
        }
    }

    fn read(mut file: std::fs::File) -> String {
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        text
    }

    #[tokio::test]
    async fn the_header_the_parts_in_order_and_the_last_rows_make_the_report() {
        let reports = MemoryBucket::default();
        // GIVEN parts written in an order their keys do not sort in, and rows of the joining invocation
        let second = put(&reports, "r/part-2.csv", "5,value,missing,is required\n").await;
        let first = put(
            &reports,
            "r/part-1.csv",
            "2,unit,too_long,must have at most 128 characters\n",
        )
        .await;
        let mut last = tempfile::tempfile().unwrap();
        last.write_all(b"9,,field_count,has 3 fields; the header has 9\n")
            .unwrap();
        last.rewind().unwrap();

        // WHEN they are joined
        let joined = join(&reports, BUCKET, &[first, second], Some(last)).await.unwrap();

        // THEN the report has the header, each part once in the order given, then the last rows
        assert_eq!(
            read(joined),
            "line,column,code,message\n\
             2,unit,too_long,must have at most 128 characters\n\
             5,value,missing,is required\n\
             9,,field_count,has 3 fields; the header has 9\n"
        );
    }

    #[tokio::test]
    async fn a_part_replaced_after_it_was_written_is_refused() {
        let reports = MemoryBucket::default();
        let first = put(&reports, "r/part-1.csv", "2,value,missing,is required\n").await;
        let second = put(&reports, "r/part-2.csv", "3,value,missing,is required\n").await;
        // Someone who may write under reports/ swaps the second part: same key, other rows.
        reports.insert(BUCKET, "r/part-2.csv", "7,unit,too_long,made up\n");

        let joined = join(&reports, BUCKET, &[first, second], None).await;

        let error = joined.expect_err("the join is refused").to_string();
        assert!(error.contains("r/part-2.csv") && error.contains("replaced"), "{error}");
    }

    #[tokio::test]
    async fn a_part_rewritten_with_the_same_content_is_still_joined() {
        // The ETag names the content: writing the same bytes again (a retried put) changes nothing.
        let reports = MemoryBucket::default();
        let part = put(&reports, "r/part-1.csv", "2,value,missing,is required\n").await;
        put(&reports, "r/part-1.csv", "2,value,missing,is required\n").await;

        let joined = join(&reports, BUCKET, &[part], None).await.unwrap();

        assert_eq!(read(joined), "line,column,code,message\n2,value,missing,is required\n");
    }

    #[tokio::test]
    async fn a_part_is_streamed_into_the_report_as_it_arrives() {
        // A body that breaks off after 10,000 bytes: what came before the break is in the file already, which
        // a copy that read the whole object into memory first would not have written.
        let reports = MemoryBucket::default();
        let content = "2,value,missing,is required\n".repeat(1_000);
        let etag = put(&reports, "r/part-1.csv", &content).await.etag;
        reports.insert_breaking(BUCKET, "r/part-1.csv", content.clone(), 10_000);
        let mut into = tokio::fs::File::from_std(tempfile::tempfile().unwrap());

        let copied = reports.append_to(BUCKET, "r/part-1.csv", &etag, &mut into).await;

        assert!(copied.is_err(), "the break is an error");
        let mut into = into.into_std().await;
        into.rewind().unwrap();
        assert_eq!(read(into), content[..10_000]);
    }
}
