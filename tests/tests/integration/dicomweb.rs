//! The DICOMweb client and the basic-profile de-identification against a real Orthanc
//! (started by `scripts/orthanc`, which `scripts/services` runs and whose export
//! `scripts/test` evaluates). Each test uploads a study of its own, under a PatientID no
//! other run uses.

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemElement;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use medgrid_infra::dicom::{
    Deidentified, Deidentifier, DicomWebClient, DicomWebError, DicomWebSettings, InstanceStream,
    StudyQuery,
};
use medgrid_tests::hostile::{Answer, Hostile, SLACK};
use medgrid_tests::{TestApp, test_config};
use serde_json::json;

const PRIVATE_TAG: Tag = Tag(0x0029, 0x1010);

/// What identifies the patient or the hospital in the uploaded instances.
pub(crate) const IDENTIFYING: &[&str] = &[
    "Doe^Jane",
    "19650412",
    "042Y",
    "12 Rue de la Paix",
    "ACC-777",
    "Dr^House",
    "General Hospital",
    "MR-SCANNER-1",
    "SN-99-1234",
    "Knee pain",
    "private secret",
];

pub(crate) fn orthanc() -> String {
    std::env::var("MEDGRID_TEST_ORTHANC_URL").unwrap_or_else(|_| {
        panic!("MEDGRID_TEST_ORTHANC_URL is not set: run scripts/orthanc (scripts/services does) and export what it prints")
    })
}

fn client() -> DicomWebClient {
    DicomWebClient::new(DicomWebSettings::new(format!("{}/dicom-web/", orthanc()))).unwrap()
}

/// A UID no other run makes.
fn fresh_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}

fn el(tag: Tag, vr: VR, value: &str) -> InMemElement {
    DataElement::new(tag, vr, value)
}

/// The uploaded study: its patient, UIDs and which instance references which.
pub(crate) struct Study {
    pub(crate) patient_id: String,
    pub(crate) study: String,
    pub(crate) series: [String; 2],
    /// (series index, SOP Instance UID)
    pub(crate) instances: Vec<(usize, String)>,
}

impl Study {
    pub(crate) fn new() -> Self {
        let series = [fresh_uid(), fresh_uid()];
        Self {
            patient_id: format!("MGTEST-{}", uuid::Uuid::new_v4().simple()),
            study: fresh_uid(),
            instances: vec![(0, fresh_uid()), (0, fresh_uid()), (1, fresh_uid())],
            series,
        }
    }

    /// One instance as a Part-10 file: a 2×2 secondary capture full of identifying data,
    /// a private attribute, and (in the second series) a reference to the first image.
    fn file(&self, index: usize) -> Vec<u8> {
        let (series, sop) = &self.instances[index];
        let mut dataset = InMemDicomObject::from_element_iter([
            el(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            ),
            el(tags::SOP_INSTANCE_UID, VR::UI, sop),
            el(tags::STUDY_INSTANCE_UID, VR::UI, &self.study),
            el(tags::SERIES_INSTANCE_UID, VR::UI, &self.series[*series]),
            el(tags::SERIES_NUMBER, VR::IS, &(series + 1).to_string()),
            el(tags::INSTANCE_NUMBER, VR::IS, &(index + 1).to_string()),
            el(tags::MODALITY, VR::CS, "OT"),
            el(tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
            el(tags::PATIENT_ID, VR::LO, &self.patient_id),
            el(tags::PATIENT_BIRTH_DATE, VR::DA, "19650412"),
            el(tags::PATIENT_SEX, VR::CS, "F"),
            el(tags::PATIENT_AGE, VR::AS, "042Y"),
            el(tags::PATIENT_ADDRESS, VR::LO, "12 Rue de la Paix"),
            el(tags::ACCESSION_NUMBER, VR::SH, "ACC-777"),
            el(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Dr^House"),
            el(tags::INSTITUTION_NAME, VR::LO, "General Hospital"),
            el(tags::STATION_NAME, VR::SH, "MR-SCANNER-1"),
            el(tags::DEVICE_SERIAL_NUMBER, VR::LO, "SN-99-1234"),
            el(tags::STUDY_DATE, VR::DA, "20240131"),
            el(tags::STUDY_TIME, VR::TM, "101500"),
            el(tags::STUDY_DESCRIPTION, VR::LO, "Knee pain"),
            el(Tag(0x0029, 0x0010), VR::LO, "ACME PRIVATE"),
            el(PRIVATE_TAG, VR::LO, "private secret"),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1_u16)),
            el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(2_u16)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(2_u16)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8_u16)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(8_u16)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7_u16)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(0_u16),
            ),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                PrimitiveValue::from(vec![0_u8, 64, 128, 255]),
            ),
        ]);
        if *series == 1 {
            let reference = InMemDicomObject::from_element_iter([
                el(
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
                ),
                el(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &self.instances[0].1,
                ),
            ]);
            dataset.put(DataElement::new(
                tags::REFERENCED_IMAGE_SEQUENCE,
                VR::SQ,
                DataSetSequence::new(vec![reference], Length::UNDEFINED),
            ));
        }
        let meta = FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN);
        let mut bytes = vec![];
        dataset
            .with_meta(meta)
            .unwrap()
            .write_all(&mut bytes)
            .unwrap();
        bytes
    }

    /// Uploads every instance through Orthanc's REST API.
    pub(crate) async fn upload(&self) {
        let http = reqwest::Client::new();
        for index in 0..self.instances.len() {
            let response = http
                .post(format!("{}/instances", orthanc()))
                .header("Content-Type", "application/dicom")
                .body(self.file(index))
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "upload: {}",
                response.status()
            );
        }
    }
}

