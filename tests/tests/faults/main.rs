//! Injected backend faults between the functions and the local DynamoDB API: nothing is lost or duplicated, and a
//! client error is never turned into a 5xx nor a failure into a 201.

mod import;
mod submissions;
