//! One integration-test binary: every suite runs against real PostgreSQL, each test in a
//! database of its own.

#![allow(clippy::unwrap_used)]

mod access;
mod accounting;
mod catalog;
mod compute;
mod delegation;
mod dicomweb;
mod federation;
mod http;
mod imports;
mod introspection;
mod isolation;
mod job_files;
mod jobs;
mod mail;
mod notifications;
mod notify;
mod portal;
mod portal_admin;
mod portal_admin_platform;
mod portal_files;
mod portal_imports;
mod portal_support;
mod processors;
mod resumable;
mod retries;
mod rls;
mod runner;
mod s3;
mod sandbox;
mod shipped;
mod sign_in_limits;
mod signin;
mod slurm;
mod spaces;
mod subscriptions;
mod tickets;
