//! QIDO-RS study search for members picking a study to import, through the outbound
//! guard: the server's address is checked and the connection pinned to it, like imports.

use async_trait::async_trait;
use medgrid_domain::ports::{DicomDirectory, SearchFailed, StudyFound, StudySearch};

use super::web::{DicomWebAuth, DicomWebClient, DicomWebSettings, StudyQuery};
use crate::outbound::Guard;

/// The most studies one search returns.
const MAX_RESULTS: u32 = 200;

/// Searches with the guard's policy (the same as imports').
pub struct GuardedDirectory {
    pub guard: Guard,
    /// The largest answer read (`MEDGRID_DICOMWEB_SEARCH_MAX_BYTES`).
    pub max_answer_bytes: u64,
}

fn auth(search: &StudySearch) -> Option<DicomWebAuth> {
    if let Some(token) = &search.bearer_token {
        return Some(DicomWebAuth::Bearer(token.clone().into()));
    }
    search
        .basic
        .as_ref()
        .map(|(username, password)| DicomWebAuth::Basic {
            username: username.clone(),
            password: password.clone().into(),
        })
}

#[async_trait]
impl DicomDirectory for GuardedDirectory {
    async fn search_studies(&self, search: StudySearch) -> Result<Vec<StudyFound>, SearchFailed> {
        let pinned = self
            .guard
            .check(&search.base_url)
            .await
            .map_err(|r| SearchFailed::Refused(r.0))?;
        let mut settings = DicomWebSettings::new(search.base_url.clone());
        settings.auth = auth(&search);
        settings.max_search_bytes = self.max_answer_bytes;
        settings.pinned = pinned.domain.clone().map(|d| (d, pinned.addrs.clone()));
        let client =
            DicomWebClient::new(settings).map_err(|e| SearchFailed::Refused(e.to_string()))?;
        let query = StudyQuery {
            patient_id: search.patient_id,
            accession_number: search.accession_number,
            study_date: search.study_date,
            modality: search.modality,
            limit: Some(search.limit.clamp(1, MAX_RESULTS)),
            ..StudyQuery::default()
        };
        let studies = client
            .search_studies(&query)
            .await
            .map_err(|e| SearchFailed::Server(e.to_string()))?;
        Ok(studies
            .into_iter()
            .map(|s| StudyFound {
                study_instance_uid: s.study_instance_uid,
                study_date: s.study_date.map(|d| d.to_string()),
                modalities: s.modalities,
                description: s.description,
                series: s.number_of_series,
                instances: s.number_of_instances,
            })
            .collect())
    }
}
