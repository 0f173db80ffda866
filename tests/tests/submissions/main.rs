//! The questionnaire API against the local DynamoDB API: in-process with the event fixtures, and end to end over
//! HTTP through cargo lambda watch.

mod end_to_end;
mod in_process;
mod versions;
