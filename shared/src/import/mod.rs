//! The S3-triggered CSV import: streaming, typed rows, bounded fan-out, and a stop time derived from the invocation.
//!
//! `job` is what is kept about an import across invocations and the rules for who works on it; `service` runs one
//! invocation; `pipeline` streams one body into `writer`'s batches; `dataset` types the rows; `tally`, `report` and
//! `parts` account for every row; `ports` is all the I/O.

pub mod dataset;
pub mod deadline;
mod error;
pub mod event;
pub mod ids;
pub mod job;
mod lines;
pub mod parts;
pub mod pipeline;
pub mod ports;
pub mod rejection;
pub mod report;
mod service;
pub mod tally;
pub mod upload;
pub mod writer;

pub use error::ImportError;
pub use report::{ImportResponse, Skipped};
pub use service::{Backends, ImportService};
