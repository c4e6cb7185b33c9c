//! Passwords (argon2id) and bearer tokens (random, stored as SHA-256).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medgrid_domain::CommandError;
use medgrid_domain::names::Password;
use medgrid_domain::ports::{MintedToken, Secrets};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Tokens start with this, so leaked ones are easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "mgt_";

#[derive(Debug, Default, Clone, Copy)]
pub struct LocalSecrets;

impl Secrets for LocalSecrets {
    fn hash_password(&self, password: &Password) -> Result<String, CommandError> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CommandError::Store(format!("password hashing: {e}")))
    }

    fn verify_password(&self, password: &str, hash: &str) -> bool {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    fn mint_token(&self) -> MintedToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let plaintext = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = self.token_hash(&plaintext);
        MintedToken { plaintext, hash }
    }

    fn token_hash(&self, plaintext: &str) -> String {
        hex::encode(Sha256::digest(plaintext.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let pw: Password = "correct horse battery".parse().expect("valid");
        let hash = LocalSecrets.hash_password(&pw).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(LocalSecrets.verify_password("correct horse battery", &hash));
        assert!(!LocalSecrets.verify_password("wrong horse battery", &hash));
        assert!(!LocalSecrets.verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let a = LocalSecrets.mint_token();
        let b = LocalSecrets.mint_token();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with(TOKEN_PREFIX));
        assert_eq!(a.hash, LocalSecrets.token_hash(&a.plaintext));
        assert!(!a.hash.contains(&a.plaintext));
    }
}
