//! Imports measured against real deadlines: the stop before the timeout, the checkpoint, and the continuations
//! that finish a file across invocations. Each test runs alone (see [`integration_tests::alone`]): on a small
//! machine, tests side by side slow each other and the local APIs past deadlines of a few seconds.

mod binary;
mod continuation;
mod in_process;
mod progress;
mod report_join;
mod slow_backend;
