//! The keys that sign access tokens: Ed25519, kept in the database with the private half sealed,
//! so every replica signs and verifies with the same set. A new key is made every
//! `rotation` period; the old one is retired from signing but still verifies until every token
//! it signed has expired, and is published in the JWKS until then.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore;
use serde_json::{json, Value};

use crate::provisioning::now;
use crate::scim::resource::format_datetime;
use crate::security::SecretBox;
use crate::storage::oauth::{self as store, SigningKeyRow};
use crate::storage::{AnyConnection, Db, StorageError, StorageResult};

/// The one signing algorithm; verification refuses every other.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

/// How often a replica looks for keys another replica made.
const RELOAD_EVERY: Duration = Duration::from_secs(60);
/// The shortest gap between reloads triggered by an unknown `kid`.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(5);

pub struct LoadedKey {
    pub kid: String,
    created: String,
    retired: Option<String>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
}

impl LoadedKey {
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

struct Loaded {
    keys: Vec<std::sync::Arc<LoadedKey>>,
    at: Instant,
}

pub struct KeyRing {
    db: Db,
    secrets: SecretBox,
    rotation: chrono::Duration,
    /// How long a retired key keeps verifying: the longest token lifetime plus leeway.
    verify_window: chrono::Duration,
    loaded: RwLock<Loaded>,
    /// When an unknown `kid` last caused a reload.
    last_miss: std::sync::Mutex<Option<Instant>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("signing key {0} cannot be opened with this server's secret key")]
    Sealed(String),
}

impl KeyRing {
    /// Loads the keys, making the first one (or a due replacement) first.
    pub fn open(
        db: Db,
        secrets: SecretBox,
        rotation: Duration,
        verify_window: Duration,
    ) -> Result<Self, KeyError> {
        let ring = KeyRing {
            db,
            secrets,
            rotation: chrono::Duration::from_std(rotation).unwrap_or(chrono::Duration::days(30)),
            verify_window: chrono::Duration::from_std(verify_window)
                .unwrap_or(chrono::Duration::hours(7)),
            loaded: RwLock::new(Loaded {
                keys: Vec::new(),
                at: Instant::now(),
            }),
            last_miss: std::sync::Mutex::new(None),
        };
        let rows = ring.db.run_sync(ring.rotation(false)?)?;
        ring.install(rows)?;
        Ok(ring)
    }

    /// The storage step that makes a new key when one is due (or `force`). The candidate key
    /// is made and sealed beforehand, outside the transaction.
    fn rotation(
        &self,
        force: bool,
    ) -> Result<
        impl FnOnce(&mut AnyConnection) -> StorageResult<Vec<SigningKeyRow>> + Send + 'static,
        KeyError,
    > {
        let parts = self.clone_parts();
        let candidate = new_key(&self.secrets)?;
        Ok(move |c: &mut AnyConnection| parts.rotate_if_due(c, force, candidate))
    }

