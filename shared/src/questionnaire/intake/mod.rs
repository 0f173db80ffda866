//! `intake`: the enrolment form, in every version a protocol has approved. Each version is its own type with its own
//! rules; answers are stored and read with the version the patient saw, and move to a later version only through
//! the explicit upgrade of each step (version 1's `upgrade`).

mod v1;
mod v2;

pub use v1::{IntakeV1, PatientName};
pub use v2::{FullName, IntakeV2, SmokingStatus};
