//! Domain types, validation, the import pipeline and the AWS adapters behind the clinical-ingest functions.
//!
//! The functions in `functions/` only wire these pieces together; every decision lives here and is unit-tested.

pub mod api;
pub mod aws;
pub mod config;
pub mod import;
pub mod provenance;
pub mod questionnaire;
pub mod store;
pub mod telemetry;
pub mod time;
