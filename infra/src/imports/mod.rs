//! Fetching what imports bring in from outside, behind the SSRF guard
//! ([`crate::outbound`]): one file over http(s), the objects under an S3 prefix. (DICOMweb
//! retrieval is `crate::dicom`, given the addresses the guard checked.)

pub mod http;
pub mod s3;

pub use crate::outbound::{Guard, Pinned, Reach};
