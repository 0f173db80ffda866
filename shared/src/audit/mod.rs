//! The audit trail: every change to a clinical record (a submission, an observation) and every read of one through
//! the API, with who, when, why, and the record before and after — kept in an append-only store that no log level,
//! role or retention setting of the logs can silence or shorten.
//!
//! Changes are not recorded by the code that makes them (a crash between the write and its record would lose the
//! record, and a write made any other way would have none): DynamoDB Streams carries every change of the two tables
//! with its old and new image, and the audit function (`functions/audit-trail`) turns each batch into one object of
//! JSON lines ([`stream`]). Who and why come from the item itself: every write of ours names its writer
//! (`submittedBy` with `submitterIssuer`, or the uploader `importedBy`) and its cause (`requestId`, or the import's
//! `provenance.importId`). A delete names neither; DynamoDB's TTL marks its own deletes, any other delete is recorded
//! as unattributed (CloudTrail's data events say who made it).
//!
//! Reads cannot come from a stream: the API records each read of a submission ([`ReadRecord`]) in the same store
//! before it answers, and answers `503` rather than return a record whose read could not be recorded.
//!
//! The records hold the values themselves, not hashes of them: an audit trail must show what a record said before
//! it was changed (21 CFR 11.10(e): changes must not obscure previously recorded information), long after
//! point-in-time recovery and old object versions are gone. The store is therefore patient data like the tables:
//! encrypted with the same key, and write-once (S3 Object Lock in compliance mode; see `template.yaml`).

mod error;
pub mod memory;
mod record;
pub mod s3;
pub mod stream;
mod trail;

pub use error::AuditError;
pub use record::{Change, ChangeRecord, ReadOutcome, ReadRecord, Who, Why};
pub use trail::{ChangeAudit, ReadAudit};
