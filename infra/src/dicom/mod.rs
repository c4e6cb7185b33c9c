//! DICOM from hospitals: a DICOMweb client (QIDO-RS search, WADO-RS retrieval one
//! instance at a time) and the PS3.15 basic-profile de-identification every instance goes
//! through before Medgrid stores it.

pub mod deid;
pub mod directory;
mod multipart;
pub mod profile;
pub mod web;

pub use deid::{DeidError, Deidentified, Deidentifier, NewUids};
pub use web::{
    DicomWebAuth, DicomWebClient, DicomWebError, DicomWebSettings, InstanceStream, SeriesSummary,
    SpooledInstance, StudyQuery, StudySummary,
};
