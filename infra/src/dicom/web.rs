//! A DICOMweb client (PS3.18): QIDO-RS to find studies and series, WADO-RS to retrieve
//! them one instance at a time.
//!
//! The caller gives the base URL and has checked it (SSRF); this client therefore follows
//! no redirect, which could lead elsewhere. Errors never carry a URL: query parameters can
//! be patient identifiers.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Timelike};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::multipart::{MultipartParser, Piece, boundary_of};

const DICOM_JSON: &str = "application/dicom+json";
const MULTIPART_DICOM: &str = r#"multipart/related; type="application/dicom""#;

/// Why a DICOMweb call failed. No variant carries a URL or a value from the server.
#[derive(Debug, thiserror::Error)]
pub enum DicomWebError {
    #[error("invalid DICOMweb base URL (an http or https URL is needed)")]
    InvalidBaseUrl,
    #[error("invalid DICOM UID")]
    InvalidUid,
    #[error("DICOMweb request failed")]
    Http(#[source] reqwest::Error),
    #[error("DICOMweb server answered HTTP {0}")]
    Status(u16),
    #[error("invalid DICOMweb response: {0}")]
    InvalidResponse(&'static str),
    #[error(
        "a retrieved instance is larger than {0} bytes (MEDGRID_DICOMWEB_INSTANCE_MAX_BYTES); nothing of it was stored"
    )]
    InstanceTooLarge(u64),
    #[error(
        "the search answer is larger than {0} bytes (MEDGRID_DICOMWEB_SEARCH_MAX_BYTES): narrow the search"
    )]
    AnswerTooLarge(u64),
    /// Spooling an instance to disk failed (the operator's disk, not the server).
    #[error("an instance could not be spooled to disk")]
    Spool(#[source] std::io::Error),
    #[error("the retrieval ended before its last instance was complete")]
    Truncated,
}

impl From<reqwest::Error> for DicomWebError {
    fn from(error: reqwest::Error) -> Self {
        Self::Http(error.without_url())
    }
}

/// Credentials for the hospital's server.
#[derive(Debug, Clone)]
pub enum DicomWebAuth {
    Bearer(SecretString),
    Basic {
        username: String,
        password: SecretString,
    },
}

/// Where the server is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct DicomWebSettings {
    /// The DICOMweb root, such as `https://pacs.example.org/dicom-web`.
    pub base_url: String,
    pub auth: Option<DicomWebAuth>,
    pub connect_timeout: Duration,
    /// The whole of one search, answer included.
    pub query_timeout: Duration,
    /// The longest silence while a retrieval streams (a whole study may take hours, so a
    /// retrieval has no overall limit).
    pub read_timeout: Duration,
    /// The largest search answer read; the search fails beyond it.
    pub max_search_bytes: u64,
    /// The largest instance accepted; instances are spooled to disk as they arrive.
    pub max_instance_bytes: u64,
    /// Where instances are spooled (unnamed files, gone once dropped); default the
    /// system's temporary directory.
    pub spool_dir: Option<PathBuf>,
    /// The addresses the SSRF guard checked for the base URL's host name: the client
    /// connects to these and asks no resolver (so DNS cannot swap them afterwards).
    pub pinned: Option<(String, Vec<std::net::SocketAddr>)>,
}

impl DicomWebSettings {
    /// Settings with the usual limits: 10 s to connect, 60 s per search, 60 s of silence,
    /// 8 MiB per search answer, 512 MiB per instance (the defaults of
    /// `MEDGRID_DICOMWEB_SEARCH_MAX_BYTES` and `MEDGRID_DICOMWEB_INSTANCE_MAX_BYTES`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            auth: None,
            connect_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            max_search_bytes: 8 << 20,
            max_instance_bytes: 512 << 20,
            spool_dir: None,
            pinned: None,
        }
    }
}

