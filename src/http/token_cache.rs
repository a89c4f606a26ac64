//! A short-lived cache of token lookups, so a busy connection does not hash-and-query on every
//! request. Entries expire quickly, so a revoked token stops working within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::provisioning::tenancy::TokenGrant;
use crate::security::hash_token;

pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (TokenGrant, Instant)>>,
}

const MAX_ENTRIES: usize = 10_000;

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, secret: &str) -> Option<TokenGrant> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = hash_token(secret);
        let entries = self.entries.lock().ok()?;
        entries
            .get(&key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(g, _)| g.clone())
    }

    pub fn put(&self, secret: &str, grant: TokenGrant) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                entries.retain(|_, (_, at)| at.elapsed() < ttl);
            }
            entries.insert(hash_token(secret), (grant, Instant::now()));
        }
    }

    /// Drops cached grants `matches` selects (a revoked token, a disabled connection), so this
    /// process refuses them at once instead of after the TTL.
    pub fn forget(&self, matches: impl Fn(&TokenGrant) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (g, _)| !matches(g));
        }
    }
}
