//! The attributes of PS3.15 Table E.1-1 (Basic Application Level Confidentiality Profile)
//! and what the basic profile does to each.
//!
//! Where the table allows a choice (`X/Z`, `X/D`, `Z/D`, `X/Z/D`…), the most removing
//! option that still leaves a valid object is taken: `Z` for attributes that are Type 2 in
//! the common image IODs (study date and time, accession number, referring physician…),
//! `D` for the patient's name and identifier (replaced by a pseudonym so that one patient's
//! studies stay grouped within an import), `X` for the rest. Attributes the table does not
//! list are kept, except private attributes (all removed), curves and overlay data and
//! comments, and instance UIDs (all remapped, whether listed or not).

use dicom_core::Tag;
use dicom_dictionary_std::tags;

/// What the basic profile does to one attribute (the letters of Table E.1-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `D`: replace with a dummy value of the same VR (the pseudonym for the patient's
    /// name and identifier).
    Dummy,
    /// `Z`: keep the attribute with an empty value.
    Zero,
    /// `X`: remove the attribute.
    Remove,
    /// `K`: keep it as it is (sequences are still cleaned inside).
    Keep,
    /// `U`: replace each UID by the import's mapped UID.
    Uid,
}

use Action::{Dummy as D, Remove as X, Uid as U, Zero as Z};