/// A QIDO-RS study search; empty fields are not sent. Values use DICOM matching: dates as
/// `YYYYMMDD` or ranges `YYYYMMDD-YYYYMMDD`, `*` and `?` as wildcards where allowed.
#[derive(Debug, Clone, Default)]
pub struct StudyQuery {
    pub patient_id: Option<String>,
    pub accession_number: Option<String>,
    pub study_instance_uid: Option<String>,
    pub study_date: Option<String>,
    pub modality: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl StudyQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        let fields = [
            ("PatientID", &self.patient_id),
            ("AccessionNumber", &self.accession_number),
            ("StudyInstanceUID", &self.study_instance_uid),
            ("StudyDate", &self.study_date),
            ("ModalitiesInStudy", &self.modality),
        ];
        let numbers = [("limit", self.limit), ("offset", self.offset)];
        fields
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.clone()?)))
            .chain(
                numbers
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value?.to_string()))),
            )
            .collect()
    }
}

/// A study found by QIDO-RS. Patient attributes are left out on purpose: what is shown
/// to choose a study needs none, and what is not kept cannot leak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudySummary {
    pub study_instance_uid: String,
    pub study_date: Option<NaiveDate>,
    pub study_time: Option<NaiveTime>,
    pub modalities: Vec<String>,
    pub description: Option<String>,
    pub number_of_series: Option<u32>,
    pub number_of_instances: Option<u32>,
}

/// A series found by QIDO-RS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSummary {
    pub series_instance_uid: String,
    pub modality: Option<String>,
    pub series_number: Option<i32>,
    pub description: Option<String>,
    pub number_of_instances: Option<u32>,
}

/// A client of one DICOMweb server.
#[derive(Debug, Clone)]
pub struct DicomWebClient {
    http: reqwest::Client,
    base: String,
    auth: Option<DicomWebAuth>,
    query_timeout: Duration,
    max_search_bytes: u64,
    max_instance_bytes: u64,
    spool_dir: Option<PathBuf>,
}

