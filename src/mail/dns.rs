//! TXT lookups for domain verification, through the system resolver or the one `dns_resolver`
//! names (so tests, and split-horizon setups, can point it elsewhere).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveError, Resolver, TokioResolver};

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("DNS lookup failed: {0}")]
    Lookup(String),
    #[error("resolver configuration: {0}")]
    Config(String),
}

/// A resolver, or why there is none (no system resolver configuration): domain verification
/// then answers with that reason instead of the server failing to start.
#[derive(Clone)]
pub struct TxtResolver {
    resolver: Result<TokioResolver, String>,
}

impl TxtResolver {
    /// The resolver at `server`, or the system's.
    pub fn new(server: Option<SocketAddr>) -> Self {
        TxtResolver {
            resolver: Self::build(server).map_err(|e| e.to_string()),
        }
    }

    fn build(server: Option<SocketAddr>) -> Result<TokioResolver, DnsError> {
        let mut builder = match server {
            Some(addr) => Resolver::builder_with_config(
                ResolverConfig::from_parts(
                    None,
                    vec![],
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
                ),
                TokioConnectionProvider::default(),
            ),
            None => Resolver::builder_tokio().map_err(|e| DnsError::Config(e.to_string()))?,
        };
        let mut opts = ResolverOpts::default();
        // An admin adds the record and asks again: never answer from a cached miss.
        opts.cache_size = 0;
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 2;
        *builder.options_mut() = opts;
        Ok(builder.build())
    }

    /// The TXT strings at `name`; empty when the name or its TXT records do not exist.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let resolver = self
            .resolver
            .as_ref()
            .map_err(|e| DnsError::Config(e.clone()))?;
        match resolver.txt_lookup(format!("{name}.")).await {
            Ok(found) => Ok(found
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect()),
            Err(e) if absent(&e) => Ok(vec![]),
            Err(e) => Err(DnsError::Lookup(e.to_string())),
        }
    }
}

fn absent(e: &ResolveError) -> bool {
    e.is_nx_domain() || e.is_no_records_found()
}
