//! Media types of files, guessed from their names when nobody says.

/// The media types of the files this portal sees most.
pub fn guess_media_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let types = [
        (".nii.gz", "application/gzip"),
        (".nii", "application/x-nifti"),
        (".dcm", "application/dicom"),
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".csv", "text/csv"),
        (".txt", "text/plain"),
        (".json", "application/json"),
        (".zip", "application/zip"),
        (".gz", "application/gzip"),
        (".tar", "application/x-tar"),
        (".pdf", "application/pdf"),
    ];
    types
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map_or("application/octet-stream", |(_, t)| t)
}
