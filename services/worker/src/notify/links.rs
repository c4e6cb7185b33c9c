//! Where mails point in the web portal. One place for the portal's paths, so that the
//! portal's routes and the mails' links are changed together.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use uuid::Uuid;

/// The first eight hex digits of an id: how people tell jobs apart in a list.
pub fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

pub fn job(id: Uuid) -> String {
    format!("/jobs/{id}")
}

pub fn ticket(id: Uuid) -> String {
    format!("/tickets/{id}")
}

/// A folder in the file browser, by its path (`/home/…`, `/groups/…`, `/shared/…`).
pub fn folder(path: &str) -> String {
    format!(
        "/files?path={}",
        utf8_percent_encode(path, NON_ALPHANUMERIC)
    )
}

/// A folder someone shared with the reader, as it appears under `/shared`.
pub fn shared_folder(name: &str) -> String {
    folder(&format!("/shared/{name}"))
}

/// The reader's notification settings.
pub fn preferences() -> String {
    "/settings/notifications".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_in_links() {
        assert_eq!(
            shared_folder("MRI & PET/2026"),
            "/files?path=%2Fshared%2FMRI%20%26%20PET%2F2026"
        );
        let id = Uuid::from_u128(0x3f2c_9a1b_0000_0000_0000_0000_0000_0001);
        assert_eq!(short(id), "3f2c9a1b");
    }
}
