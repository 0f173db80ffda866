//! Domain types, validation, the import pipeline and the AWS adapters behind the clinical-ingest functions.
//!
//! The functions in `functions/` only wire these pieces together; every decision lives here and is unit-tested.
//! Dependencies run one way: `questionnaire` → `submission` → `store` → `audit` → `api` / `import`; `error`, `time`,
//! `config`, `aws` and `telemetry` are neutral helpers any layer may use.

// A row whose rules panic is reported as rejected, and a handler's panic answered as an error, only when panics
// unwind. `cargo lambda build --release` (what `sam build` runs) builds with `panic = "abort"` unless the workspace's
// release profile names a strategy: such a build fails here instead of deploying functions that crash on a panic.
#[cfg(panic = "abort")]
compile_error!("panics must unwind: keep `panic = \"unwind\"` in [profile.release] of the workspace's Cargo.toml");

pub mod api;
pub mod audit;
pub mod aws;
pub mod config;
pub mod error;
pub mod import;
pub mod json;
pub mod page;
pub mod provenance;
pub mod questionnaire;
pub mod store;
pub mod submission;
pub mod telemetry;
pub mod time;