impl DicomWebClient {
    pub fn new(settings: DicomWebSettings) -> Result<Self, DicomWebError> {
        let url =
            reqwest::Url::parse(&settings.base_url).map_err(|_| DicomWebError::InvalidBaseUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(DicomWebError::InvalidBaseUrl);
        }
        // no proxy, no redirect: the connection goes to the addresses the guard pinned
        let mut builder = crate::outbound::client_builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout);
        if let Some((domain, addrs)) = &settings.pinned {
            builder = builder.resolve_to_addrs(domain, addrs);
        }
        let http = builder.build()?;
        Ok(Self {
            http,
            base: settings.base_url.trim_end_matches('/').to_owned(),
            auth: settings.auth,
            query_timeout: settings.query_timeout,
            max_search_bytes: settings.max_search_bytes,
            max_instance_bytes: settings.max_instance_bytes,
            spool_dir: settings.spool_dir,
        })
    }

    /// QIDO-RS `GET {base}/studies`.
    pub async fn search_studies(
        &self,
        query: &StudyQuery,
    ) -> Result<Vec<StudySummary>, DicomWebError> {
        let mut params = query.params();
        for field in ["00081030", "00080061", "00201206", "00201208"] {
            params.push(("includefield", field.to_owned()));
        }
        let url = format!("{}/studies", self.base);
        let datasets = self.search(&url, &params).await?;
        datasets.iter().map(study_summary).collect()
    }

    /// QIDO-RS `GET {base}/studies/{study}/series`.
    pub async fn search_series(
        &self,
        study_instance_uid: &str,
    ) -> Result<Vec<SeriesSummary>, DicomWebError> {
        let study = checked_uid(study_instance_uid)?;
        let url = format!("{}/studies/{study}/series", self.base);
        let params = [
            ("includefield", "0008103E".to_owned()),
            ("includefield", "00201209".to_owned()),
        ];
        let datasets = self.search(&url, &params).await?;
        datasets.iter().map(series_summary).collect()
    }

    /// WADO-RS `GET {base}/studies/{study}`: the study's instances, one at a time.
    pub async fn retrieve_study(
        &self,
        study_instance_uid: &str,
    ) -> Result<InstanceStream, DicomWebError> {
        let study = checked_uid(study_instance_uid)?;
        self.retrieve(format!("{}/studies/{study}", self.base))
            .await
    }

    /// WADO-RS `GET {base}/studies/{study}/series/{series}`: one series' instances.
    pub async fn retrieve_series(
        &self,
        study_instance_uid: &str,
        series_instance_uid: &str,
    ) -> Result<InstanceStream, DicomWebError> {
        let study = checked_uid(study_instance_uid)?;
        let series = checked_uid(series_instance_uid)?;
        self.retrieve(format!("{}/studies/{study}/series/{series}", self.base))
            .await
    }

    fn get(&self, url: &str) -> RequestBuilder {
        let request = self.http.get(url);
        match &self.auth {
            None => request,
            Some(DicomWebAuth::Bearer(token)) => request.bearer_auth(token.expose_secret()),
            Some(DicomWebAuth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        }
    }

    /// A QIDO-RS search: a JSON array of DICOM JSON data sets (204 or an empty body: none).
    async fn search(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<Value>, DicomWebError> {
        let response = self
            .get(url)
            .query(params)
            .header(ACCEPT, DICOM_JSON)
            .timeout(self.query_timeout)
            .send()
            .await?;
        let response = success(response)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(vec![]);
        }
        let body = self.capped_body(response).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(vec![]);
        }
        serde_json::from_slice(&body).map_err(|_| {
            DicomWebError::InvalidResponse("a search answer that is not a DICOM JSON array")
        })
    }

    /// The answer's body, read as it comes and broken off (the connection dropped) once it
    /// is larger than `max_search_bytes`: a server cannot make Medgrid hold more.
    async fn capped_body(&self, mut response: Response) -> Result<Vec<u8>, DicomWebError> {
        let cap = self.max_search_bytes;
        if response.content_length().is_some_and(|length| length > cap) {
            return Err(DicomWebError::AnswerTooLarge(cap));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(DicomWebError::AnswerTooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn retrieve(&self, url: String) -> Result<InstanceStream, DicomWebError> {
        let response = self
            .get(&url)
            .header(ACCEPT, MULTIPART_DICOM)
            .send()
            .await?;
        let response = success(response)?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let boundary = boundary_of(content_type)?;
        Ok(InstanceStream {
            response,
            parser: MultipartParser::new(&boundary, self.max_instance_bytes),
            spool_dir: self.spool_dir.clone(),
        })
    }
}

/// The instances of a WADO-RS retrieval, parsed from the response as it arrives and each
/// spooled to disk: memory holds one chunk of the response, never a whole instance.
pub struct InstanceStream {
    response: Response,
    parser: MultipartParser,
    spool_dir: Option<PathBuf>,
}

/// One retrieved instance (a Part-10 file as the server sent it) in an unnamed temporary
/// file, removed once dropped; read from its start.
#[derive(Debug)]
pub struct SpooledInstance {
    pub file: std::fs::File,
    pub len: u64,
}

impl SpooledInstance {
    /// The whole instance in memory (tests and small files).
    pub fn read_all(mut self) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

impl std::fmt::Debug for InstanceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceStream").finish_non_exhaustive()
    }
}

impl InstanceStream {
    /// The next instance, spooled to disk, or `None` after the last one.
    pub async fn next_instance(&mut self) -> Result<Option<SpooledInstance>, DicomWebError> {
        let mut spool: Option<(tokio::io::BufWriter<tokio::fs::File>, u64)> = None;
        loop {
            while let Some(piece) = self.parser.next_piece()? {
                match piece {
                    Piece::Data(data) => {
                        let (file, len) = match &mut spool {
                            Some(open) => open,
                            None => spool.insert((self.spool_file().await?, 0)),
                        };
                        file.write_all(&data).await.map_err(DicomWebError::Spool)?;
                        *len += data.len() as u64;
                    }
                    Piece::End => {
                        let (mut file, len) = match spool.take() {
                            Some(open) => open,
                            None => (self.spool_file().await?, 0),
                        };
                        file.flush().await.map_err(DicomWebError::Spool)?;
                        let mut file = file.into_inner().into_std().await;
                        std::io::Seek::rewind(&mut file).map_err(DicomWebError::Spool)?;
                        return Ok(Some(SpooledInstance { file, len }));
                    }
                }
            }
            match self.response.chunk().await? {
                Some(chunk) => self.parser.push(&chunk),
                None if self.parser.is_closed() && spool.is_none() => return Ok(None),
                None => return Err(DicomWebError::Truncated),
            }
        }
    }

    async fn spool_file(&self) -> Result<tokio::io::BufWriter<tokio::fs::File>, DicomWebError> {
        let dir = self.spool_dir.clone();
        let file = tokio::task::spawn_blocking(move || match dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                tempfile::tempfile_in(dir)
            }
            None => tempfile::tempfile(),
        })
        .await
        .map_err(|e| DicomWebError::Spool(std::io::Error::other(e)))?
        .map_err(DicomWebError::Spool)?;
        Ok(tokio::io::BufWriter::with_capacity(
            256 * 1024,
            tokio::fs::File::from_std(file),
        ))
    }
}

