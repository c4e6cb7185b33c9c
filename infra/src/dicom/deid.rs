//! De-identification of DICOM Part-10 files by the PS3.15 Annex E Basic Application Level
//! Confidentiality Profile. Nothing a hospital sends is stored before it went through here.
//!
//! One [`Deidentifier`] serves one import. Its UIDs and pseudonyms are derived from the
//! import's key by HMAC-SHA-256, not drawn at random: the same original UID gives the same
//! new UID for the whole import (so the files of a study stay one study, references between
//! instances still resolve), an import restarted with its key gives the same results, and
//! another import (another key) gives unrelated ones, so two imports cannot be linked.
//!
//! Not covered here: text burned into the pixels (the profile's "Clean Pixel Data" option)
//! and identifying text in free-form attributes the table does not list.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::LazyLock;

use dicom_core::header::Header;
use dicom_core::value::{C, DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemElement;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use ring::hmac;

use super::profile::{Action, BASIC_PROFILE, is_class_uid, is_curve_or_overlay_text};

/// Recorded in DeidentificationMethod (0012,0063), a LO (64 characters at most).
pub const DEIDENTIFICATION_METHOD: &str =
    "DICOM PS3.15 E.1 Basic Application Confidentiality Profile";

/// The DICOM root: UIDs under it are defined by the standard (classes, transfer syntaxes,
/// well-known frames of reference) and identify nobody.
const DICOM_ROOT: &str = "1.2.840.10008.";

static ACTIONS: LazyLock<HashMap<Tag, Action>> =
    LazyLock::new(|| BASIC_PROFILE.iter().copied().collect());

/// Why a file could not be de-identified. No variant carries a value from the file.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    #[error("not a DICOM Part-10 file (no DICM magic code)")]
    NotDicom,
    /// `detail` is kept out of the error chain on purpose: a parser's message may quote
    /// bytes of the file. Look at it while debugging, don't log it.
    #[error("unreadable DICOM file")]
    Unreadable {
        detail: Box<dicom_object::ReadError>,
    },
    #[error("the DICOM file has no SOP Instance UID")]
    MissingSopInstanceUid,
    #[error("invalid pseudonym: {0}")]
    InvalidPseudonym(&'static str),
    #[error("could not encode the de-identified DICOM file")]
    Write(#[source] Box<dicom_object::WriteError>),
    /// Reading the spooled instance failed (the operator's disk, not the file).
    #[error("the spooled instance could not be read")]
    Io(#[source] std::io::Error),
}

/// A de-identified Part-10 file and the new UIDs an importer names it by.
#[derive(Debug, Clone)]
pub struct Deidentified {
    /// The complete file: preamble, `DICM`, file meta group, data set.
    pub bytes: Vec<u8>,
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
}

/// The new UIDs of a de-identified instance, by which an importer names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUids {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
}

/// De-identifies the files of one import. Cheap to share: `deidentify` takes `&self`.
pub struct Deidentifier {
    key: hmac::Key,
    pseudonym: Option<String>,
}

impl std::fmt::Debug for Deidentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deidentifier").finish_non_exhaustive()
    }
}

