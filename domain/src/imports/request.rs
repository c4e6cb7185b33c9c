use serde::{Deserialize, Serialize};

/// What an import needs but the events must not hold (credentials, the full URL, the
/// patient's study and series UIDs, the de-identification key): sealed in the
/// `SecretStore` under the import's id while it runs, removed when it ends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealedRequest {
    Url {
        url: String,
    },
    S3 {
        secret_access_key: String,
    },
    DicomWeb {
        study_instance_uid: String,
        series_instance_uid: Option<String>,
        bearer_token: Option<String>,
        password: Option<String>,
        /// 32 random bytes, hex: the import's de-identification key, so a restarted
        /// import maps UIDs as before.
        key: String,
    },
}

impl std::fmt::Debug for SealedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedRequest(..)")
    }
}

impl SealedRequest {
    /// The JSON that is sealed.
    pub fn to_sealed(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_sealed(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}
