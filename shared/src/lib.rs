//! Domain types, validation, the import pipeline and the AWS adapters behind the clinical-ingest functions.
//!
//! The functions in `functions/` only wire these pieces together; every decision lives here and is unit-tested.
//! Dependencies run one way: `questionnaire` → `submission` → `store` → `audit` → `api` / `import`; `error`, `time`,
//! `config`, `aws` and `telemetry` are neutral helpers any layer may use.

pub mod api;
pub mod audit;
pub mod aws;
pub mod config;
pub mod error;
pub mod import;
pub mod json;
pub mod provenance;
pub mod questionnaire;
pub mod store;
pub mod submission;
pub mod telemetry;
pub mod time;