/// Table E.1-1, the attributes this implementation acts on by name. Retired attributes
/// are listed too: old files still carry them.
#[allow(deprecated)]
pub const BASIC_PROFILE: &[(Tag, Action)] = &[
    // General study, series and equipment
    (tags::ACCESSION_NUMBER, Z),
    (tags::STUDY_ID, Z),
    (tags::STUDY_DATE, Z),
    (tags::STUDY_TIME, Z),
    (tags::SERIES_DATE, X),
    (tags::SERIES_TIME, X),
    (tags::ACQUISITION_DATE, X),
    (tags::ACQUISITION_TIME, X),
    (tags::ACQUISITION_DATE_TIME, X),
    (tags::CONTENT_DATE, X),
    (tags::CONTENT_TIME, X),
    (tags::INSTANCE_CREATION_DATE, X),
    (tags::INSTANCE_CREATION_TIME, X),
    (tags::INSTANCE_COERCION_DATE_TIME, X),
    (tags::OVERLAY_DATE, X),
    (tags::OVERLAY_TIME, X),
    (tags::CURVE_DATE, X),
    (tags::CURVE_TIME, X),
    (tags::TIMEZONE_OFFSET_FROM_UTC, X),
    (tags::START_ACQUISITION_DATE_TIME, X),
    (tags::END_ACQUISITION_DATE_TIME, X),
    (tags::STUDY_DESCRIPTION, X),
    (tags::SERIES_DESCRIPTION, X),
    (tags::DERIVATION_DESCRIPTION, X),
    (tags::IDENTIFYING_COMMENTS, X),
    (tags::IMAGE_COMMENTS, X),
    (tags::FRAME_COMMENTS, X),
    (tags::TEXT_COMMENTS, X),
    (tags::PROTOCOL_NAME, X),
    (tags::ACQUISITION_COMMENTS, X),
    (tags::ACQUISITION_DEVICE_PROCESSING_DESCRIPTION, X),
    (tags::ACQUISITION_PROTOCOL_DESCRIPTION, X),
    (tags::CONTRIBUTION_DESCRIPTION, X),
    (tags::ACQUISITION_CONTEXT_SEQUENCE, X),
    (tags::REFERENCED_STUDY_SEQUENCE, X),
    (tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, X),
    (tags::REFERENCED_PATIENT_SEQUENCE, X),
    (tags::ORIGINAL_ATTRIBUTES_SEQUENCE, X),
    (tags::CONTENT_SEQUENCE, X),
    // Institution, equipment and staff
    (tags::INSTITUTION_NAME, X),
    (tags::INSTITUTION_ADDRESS, X),
    (tags::INSTITUTION_CODE_SEQUENCE, X),
    (tags::INSTITUTIONAL_DEPARTMENT_NAME, X),
    (tags::INSTITUTIONAL_DEPARTMENT_TYPE_CODE_SEQUENCE, X),
    (tags::STATION_NAME, X),
    (tags::DEVICE_SERIAL_NUMBER, X),
    (tags::DETECTOR_ID, X),
    (tags::PLATE_ID, X),
    (tags::GENERATOR_ID, X),
    (tags::CASSETTE_ID, X),
    (tags::DATE_OF_LAST_CALIBRATION, X),
    (tags::TIME_OF_LAST_CALIBRATION, X),
    (tags::MODIFYING_DEVICE_ID, X),
    (tags::MODIFYING_DEVICE_MANUFACTURER, X),
    (tags::MODIFIED_IMAGE_DESCRIPTION, X),
    (tags::REFERRING_PHYSICIAN_NAME, Z),
    (tags::REFERRING_PHYSICIAN_ADDRESS, X),
    (tags::REFERRING_PHYSICIAN_TELEPHONE_NUMBERS, X),
    (tags::REFERRING_PHYSICIAN_IDENTIFICATION_SEQUENCE, X),
    (tags::PHYSICIANS_OF_RECORD, X),
    (tags::PHYSICIANS_OF_RECORD_IDENTIFICATION_SEQUENCE, X),
    (tags::PERFORMING_PHYSICIAN_NAME, X),
    (tags::PERFORMING_PHYSICIAN_IDENTIFICATION_SEQUENCE, X),
    (tags::NAME_OF_PHYSICIANS_READING_STUDY, X),
    (tags::PHYSICIANS_READING_STUDY_IDENTIFICATION_SEQUENCE, X),
    (tags::OPERATORS_NAME, X),
    (tags::OPERATOR_IDENTIFICATION_SEQUENCE, X),
    (tags::REQUESTING_PHYSICIAN, X),
    (tags::REQUESTING_SERVICE, X),
    (tags::PERSON_NAME, X),
    (tags::PERSON_ADDRESS, X),
    (tags::PERSON_TELEPHONE_NUMBERS, X),
    (tags::HUMAN_PERFORMER_NAME, X),
    (tags::VERIFYING_OBSERVER_NAME, D),
    (tags::VERIFYING_ORGANIZATION, D),
    (tags::AUTHOR_OBSERVER_SEQUENCE, X),
    (tags::CONTENT_CREATOR_NAME, Z),
    (tags::CONTENT_CREATOR_IDENTIFICATION_CODE_SEQUENCE, X),
    // Patient
    (tags::PATIENT_NAME, D),
    (tags::PATIENT_ID, D),
    (tags::ISSUER_OF_PATIENT_ID, X),
    (tags::ISSUER_OF_PATIENT_ID_QUALIFIERS_SEQUENCE, X),
    (tags::PATIENT_BIRTH_DATE, Z),
    (tags::PATIENT_BIRTH_TIME, X),
    (tags::PATIENT_SEX, Z),
    (tags::PATIENT_SEX_NEUTERED, X),
    (tags::PATIENT_AGE, X),
    (tags::PATIENT_SIZE, X),
    (tags::PATIENT_WEIGHT, X),
    (tags::PATIENT_ADDRESS, X),
    (tags::PATIENT_TELEPHONE_NUMBERS, X),
    (tags::PATIENT_TELECOM_INFORMATION, X),
    (tags::PATIENT_BIRTH_NAME, X),
    (tags::PATIENT_MOTHER_BIRTH_NAME, X),
    (Tag(0x0010, 0x1000), X), // Other Patient IDs
    (tags::OTHER_PATIENT_NAMES, X),
    (Tag(0x0010, 0x1002), X), // Other Patient IDs Sequence
    (tags::PATIENT_INSURANCE_PLAN_CODE_SEQUENCE, X),
    (tags::PATIENT_PRIMARY_LANGUAGE_CODE_SEQUENCE, X),
    (tags::PATIENT_PRIMARY_LANGUAGE_MODIFIER_CODE_SEQUENCE, X),
    (tags::INSURANCE_PLAN_IDENTIFICATION, X),
    (tags::MILITARY_RANK, X),
    (tags::BRANCH_OF_SERVICE, X),
    (tags::MEDICAL_RECORD_LOCATOR, X),
    (tags::MEDICAL_ALERTS, X),
    (tags::ALLERGIES, X),
    (tags::COUNTRY_OF_RESIDENCE, X),
    (tags::REGION_OF_RESIDENCE, X),
    (tags::ETHNIC_GROUP, X),
    (tags::OCCUPATION, X),
    (tags::SMOKING_STATUS, X),
    (tags::ADDITIONAL_PATIENT_HISTORY, X),
    (tags::PREGNANCY_STATUS, X),
    (tags::LAST_MENSTRUAL_DATE, X),
    (tags::PATIENT_RELIGIOUS_PREFERENCE, X),
    (tags::RESPONSIBLE_PERSON, X),
    (tags::RESPONSIBLE_ORGANIZATION, X),
    (tags::PATIENT_COMMENTS, X),
    (tags::ADMITTING_DIAGNOSES_DESCRIPTION, X),
    (tags::ADMITTING_DIAGNOSES_CODE_SEQUENCE, X),
    // Visit, request and procedure steps
    (tags::ADMISSION_ID, X),
    (tags::CURRENT_PATIENT_LOCATION, X),
    (tags::PATIENT_INSTITUTION_RESIDENCE, X),
    (tags::PATIENT_STATE, X),
    (tags::VISIT_COMMENTS, X),
    (tags::SERVICE_EPISODE_ID, X),
    (tags::SERVICE_EPISODE_DESCRIPTION, X),
    (tags::REQUESTED_PROCEDURE_DESCRIPTION, X),
    (tags::REQUESTED_CONTRAST_AGENT, X),
    (tags::REQUESTED_PROCEDURE_ID, X),
    (tags::REQUESTED_PROCEDURE_COMMENTS, X),
    (tags::REQUEST_ATTRIBUTES_SEQUENCE, X),
    (tags::STUDY_COMMENTS, X),
    (tags::IMAGING_SERVICE_REQUEST_COMMENTS, X),
    (tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST, Z),
    (tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST, Z),
    (tags::SCHEDULED_STUDY_LOCATION, X),
    (tags::SCHEDULED_STUDY_LOCATION_AE_TITLE, X),
    (tags::SCHEDULED_STATION_AE_TITLE, X),
    (tags::SCHEDULED_STATION_NAME, X),
    (tags::SCHEDULED_PROCEDURE_STEP_LOCATION, X),
    (tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION, X),
    (tags::SCHEDULED_PROCEDURE_STEP_ID, X),
    (tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME, X),
    (tags::PERFORMED_PROCEDURE_STEP_ID, X),
    (tags::PERFORMED_PROCEDURE_STEP_START_DATE, X),
    (tags::PERFORMED_PROCEDURE_STEP_START_TIME, X),
    (tags::PERFORMED_PROCEDURE_STEP_START_DATE_TIME, X),
    (tags::PERFORMED_PROCEDURE_STEP_END_DATE, X),
    (tags::PERFORMED_PROCEDURE_STEP_END_TIME, X),
    (tags::PERFORMED_PROCEDURE_STEP_DESCRIPTION, X),
    (tags::PERFORMED_STATION_AE_TITLE, X),
    (tags::PERFORMED_STATION_NAME, X),
    (tags::PERFORMED_LOCATION, X),
    (tags::COMMENTS_ON_THE_PERFORMED_PROCEDURE_STEP, X),
    (tags::SPECIMEN_IDENTIFIER, D),
    (tags::CONTAINER_IDENTIFIER, D),
    // Signatures: they sign the original values, which are gone.
    (tags::DIGITAL_SIGNATURE_UID, X),
    (tags::DIGITAL_SIGNATURES_SEQUENCE, X),
    (tags::MAC_PARAMETERS_SEQUENCE, X),
    // Instance UIDs (every other UID-valued attribute is remapped too, see `is_class_uid`)
    (tags::STUDY_INSTANCE_UID, U),
    (tags::SERIES_INSTANCE_UID, U),
    (tags::SOP_INSTANCE_UID, U),
    (tags::FRAME_OF_REFERENCE_UID, U),
    (tags::REFERENCED_SOP_INSTANCE_UID, U),
];