impl Deidentifier {
    /// A de-identifier for one import. Keep `import_key` secret and with the import (to
    /// restart it with the same UIDs); whoever has it can test guesses of original UIDs.
    pub fn new(import_key: [u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &import_key),
            pseudonym: None,
        }
    }

    /// Uses `pseudonym` as PatientName and PatientID of every file, instead of the default
    /// pseudonym derived from each file's PatientID. Meant for an import of one patient.
    pub fn with_pseudonym(mut self, pseudonym: &str) -> Result<Self, DeidError> {
        validate_pseudonym(pseudonym)?;
        self.pseudonym = Some(pseudonym.to_owned());
        Ok(self)
    }

    /// The new UID of `uid` in this import: `2.25.` and the decimal form of a version 8
    /// UUID made of the HMAC of the UID (PS3.5 B.2).
    pub fn map_uid(&self, uid: &str) -> String {
        let mac = hmac::sign(&self.key, &[b"uid\0", uid.as_bytes()].concat());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&mac.as_ref()[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8 (custom)
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
        format!("2.25.{}", u128::from_be_bytes(bytes))
    }

    /// The pseudonym of a patient in this import: `ANON-` and 12 hex digits of the HMAC
    /// of the original PatientID, so each patient's files stay grouped and apart.
    pub fn pseudonym_for(&self, patient_id: &str) -> String {
        if let Some(fixed) = &self.pseudonym {
            return fixed.clone();
        }
        let mac = hmac::sign(&self.key, &[b"patient\0", patient_id.as_bytes()].concat());
        format!("ANON-{}", hex::encode_upper(&mac.as_ref()[..6]))
    }

    /// De-identifies one Part-10 file (with or without its 128-byte preamble).
    pub fn deidentify(&self, input: &[u8]) -> Result<Deidentified, DeidError> {
        let mut bytes = Vec::new();
        let uids = self.deidentify_from(input, &mut bytes)?;
        Ok(Deidentified {
            bytes,
            study_instance_uid: uids.study_instance_uid,
            series_instance_uid: uids.series_instance_uid,
            sop_instance_uid: uids.sop_instance_uid,
        })
    }

    /// De-identifies the Part-10 file `input` reads (a spooled instance) into `output`.
    /// Its data set is held in memory while it is rewritten; the bytes as sent never are.
    pub fn deidentify_from(
        &self,
        input: impl Read,
        output: impl Write,
    ) -> Result<NewUids, DeidError> {
        let file = read_part10(input)?;
        let mut meta = file.meta().clone();
        let patient_id = string_of(file.get(tags::PATIENT_ID)).unwrap_or_default();
        let scrub = Scrub {
            deid: self,
            pseudonym: self.pseudonym_for(&patient_id),
        };
        let mut dataset = scrub.dataset(file.into_inner())?;
        mark_deidentified(&mut dataset);

        let sop_instance_uid = string_of(dataset.get(tags::SOP_INSTANCE_UID))
            .ok_or(DeidError::MissingSopInstanceUid)?;
        clean_meta(&mut meta, &sop_instance_uid);

        let study_instance_uid =
            string_of(dataset.get(tags::STUDY_INSTANCE_UID)).unwrap_or_default();
        let series_instance_uid =
            string_of(dataset.get(tags::SERIES_INSTANCE_UID)).unwrap_or_default();
        dataset
            .with_exact_meta(meta)
            .write_all(output)
            .map_err(|e| DeidError::Write(Box::new(e)))?;
        Ok(NewUids {
            study_instance_uid,
            series_instance_uid,
            sop_instance_uid,
        })
    }
}

/// A pseudonym goes into PatientID (LO) and PatientName (PN): 64 printable ASCII
/// characters at most, without the value separator `\` or the PN separators `^` and `=`.
fn validate_pseudonym(pseudonym: &str) -> Result<(), DeidError> {
    if pseudonym.trim().is_empty() {
        return Err(DeidError::InvalidPseudonym("empty"));
    }
    if pseudonym.len() > 64 {
        return Err(DeidError::InvalidPseudonym("longer than 64 characters"));
    }
    let allowed = |c: char| c.is_ascii_graphic() || c == ' ';
    if !pseudonym.chars().all(allowed) || pseudonym.contains(['\\', '^', '=']) {
        return Err(DeidError::InvalidPseudonym(
            "only printable ASCII without \\ ^ =",
        ));
    }
    Ok(())
}

/// Parses a Part-10 file, telling "not DICOM at all" from "DICOM we cannot read".
fn read_part10(mut input: impl Read) -> Result<DefaultDicomObject, DeidError> {
    // the first 132 bytes tell whether a 128-byte preamble comes before `DICM`
    let mut head = Vec::with_capacity(132);
    (&mut input)
        .take(132)
        .read_to_end(&mut head)
        .map_err(DeidError::Io)?;
    let start = if head.get(128..132) == Some(b"DICM") {
        128
    } else if head.get(..4) == Some(b"DICM") {
        0
    } else {
        return Err(DeidError::NotDicom);
    };
    let body = std::io::Cursor::new(head.split_off(start)).chain(input);
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(body)
        .map_err(|e| DeidError::Unreadable {
            detail: Box::new(e),
        })
}