fn success(response: Response) -> Result<Response, DicomWebError> {
    let status = response.status();
    if status.is_success() {
        Ok(response)
    } else {
        Err(DicomWebError::Status(status.as_u16()))
    }
}

/// A UID goes into a URL path: only digits and dots (PS3.5 9.1), 64 characters at most.
fn checked_uid(uid: &str) -> Result<&str, DicomWebError> {
    let valid = !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
        && !uid.ends_with('.')
        && !uid.contains("..");
    if valid {
        Ok(uid)
    } else {
        Err(DicomWebError::InvalidUid)
    }
}

fn study_summary(dataset: &Value) -> Result<StudySummary, DicomWebError> {
    Ok(StudySummary {
        study_instance_uid: string(dataset, "0020000D").ok_or(DicomWebError::InvalidResponse(
            "a study without StudyInstanceUID",
        ))?,
        study_date: string(dataset, "00080020").and_then(|d| parse_date(&d)),
        study_time: string(dataset, "00080030").and_then(|t| parse_time(&t)),
        modalities: strings(dataset, "00080061"),
        description: string(dataset, "00081030"),
        number_of_series: number(dataset, "00201206"),
        number_of_instances: number(dataset, "00201208"),
    })
}

fn series_summary(dataset: &Value) -> Result<SeriesSummary, DicomWebError> {
    Ok(SeriesSummary {
        series_instance_uid: string(dataset, "0020000E").ok_or(DicomWebError::InvalidResponse(
            "a series without SeriesInstanceUID",
        ))?,
        modality: string(dataset, "00080060"),
        series_number: number(dataset, "00200011"),
        description: string(dataset, "0008103E"),
        number_of_instances: number(dataset, "00201209"),
    })
}