/// UID-valued attributes that name a kind of thing (a SOP class, a transfer syntax, a
/// coding scheme…) rather than an instance: kept, as the profile keeps them. Any UID under
/// the DICOM root `1.2.840.10008.` is kept as well (standard classes and well-known
/// frames of reference); every other UID is remapped.
pub fn is_class_uid(tag: Tag) -> bool {
    matches!(
        tag,
        tags::SOP_CLASS_UID
            | tags::REFERENCED_SOP_CLASS_UID
            | tags::MEDIA_STORAGE_SOP_CLASS_UID
            | tags::TRANSFER_SYNTAX_UID
            | tags::IMPLEMENTATION_CLASS_UID
            | tags::REFERENCED_SOP_CLASS_UID_IN_FILE
            | tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE
            | tags::AFFECTED_SOP_CLASS_UID
            | tags::REQUESTED_SOP_CLASS_UID
            | tags::RELATED_GENERAL_SOP_CLASS_UID
            | tags::ORIGINAL_SPECIALIZED_SOP_CLASS_UID
            | tags::CODING_SCHEME_UID
            | tags::CONTEXT_GROUP_EXTENSION_CREATOR_UID
            | tags::MAPPING_RESOURCE_UID
            | tags::PRIVATE_INFORMATION_CREATOR_UID
    )
}

/// Groups the profile removes whole or in part by pattern rather than by tag: curves
/// (retired groups 50xx) and overlay data and comments (60xx,3000) and (60xx,4000), which
/// can carry burned-in text.
pub fn is_curve_or_overlay_text(tag: Tag) -> bool {
    let Tag(group, element) = tag;
    let curve = (0x5000..=0x50FF).contains(&group);
    let overlay = (0x6000..=0x60FF).contains(&group) && matches!(element, 0x3000 | 0x4000);
    curve || overlay
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_table_names_each_attribute_once_and_no_private_one() {
        let mut seen = HashSet::new();
        for (tag, _) in BASIC_PROFILE {
            assert!(seen.insert(*tag), "{tag} is listed twice");
            assert!(tag.group() % 2 == 0, "{tag} is private");
        }
    }

    #[test]
    fn class_uids_are_not_in_the_table() {
        for (tag, _) in BASIC_PROFILE {
            assert!(!is_class_uid(*tag), "{tag}");
        }
    }
}