/// The first value of a string-valued element, without DICOM padding.
fn string_of(element: Option<&InMemElement>) -> Option<String> {
    let value = element?.value().to_str().ok()?;
    let value = value.trim_end_matches(['\0', ' ']);
    (!value.is_empty()).then(|| value.to_owned())
}

/// The file meta group describes the new instance and names no sender.
fn clean_meta(meta: &mut dicom_object::FileMetaTable, sop_instance_uid: &str) {
    meta.media_storage_sop_instance_uid = sop_instance_uid.to_owned();
    meta.implementation_class_uid = dicom_object::IMPLEMENTATION_CLASS_UID.to_owned();
    meta.implementation_version_name = Some(dicom_object::IMPLEMENTATION_VERSION_NAME.to_owned());
    meta.source_application_entity_title = None;
    meta.sending_application_entity_title = None;
    meta.receiving_application_entity_title = None;
    meta.private_information_creator_uid = None;
    meta.private_information = None;
    meta.update_information_group_length();
}

/// Records what was done, as PS3.15 E.1.1 asks: PatientIdentityRemoved, the method in
/// words and as code 113100 (DCM), and that dates were removed.
fn mark_deidentified(dataset: &mut InMemDicomObject) {
    dataset.put(DataElement::new(
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        "YES",
    ));
    dataset.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        DEIDENTIFICATION_METHOD,
    ));
    let code = InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, "113100"),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, "DCM"),
        DataElement::new(
            tags::CODE_MEANING,
            VR::LO,
            "Basic Application Confidentiality Profile",
        ),
    ]);
    dataset.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::new(vec![code], Length::UNDEFINED),
    ));
    dataset.put(DataElement::new(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        "REMOVED",
    ));
}

/// One file's pass: the import's de-identifier and this file's pseudonym.
struct Scrub<'a> {
    deid: &'a Deidentifier,
    pseudonym: String,
}

