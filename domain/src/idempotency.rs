//! Safe retries of creating requests. A client that lost the answer to "submit this job"
//! cannot know whether the job exists; it retries with the same idempotency key and gets
//! the job the first request made, never a second one.
//!
//! How: the id of what a keyed request creates is derived from the member and the key
//! ([`crate::ids`]' `for_request`), so a retry lands on the aggregate the first request
//! created and the event store's optimistic lock decides between racing retries. The
//! aggregate keeps the [`Idempotency`] it was created with: the same request again creates
//! nothing (no event), another request under the same key is a conflict. Use cases answer
//! a retry with what exists, for [`KEY_LIFETIME`] after the first; later the key is spent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::names::InvalidValue;

/// How long a retry with the same key returns the first result. After that the key is
/// spent: using it again is a conflict (a new request needs a new key).
pub const KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a request reusing another request's key is told (CONFLICT).
pub const KEY_REUSED: &str =
    "idempotencyKey: this key was used for another request (or more than 24 hours ago)";

/// A client's name for one creation: 1 to 200 visible ASCII characters (a UUID, say).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl FromStr for IdempotencyKey {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        let visible = s.bytes().all(|b| b.is_ascii_graphic());
        if s.is_empty() || s.len() > 200 || !visible {
            return Err(InvalidValue {
                field: "idempotencyKey",
                rule: "must be 1 to 200 visible ASCII characters",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What a keyed request asked for, as a digest of its canonical JSON (object keys
/// sorted): equal requests have equal digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestDigest(Uuid);

/// Namespace of request digests (a fixed, random UUID).
const DIGESTS: Uuid = Uuid::from_u128(0x3b1c_77e2_09d4_4a8f_b6e3_5f20_c1aa_9d42);

impl RequestDigest {
    pub fn of(request: &impl Serialize) -> Self {
        // a Value's maps are sorted (serde_json without preserve_order): canonical
        let canonical = serde_json::to_value(request)
            .and_then(|v| serde_json::to_vec(&v))
            .unwrap_or_default();
        Self(Uuid::new_v5(&DIGESTS, &canonical))
    }
}

/// The key a creation was made under, and what it asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub request: RequestDigest,
}

/// What a creating command decides when its aggregate already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The same key and request: create nothing, answer what exists.
    Same,
    /// Not a retry of the request that created it.
    Conflict,
}

/// Whether a creation under `new` of an aggregate created under `existing` is a retry.
pub fn repeat(existing: Option<&Idempotency>, new: Option<&Idempotency>) -> Repeat {
    match (existing, new) {
        (Some(a), Some(b)) if a == b => Repeat::Same,
        _ => Repeat::Conflict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_visible_ascii() {
        assert!(
            "3f2c9a1e-0b7d-4e55-8a11-2d9f6c4b7e01"
                .parse::<IdempotencyKey>()
                .is_ok()
        );
        assert!("".parse::<IdempotencyKey>().is_err());
        assert!("with space".parse::<IdempotencyKey>().is_err());
        assert!("naïve".parse::<IdempotencyKey>().is_err());
        assert!("x".repeat(201).parse::<IdempotencyKey>().is_err());
    }

    #[test]
    fn digests_ignore_key_order_and_see_every_value() {
        let a = RequestDigest::of(&json!({"app": "x", "parameters": {"a": 1, "b": [1, 2]}}));
        let b = RequestDigest::of(&json!({"parameters": {"b": [1, 2], "a": 1}, "app": "x"}));
        let c = RequestDigest::of(&json!({"app": "x", "parameters": {"a": 1, "b": [2, 1]}}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn only_the_same_key_and_request_repeat() {
        let key: IdempotencyKey = "k1".parse().expect("key");
        let first = Idempotency {
            key: key.clone(),
            request: RequestDigest::of(&json!({"n": 1})),
        };
        let other = Idempotency {
            key,
            request: RequestDigest::of(&json!({"n": 2})),
        };
        assert_eq!(repeat(Some(&first), Some(&first)), Repeat::Same);
        assert_eq!(repeat(Some(&first), Some(&other)), Repeat::Conflict);
        assert_eq!(repeat(None, Some(&first)), Repeat::Conflict);
        assert_eq!(repeat(Some(&first), None), Repeat::Conflict);
    }
}