    /// Makes a new signing key now and retires the others (they keep verifying).
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let rows = self.db.write(self.rotation(true)?).await?;
        let kid = rows.first().map(|r| r.kid.clone()).unwrap_or_default();
        self.install(rows)?;
        Ok(kid)
    }

    /// The key to sign with now, after a reload when the last one is old.
    pub async fn signing_key(&self) -> Result<std::sync::Arc<LoadedKey>, KeyError> {
        if self.loaded_at().elapsed() > RELOAD_EVERY {
            // A read finds what other replicas made; only a due rotation takes a write.
            let parts = self.clone_parts();
            let mut rows = self.db.read(move |c| parts.live_rows(c)).await?;
            if parts.is_due(&rows) {
                rows = self.db.write(self.rotation(false)?).await?;
            }
            self.install(rows)?;
        }
        let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        loaded
            .keys
            .iter()
            .find(|k| k.retired.is_none())
            .or_else(|| loaded.keys.first())
            .cloned()
            .ok_or_else(|| KeyError::Sealed("(none)".into()))
    }

    /// The verifying key named `kid`, reloading once when it is unknown here (another replica
    /// may have just made it).
    pub async fn decoding_key(&self, kid: &str) -> Result<Option<DecodingKey>, KeyError> {
        if let Some(k) = self.find(kid) {
            return Ok(Some(k));
        }
        {
            let mut last = self
                .last_miss
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_RELOAD) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        let this = self.clone_parts();
        let rows = self.db.read(move |c| this.live_rows(c)).await?;
        self.install(rows)?;
        Ok(self.find(kid))
    }

    /// The public keys as a JWK Set (RFC 7517): every key a live token may be signed with.
    pub fn jwks(&self) -> Value {
        let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        let keys: Vec<Value> = loaded
            .keys
            .iter()
            .map(|k| {
                json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                       "kid": k.kid, "x": k.public_x})
            })
            .collect();
        json!({ "keys": keys })
    }

    fn find(&self, kid: &str) -> Option<DecodingKey> {
        let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        loaded
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.decoding.clone())
    }

    fn loaded_at(&self) -> Instant {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .at
    }

    fn clone_parts(&self) -> RingParts {
        RingParts {
            rotation: self.rotation,
            verify_window: self.verify_window,
        }
    }

    fn install(&self, rows: Vec<SigningKeyRow>) -> Result<(), KeyError> {
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let seed = self
                .secrets
                .open(&row.private_key)
                .map_err(|_| KeyError::Sealed(row.kid.clone()))?;
            let seed: [u8; 32] = seed
                .try_into()
                .map_err(|_| KeyError::Sealed(row.kid.clone()))?;
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            let der = signing
                .to_pkcs8_der()
                .map_err(|_| KeyError::Sealed(row.kid.clone()))?;
            keys.push(std::sync::Arc::new(LoadedKey {
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                decoding: DecodingKey::from_ed_der(signing.verifying_key().as_bytes()),
                public_x: row.public_key,
                kid: row.kid,
                created: row.created,
                retired: row.retired,
            }));
        }
        // Newest first: the first unretired key signs.
        keys.sort_by(|a, b| b.created.cmp(&a.created));
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Loaded {
            keys,
            at: Instant::now(),
        };
        Ok(())
    }
}

/// What the storage closures need: the periods, without the lock or the secret key.
#[derive(Clone, Copy)]
struct RingParts {
    rotation: chrono::Duration,
    verify_window: chrono::Duration,
}

impl RingParts {
    fn live_rows(&self, c: &mut AnyConnection) -> StorageResult<Vec<SigningKeyRow>> {
        let cutoff = format_datetime(chrono::Utc::now() - self.verify_window);
        store::list_signing_keys(c, &cutoff)
    }

    /// Whether a new key is due: none signs, or the newest is older than the rotation period.
    fn is_due(&self, rows: &[SigningKeyRow]) -> bool {
        let due = format_datetime(chrono::Utc::now() - self.rotation);
        rows.iter()
            .find(|r| r.retired.is_none())
            .is_none_or(|r| r.created <= due)
    }

    /// Creates a key when none signs, when the newest is older than the rotation period, or
    /// when forced; retires the others then. Returns the live keys.
    fn rotate_if_due(
        &self,
        c: &mut AnyConnection,
        force: bool,
        row: SigningKeyRow,
    ) -> StorageResult<Vec<SigningKeyRow>> {
        let rows = self.live_rows(c)?;
        if !force && !self.is_due(&rows) {
            return Ok(rows);
        }
        store::insert_signing_key(c, &row)?;
        let delete_before = format_datetime(chrono::Utc::now() - self.verify_window);
        store::retire_signing_keys(c, &row.kid, &row.created, &delete_before)?;
        tracing::info!(kid = %row.kid, "made a new token-signing key");
        self.live_rows(c)
    }
}

fn new_key(secrets: &SecretBox) -> Result<SigningKeyRow, KeyError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let created = now();
    let private_key = secrets
        .seal(&seed)
        .map_err(|e| KeyError::Sealed(e.to_string()))?;
    Ok(SigningKeyRow {
        // The day it was made and random characters: unique, and says nothing secret.
        kid: format!(
            "{}-{}",
            &created[..10],
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ),
        alg: "EdDSA".into(),
        private_key,
        public_key: public,
        created,
        retired: None,
    })
}