/// The values of one attribute of a DICOM JSON data set (PS3.18 F.2).
fn values<'a>(dataset: &'a Value, tag: &str) -> &'a [Value] {
    dataset
        .get(tag)
        .and_then(|attribute| attribute.get("Value"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Strings, numbers as their text (IS and DS may come either way), other values skipped.
fn strings(dataset: &Value, tag: &str) -> Vec<String> {
    values(dataset, tag)
        .iter()
        .filter_map(|value| match value {
            Value::String(text) => Some(text.trim().to_owned()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .filter(|text| !text.is_empty())
        .collect()
}

fn string(dataset: &Value, tag: &str) -> Option<String> {
    strings(dataset, tag).into_iter().next()
}

fn number<T: std::str::FromStr>(dataset: &Value, tag: &str) -> Option<T> {
    string(dataset, tag)?.parse().ok()
}

/// A DA value, `YYYYMMDD` (or the old `YYYY.MM.DD`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&text.replace('.', ""), "%Y%m%d").ok()
}

/// A TM value, `HH[MM[SS[.F{1,6}]]]` (or the old `HH:MM:SS`).
fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.replace(':', "");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let padded = format!("{whole:0<6}");
    let time = NaiveTime::parse_from_str(&padded, "%H%M%S").ok()?;
    let micros: u32 = format!("{fraction:0<6}").get(..6)?.parse().ok()?;
    time.with_nanosecond(micros * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn study_summaries_from_dicom_json() {
        let dataset = json!({
            "0020000D": {"vr": "UI", "Value": ["1.2.3.4"]},
            "00080020": {"vr": "DA", "Value": ["20240131"]},
            "00080030": {"vr": "TM", "Value": ["101502.25"]},
            "00080061": {"vr": "CS", "Value": ["CT", "SR"]},
            "00081030": {"vr": "LO", "Value": ["Thorax"]},
            "00201206": {"vr": "IS", "Value": [2]},
            "00201208": {"vr": "IS", "Value": ["3"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]}
        });
        let summary = study_summary(&dataset).expect("a summary");
        assert_eq!(summary.study_instance_uid, "1.2.3.4");
        assert_eq!(summary.study_date, NaiveDate::from_ymd_opt(2024, 1, 31));
        assert_eq!(
            summary.study_time,
            NaiveTime::from_hms_micro_opt(10, 15, 2, 250_000)
        );
        assert_eq!(summary.modalities, ["CT", "SR"]);
        assert_eq!(summary.description.as_deref(), Some("Thorax"));
        assert_eq!(summary.number_of_series, Some(2));
        assert_eq!(summary.number_of_instances, Some(3));
    }

    #[test]
    fn a_study_without_uid_is_an_invalid_answer() {
        let dataset = json!({"00080020": {"vr": "DA", "Value": ["20240131"]}});
        assert!(study_summary(&dataset).is_err());
        let empty = json!({"0020000D": {"vr": "UI"}});
        assert!(study_summary(&empty).is_err());
    }

    #[test]
    fn partial_times_and_old_forms() {
        assert_eq!(parse_time("10"), NaiveTime::from_hms_opt(10, 0, 0));
        assert_eq!(parse_time("10:15:02"), NaiveTime::from_hms_opt(10, 15, 2));
        assert_eq!(
            parse_date("2024.01.31"),
            NaiveDate::from_ymd_opt(2024, 1, 31)
        );
        assert_eq!(parse_date("garbage"), None);
    }

    #[test]
    fn only_well_formed_uids_reach_a_path() {
        assert!(checked_uid("1.2.840.113619.2.55").is_ok());
        for bad in [
            "",
            "1..2",
            ".1",
            "1.",
            "1.2/../x",
            "1.2?x=1",
            &"1".repeat(65),
        ] {
            assert!(checked_uid(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_query_fields_are_not_sent() {
        let query = StudyQuery {
            patient_id: Some("P1".into()),
            limit: Some(10),
            ..Default::default()
        };
        assert_eq!(
            query.params(),
            [("PatientID", "P1".to_owned()), ("limit", "10".to_owned())]
        );
    }

    #[test]
    fn base_urls_must_be_http() {
        for bad in ["ftp://x/dicom-web", "not a url", "mailto:a@b"] {
            let settings = DicomWebSettings::new(bad);
            assert!(matches!(
                DicomWebClient::new(settings),
                Err(DicomWebError::InvalidBaseUrl)
            ));
        }
    }
}
