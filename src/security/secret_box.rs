//! Secrets at rest: AES-256-GCM under the server's secret key (signing keys now, provider
//! credentials later). Every replica of a deployment must share that key.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Version tag of the sealed format: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
pub const VERSION: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("secret key file {0}: {1}")]
    KeyFile(String, String),
    #[error("a sealed secret could not be opened (wrong secret key, or damaged data)")]
    Unsealable,
    #[error("a secret to seal is larger than AES-GCM allows")]
    TooLarge,
}

/// Seals and opens secrets with one 256-bit key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Ok(SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        })
    }

    /// A new random key, base64-encoded.
    pub fn generate_key() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    /// Reads the key from `path`, creating the file (readable by its owner only) when it does
    /// not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let io =
            |e: std::io::Error| SecretError::KeyFile(path.display().to_string(), e.to_string());
        let named = |e: SecretError| match e {
            SecretError::BadKey => SecretError::KeyFile(
                path.display().to_string(),
                "it does not hold a secret key (the base64 of 32 bytes, as Roster writes it)"
                    .into(),
            ),
            other => other,
        };
        match std::fs::read_to_string(path) {
            Ok(key) => Self::from_base64(&key).map_err(named),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate_key();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes())
                            .map_err(io)?;
                        tracing::info!(path = %path.display(), "created the secret key file");
                        Self::from_base64(&key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::from_base64(&std::fs::read_to_string(path).map_err(io)?)
                            .map_err(named)
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<String, SecretError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plaintext)
            .map_err(|_| SecretError::TooLarge)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let data = sealed
            .strip_prefix(VERSION)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|d| d.len() > 12)
            .ok_or(SecretError::Unsealable)?;
        let (nonce, ciphertext) = data.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_their_key() {
        let a = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let b = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = a.seal(b"signing key").unwrap();
        assert!(!sealed.contains("signing"));
        assert_ne!(
            sealed,
            a.seal(b"signing key").unwrap(),
            "each seal has its own nonce"
        );
        assert_eq!(a.open(&sealed).unwrap(), b"signing key");
        assert!(b.open(&sealed).is_err());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(a.open(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn a_missing_key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(again.open(&first.seal(b"x").unwrap()).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