pub(crate) fn parse(file: &[u8]) -> DefaultDicomObject {
    OpenFileOptions::new().from_reader(&file[128..]).unwrap()
}

pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.get(tag)?.to_str().ok()?;
    Some(value.trim_end_matches(['\0', ' ']).to_owned())
}

/// De-identifies every instance of a retrieval, checking each as it comes.
async fn deidentify_all(
    mut stream: InstanceStream,
    deid: &Deidentifier,
    study: &Study,
) -> Vec<Deidentified> {
    let mut out = vec![];
    while let Some(spooled) = stream.next_instance().await.unwrap() {
        let file = spooled.read_all().unwrap();
        let original = parse(&file);
        assert_eq!(
            text(&original, tags::PATIENT_ID).as_deref(),
            Some(study.patient_id.as_str())
        );
        let deidentified = deid.deidentify(&file).unwrap();
        assert_deidentified(&deidentified, deid, study);
        out.push(deidentified);
    }
    out
}

/// The whole study retrieved and de-identified, as an import would.
async fn import_study(
    client: &DicomWebClient,
    study: &Study,
    deid: &Deidentifier,
) -> Vec<Deidentified> {
    let stream = client.retrieve_study(&study.study).await.unwrap();
    deidentify_all(stream, deid, study).await
}