impl Scrub<'_> {
    /// Applies the profile to every element of a data set, sequences included.
    fn dataset(&self, dataset: InMemDicomObject) -> Result<InMemDicomObject, DeidError> {
        let mut kept = Vec::new();
        for element in dataset {
            if let Some(element) = self.element(element)? {
                kept.push(element);
            }
        }
        Ok(InMemDicomObject::from_element_iter(kept))
    }

    /// The element after the profile's action, or `None` when it is removed.
    fn element(&self, element: InMemElement) -> Result<Option<InMemElement>, DeidError> {
        let tag = element.tag();
        if tag.group() % 2 == 1 || is_curve_or_overlay_text(tag) {
            return Ok(None);
        }
        let action = ACTIONS.get(&tag).copied().unwrap_or(Action::Keep);
        Ok(match action {
            Action::Remove => None,
            Action::Zero => Some(DataElement::empty(tag, element.vr())),
            Action::Dummy => Some(self.dummy(tag, element.vr())),
            Action::Keep | Action::Uid => Some(self.keep(element)?),
        })
    }

    /// A kept element: UIDs remapped, sequence items cleaned.
    fn keep(&self, element: InMemElement) -> Result<InMemElement, DeidError> {
        let tag = element.tag();
        let vr = element.vr();
        match element.into_value() {
            Value::Sequence(sequence) => {
                let items = sequence
                    .into_items()
                    .into_iter()
                    .map(|item| self.dataset(item))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(DataElement::new(
                    tag,
                    vr,
                    DataSetSequence::new(items, Length::UNDEFINED),
                ))
            }
            Value::Primitive(value) if vr == VR::UI && !is_class_uid(tag) => {
                Ok(DataElement::new(tag, vr, self.uids(&value)))
            }
            value => Ok(DataElement::new(tag, vr, value)),
        }
    }

    /// Each UID of a UI value mapped, except the standard's own.
    fn uids(&self, value: &PrimitiveValue) -> PrimitiveValue {
        if matches!(value, PrimitiveValue::Empty) {
            return PrimitiveValue::Empty;
        }
        let mapped: C<String> = value
            .to_multi_str()
            .iter()
            .map(|uid| uid.trim_end_matches(['\0', ' ']))
            .map(|uid| {
                if uid.starts_with(DICOM_ROOT) || uid.is_empty() {
                    uid.to_owned()
                } else {
                    self.deid.map_uid(uid)
                }
            })
            .collect();
        PrimitiveValue::Strs(mapped)
    }

    /// The `D` action: the pseudonym for the patient, a fixed dummy of the VR otherwise.
    fn dummy(&self, tag: Tag, vr: VR) -> InMemElement {
        let value = match vr {
            _ if matches!(tag, tags::PATIENT_NAME | tags::PATIENT_ID) => self.pseudonym.as_str(),
            VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS => "ANONYMIZED",
            VR::DA => "19000101",
            VR::TM => "000000",
            VR::DT => "19000101000000",
            _ => return DataElement::empty(tag, vr),
        };
        DataElement::new(tag, vr, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids;
    use dicom_object::FileMetaTableBuilder;

    const STUDY: &str = "1.2.826.0.1.3680043.99.1";
    const SERIES: &str = "1.2.826.0.1.3680043.99.2";
    const SOP: &str = "1.2.826.0.1.3680043.99.3";
    const REFERENCED: &str = "1.2.826.0.1.3680043.99.77";
    const PRIVATE_CREATOR: Tag = Tag(0x0009, 0x0010);
    const PRIVATE_VALUE: Tag = Tag(0x0009, 0x1001);
    const OTHER_PATIENT_IDS: Tag = Tag(0x0010, 0x1000);

    /// Strings that identify the patient, the hospital or its staff: none may survive.
    const IDENTIFYING: &[&str] = &[
        "Doe^John",
        "PID-12345",
        "19700101",
        "054Y",
        "1 Main Street",
        "OLD-999",
        "ACC-42",
        "Dr^Who",
        "St Elsewhere",
        "CT-ROOM-3",
        "SN-0042",
        "STUDY-7",
        "20240131",
        "HOSPITAL_AE",
        "secret",
        "Knee pain",
    ];

    fn element(tag: Tag, vr: VR, value: &str) -> InMemElement {
        DataElement::new(tag, vr, value)
    }

    fn sequence(tag: Tag, item: InMemDicomObject) -> InMemElement {
        DataElement::new(
            tag,
            VR::SQ,
            DataSetSequence::new(vec![item], Length::UNDEFINED),
        )
    }

    /// A CT instance full of identifying data, a private tag and a reference in a sequence.
    fn instance(series: &str, sop: &str, patient_id: &str) -> Vec<u8> {
        let reference = InMemDicomObject::from_element_iter([
            element(
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                uids::CT_IMAGE_STORAGE,
            ),
            element(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, REFERENCED),
        ]);
        let other_id =
            InMemDicomObject::from_element_iter([element(tags::PATIENT_ID, VR::LO, "OLD-999")]);
        let dataset = InMemDicomObject::from_element_iter([
            element(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE),
            element(tags::SOP_INSTANCE_UID, VR::UI, sop),
            element(tags::STUDY_INSTANCE_UID, VR::UI, STUDY),
            element(tags::SERIES_INSTANCE_UID, VR::UI, series),
            element(
                tags::FRAME_OF_REFERENCE_UID,
                VR::UI,
                "1.2.826.0.1.3680043.99.5",
            ),
            element(tags::MODALITY, VR::CS, "CT"),
            element(tags::PATIENT_NAME, VR::PN, "Doe^John"),
            element(tags::PATIENT_ID, VR::LO, patient_id),
            element(tags::PATIENT_BIRTH_DATE, VR::DA, "19700101"),
            element(tags::PATIENT_SEX, VR::CS, "M"),
            element(tags::PATIENT_AGE, VR::AS, "054Y"),
            element(tags::PATIENT_ADDRESS, VR::LO, "1 Main Street"),
            element(OTHER_PATIENT_IDS, VR::LO, "OLD-999"),
            sequence(Tag(0x0010, 0x1002), other_id),
            element(tags::ACCESSION_NUMBER, VR::SH, "ACC-42"),
            element(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Dr^Who"),
            element(tags::PERFORMING_PHYSICIAN_NAME, VR::PN, "Dr^Who"),
            element(tags::INSTITUTION_NAME, VR::LO, "St Elsewhere"),
            element(tags::STATION_NAME, VR::SH, "CT-ROOM-3"),
            element(tags::DEVICE_SERIAL_NUMBER, VR::LO, "SN-0042"),
            element(tags::STUDY_ID, VR::SH, "STUDY-7"),
            element(tags::STUDY_DATE, VR::DA, "20240131"),
            element(tags::STUDY_TIME, VR::TM, "101500"),
            element(tags::SERIES_DATE, VR::DA, "20240131"),
            element(tags::CONTENT_DATE, VR::DA, "20240131"),
            element(tags::STUDY_DESCRIPTION, VR::LO, "Knee pain"),
            element(tags::SLICE_THICKNESS, VR::DS, "1.5"),
            element(PRIVATE_CREATOR, VR::LO, "ACME 1.0"),
            element(PRIVATE_VALUE, VR::LO, "secret"),
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, reference),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16([1, 2, 3, 4][..].into()),
            ),
        ]);
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .source_application_entity_title("HOSPITAL_AE");
        let mut bytes = vec![];
        dataset
            .with_meta(meta)
            .expect("file meta")
            .write_all(&mut bytes)
            .expect("encodes");
        bytes
    }

    /// The first instance of the study, de-identified.
    fn first_instance(deid: &Deidentifier, patient_id: &str) -> Deidentified {
        deid.deidentify(&instance(SERIES, SOP, patient_id))
            .expect("de-identifies")
    }

    fn parse(bytes: &[u8]) -> DefaultDicomObject {
        OpenFileOptions::new()
            .from_reader(&bytes[128..])
            .expect("output parses")
    }

    fn text(obj: &InMemDicomObject, tag: Tag) -> String {
        string_of(obj.get(tag)).unwrap_or_default()
    }

    #[test]
    fn identifying_data_is_removed_or_replaced() {
        let deid = Deidentifier::new([1; 32]);
        let out = first_instance(&deid, "PID-12345");
        for needle in IDENTIFYING {
            assert!(
                memchr::memmem::find(&out.bytes, needle.as_bytes()).is_none(),
                "{needle} survived"
            );
        }
        let obj = parse(&out.bytes);
        let pseudonym = deid.pseudonym_for("PID-12345");
        assert!(
            pseudonym.starts_with("ANON-") && pseudonym.len() == 17,
            "{pseudonym}"
        );
        assert_eq!(text(&obj, tags::PATIENT_NAME), pseudonym);
        assert_eq!(text(&obj, tags::PATIENT_ID), pseudonym);
        for emptied in [
            tags::PATIENT_BIRTH_DATE,
            tags::PATIENT_SEX,
            tags::ACCESSION_NUMBER,
            tags::STUDY_DATE,
            tags::STUDY_ID,
        ] {
            assert!(obj.get(emptied).is_some(), "{emptied} removed");
            assert_eq!(text(&obj, emptied), "", "{emptied}");
        }
        for removed in [
            tags::PATIENT_AGE,
            tags::PATIENT_ADDRESS,
            OTHER_PATIENT_IDS,
            tags::INSTITUTION_NAME,
            tags::STATION_NAME,
            tags::SERIES_DATE,
            tags::CONTENT_DATE,
            tags::DEVICE_SERIAL_NUMBER,
            tags::PERFORMING_PHYSICIAN_NAME,
            tags::STUDY_DESCRIPTION,
            PRIVATE_CREATOR,
            PRIVATE_VALUE,
        ] {
            assert!(obj.get(removed).is_none(), "{removed} kept");
        }
        assert_eq!(text(&obj, tags::MODALITY), "CT");
        assert_eq!(text(&obj, tags::SLICE_THICKNESS), "1.5");
        assert_eq!(
            obj.element(tags::PIXEL_DATA)
                .expect("pixel data")
                .to_bytes()
                .expect("pixel bytes")
                .len(),
            8
        );
    }

    #[test]
    fn the_deidentification_is_recorded() {
        let deid = Deidentifier::new([1; 32]);
        let out = first_instance(&deid, "P");
        let obj = parse(&out.bytes);
        assert_eq!(text(&obj, tags::PATIENT_IDENTITY_REMOVED), "YES");
        assert_eq!(
            text(&obj, tags::DEIDENTIFICATION_METHOD),
            DEIDENTIFICATION_METHOD
        );
        let codes = obj
            .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
            .expect("sequence present")
            .items()
            .expect("sequence items");
        assert_eq!(text(&codes[0], tags::CODE_VALUE), "113100");
        assert_eq!(text(&codes[0], tags::CODING_SCHEME_DESIGNATOR), "DCM");
        assert_eq!(
            text(&codes[0], tags::CODE_MEANING),
            "Basic Application Confidentiality Profile"
        );
    }

    #[test]
    fn uids_are_remapped_consistently_within_an_import_only() {
        let deid = Deidentifier::new([1; 32]);
        let a = first_instance(&deid, "P");
        let b = deid
            .deidentify(&instance(
                "1.2.826.0.1.3680043.99.4",
                "1.2.826.0.1.3680043.99.6",
                "P",
            ))
            .expect("de-identifies");
        assert_eq!(a.study_instance_uid, b.study_instance_uid);
        assert_ne!(a.study_instance_uid, STUDY);
        assert_ne!(a.series_instance_uid, b.series_instance_uid);
        assert_ne!(a.sop_instance_uid, b.sop_instance_uid);
        for uid in [
            &a.study_instance_uid,
            &a.series_instance_uid,
            &a.sop_instance_uid,
        ] {
            assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
            assert!(uid[5..].bytes().all(|c| c.is_ascii_digit()), "{uid}");
        }

        let obj = parse(&a.bytes);
        assert_eq!(text(&obj, tags::STUDY_INSTANCE_UID), a.study_instance_uid);
        assert_eq!(text(&obj, tags::SOP_INSTANCE_UID), a.sop_instance_uid);
        assert_eq!(
            text(&obj, tags::FRAME_OF_REFERENCE_UID),
            deid.map_uid("1.2.826.0.1.3680043.99.5")
        );
        assert_eq!(text(&obj, tags::SOP_CLASS_UID), uids::CT_IMAGE_STORAGE);
        let reference = &obj
            .get(tags::REFERENCED_IMAGE_SEQUENCE)
            .expect("sequence present")
            .items()
            .expect("sequence items")[0];
        assert_eq!(
            text(reference, tags::REFERENCED_SOP_INSTANCE_UID),
            deid.map_uid(REFERENCED)
        );
        assert_eq!(
            text(reference, tags::REFERENCED_SOP_CLASS_UID),
            uids::CT_IMAGE_STORAGE
        );

        assert_eq!(
            obj.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            a.sop_instance_uid
        );
        assert_eq!(
            obj.meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0'),
            uids::CT_IMAGE_STORAGE
        );
        assert_eq!(obj.meta().source_application_entity_title(), None);

        let other = Deidentifier::new([2; 32]);
        let c = first_instance(&other, "P");
        assert_ne!(c.study_instance_uid, a.study_instance_uid);
        assert_ne!(other.pseudonym_for("P"), deid.pseudonym_for("P"));
        let again = Deidentifier::new([1; 32]);
        assert_eq!(
            again.map_uid(STUDY),
            a.study_instance_uid,
            "a restarted import must map alike"
        );
    }

    #[test]
    fn a_given_pseudonym_replaces_every_patient() {
        let deid = Deidentifier::new([1; 32])
            .with_pseudonym("ANON-0001")
            .expect("valid pseudonym");
        let out = first_instance(&deid, "P");
        let obj = parse(&out.bytes);
        assert_eq!(text(&obj, tags::PATIENT_ID), "ANON-0001");
        assert_eq!(text(&obj, tags::PATIENT_NAME), "ANON-0001");
        for bad in ["", "a\\b", "Doe^John", &"x".repeat(65), "é"] {
            assert!(
                Deidentifier::new([1; 32]).with_pseudonym(bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn files_without_preamble_parse_and_others_are_refused() {
        let deid = Deidentifier::new([1; 32]);
        let file = instance(SERIES, SOP, "P");
        assert!(deid.deidentify(&file[128..]).is_ok());
        assert!(matches!(
            deid.deidentify(b"%PDF-1.7 nothing"),
            Err(DeidError::NotDicom)
        ));
        let mut broken = file[..140].to_vec();
        broken.extend_from_slice(&[0xff; 64]);
        assert!(matches!(
            deid.deidentify(&broken),
            Err(DeidError::Unreadable { .. })
        ));
    }
}
