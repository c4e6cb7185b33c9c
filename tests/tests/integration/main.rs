//! One integration-test binary: every suite runs against real PostgreSQL, each test in a
//! database of its own.

#![allow(clippy::unwrap_used)]

mod access;
mod catalog;
mod compute;
mod http;
mod isolation;
mod jobs;
mod processors;
mod runner;
mod slurm;
mod subscriptions;