fn assert_deidentified(out: &Deidentified, deid: &Deidentifier, study: &Study) {
    for needle in IDENTIFYING
        .iter()
        .copied()
        .chain([study.patient_id.as_str()])
    {
        assert!(
            !out.bytes
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{needle} survived de-identification"
        );
    }
    let obj = parse(&out.bytes);
    let pseudonym = deid.pseudonym_for(&study.patient_id);
    assert_eq!(text(&obj, tags::PATIENT_ID), Some(pseudonym.clone()));
    assert_eq!(text(&obj, tags::PATIENT_NAME), Some(pseudonym));
    assert_eq!(text(&obj, tags::PATIENT_BIRTH_DATE).as_deref(), Some(""));
    assert!(obj.get(PRIVATE_TAG).is_none() && obj.get(Tag(0x0029, 0x0010)).is_none());
    assert_eq!(
        text(&obj, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
        Some("YES")
    );
    assert!(
        text(&obj, tags::DEIDENTIFICATION_METHOD)
            .unwrap()
            .contains("Basic Application")
    );
    let code = &obj
        .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(text(code, tags::CODE_VALUE).as_deref(), Some("113100"));
    assert_eq!(
        text(&obj, tags::SOP_CLASS_UID).as_deref(),
        Some(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
    );
    assert_eq!(
        text(&obj, tags::STUDY_INSTANCE_UID),
        Some(out.study_instance_uid.clone())
    );
    assert_eq!(
        text(&obj, tags::SOP_INSTANCE_UID),
        Some(out.sop_instance_uid.clone())
    );
    assert_eq!(
        obj.meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0'),
        out.sop_instance_uid
    );
    assert_ne!(out.study_instance_uid, study.study);
    assert!(
        !study
            .instances
            .iter()
            .any(|(_, sop)| *sop == out.sop_instance_uid)
    );
    assert_eq!(
        obj.element(tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
            .as_ref(),
        [0, 64, 128, 255]
    );
}

#[tokio::test]
async fn a_study_is_found_retrieved_and_deidentified() {
    let study = Study::new();
    study.upload().await;
    let client = client();

    let query = StudyQuery {
        patient_id: Some(study.patient_id.clone()),
        ..Default::default()
    };
    let found = client.search_studies(&query).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].study_instance_uid, study.study);
    assert_eq!(
        found[0].study_date.map(|d| d.to_string()).as_deref(),
        Some("2024-01-31")
    );
    assert_eq!(found[0].modalities, ["OT"]);
    assert_eq!(found[0].number_of_instances, Some(3));
    assert_eq!(found[0].description.as_deref(), Some("Knee pain"));

    let mut series = client.search_series(&study.study).await.unwrap();
    series.sort_by_key(|s| s.series_number);
    let uids: Vec<_> = series
        .iter()
        .map(|s| s.series_instance_uid.clone())
        .collect();
    assert_eq!(uids, study.series);
    assert_eq!(series[0].number_of_instances, Some(2));

    let deid = Deidentifier::new(rand_key());
    let whole = import_study(&client, &study, &deid).await;
    assert_eq!(whole.len(), 3);
    assert!(
        whole
            .iter()
            .all(|d| d.study_instance_uid == whole[0].study_instance_uid)
    );
    let new_series: std::collections::HashSet<_> =
        whole.iter().map(|d| &d.series_instance_uid).collect();
    assert_eq!(new_series.len(), 2);

    // The reference from the second series now names the first image's new UID.
    let referencing = whole
        .iter()
        .map(|d| parse(&d.bytes))
        .find(|obj| obj.get(tags::REFERENCED_IMAGE_SEQUENCE).is_some())
        .unwrap();
    let item = &referencing
        .get(tags::REFERENCED_IMAGE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        text(item, tags::REFERENCED_SOP_INSTANCE_UID),
        Some(deid.map_uid(&study.instances[0].1))
    );

    // One series alone, in the same import: the same new UIDs as from the whole study.
    let first = deidentify_all(
        client
            .retrieve_series(&study.study, &study.series[0])
            .await
            .unwrap(),
        &deid,
        &study,
    )
    .await;
    assert_eq!(first.len(), 2);
    for instance in &first {
        assert!(
            whole
                .iter()
                .any(|d| d.sop_instance_uid == instance.sop_instance_uid)
        );
        assert_eq!(instance.series_instance_uid, deid.map_uid(&study.series[0]));
    }

    // Another import of the same study gets other UIDs and another pseudonym.
    let other = Deidentifier::new(rand_key());
    let again = import_study(&client, &study, &other).await;
    assert_ne!(again[0].study_instance_uid, whole[0].study_instance_uid);
    assert_ne!(
        other.pseudonym_for(&study.patient_id),
        deid.pseudonym_for(&study.patient_id)
    );
}

#[tokio::test]
async fn unknown_studies_are_neither_found_nor_retrieved() {
    let client = client();
    let query = StudyQuery {
        patient_id: Some(format!("MGTEST-NOBODY-{}", uuid::Uuid::new_v4().simple())),
        ..Default::default()
    };
    assert!(client.search_studies(&query).await.unwrap().is_empty());
    let missing = client.retrieve_study(&fresh_uid()).await;
    assert!(
        matches!(missing, Err(DicomWebError::Status(404))),
        "{missing:?}"
    );
}

fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

const SEARCH: &str =
    "query($i: DicomWebSearchInput!) { dicomWebStudies(input: $i) { studyInstanceUid } }";

/// A QIDO-RS answer that never ends (`[` and blanks, valid JSON so far) is read up to
/// `MEDGRID_DICOMWEB_SEARCH_MAX_BYTES` and no further: the member gets INVALID_INPUT
/// saying so. (The old client read the whole body into memory before parsing it.)
#[tokio::test]
async fn a_search_answer_is_read_up_to_its_cap_and_no_further() {
    const CAP: u64 = 1 << 20;
    const SERVED: u64 = 256 << 20;
    let mut config = test_config();
    config.dicomweb_search_max_bytes = CAP;
    let app = TestApp::spawn_with(config).await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let server =
        Hostile::spawn(|_| Answer::endless("application/dicom+json", "[", b' ', SERVED)).await;
    let url = format!("{}/dicom-web", server.url());
    let body = app
        .gql(
            Some(&ada),
            SEARCH,
            json!({"i": {"url": url, "patientId": "P1"}}),
        )
        .await;
    assert_eq!(
        medgrid_tests::error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("larger than 1048576 bytes")
            && message.contains("MEDGRID_DICOMWEB_SEARCH_MAX_BYTES"),
        "{message}"
    );
    let written = server.written().await;
    eprintln!("the hostile server wrote {written} bytes (cap {CAP})");
    assert!(
        written <= CAP + SLACK,
        "the server wrote {written} bytes before Medgrid hung up (cap {CAP}, slack {SLACK})"
    );
    assert_eq!(server.connections(), 1);
    // a lying server that announces its size is refused before its body is read
    let announced =
        Hostile::spawn(|_| Answer::new(200, "application/dicom+json", vec![b' '; 4 << 20])).await;
    let url = format!("{}/dicom-web", announced.url());
    let body = app
        .gql(Some(&ada), SEARCH, json!({"i": {"url": url}}))
        .await;
    assert_eq!(
        medgrid_tests::error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
}

/// `dicomWebStudies` runs once per operation: two aliased searches are INVALID_INPUT
/// before any request reaches the server (one request could otherwise fan out to 250).
#[tokio::test]
async fn aliased_searches_are_refused_before_any_request_leaves() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let server = Hostile::spawn(|_| Answer::new(200, "application/dicom+json", "[]")).await;
    let url = format!("{}/dicom-web", server.url());
    let twice = "query($i: DicomWebSearchInput!) {
        a: dicomWebStudies(input: $i) { studyInstanceUid }
        b: dicomWebStudies(input: $i) { studyInstanceUid } }";
    assert_eq!(
        app.code(Some(&ada), twice, json!({"i": {"url": url}}))
            .await,
        "INVALID_INPUT"
    );
    assert_eq!(server.connections(), 0, "no request reached the server");
    // one search is asked, and reaches it
    let found = app.ok(&ada, SEARCH, json!({"i": {"url": url}})).await;
    assert_eq!(found["dicomWebStudies"], json!([]));
    assert_eq!(server.connections(), 1);
}
