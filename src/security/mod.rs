//! Secrets: bearer tokens (random, prefixed, stored only as SHA-256) and password hashing.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every SCIM secret token, so leaked tokens are recognisable by secret scanners.
/// Never change it: existing tokens carry it.
pub const SCIM_TOKEN_PREFIX: &str = "roster_scim_";

/// A freshly generated token: the secret (shown once) and what is stored.
#[derive(Clone)]
pub struct NewToken {
    pub secret: String,
    pub hash: String,
    pub hint: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

/// 256 random bits, base64url, behind the prefix.
pub fn generate_token() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "{SCIM_TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hint = secret[secret.len() - 4..].to_owned();
    NewToken {
        hash: hash_token(&secret),
        secret,
        hint,
    }
}

/// The stored form of a high-entropy token: a fast hash is right for 256 random bits.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An argon2id PHC string for a user password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_unique_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert!(a.secret.starts_with(SCIM_TOKEN_PREFIX));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_token(&a.secret));
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
