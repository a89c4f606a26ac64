//! Secrets: bearer tokens (random, prefixed, stored only as SHA-256), password hashing, and
//! secrets sealed at rest.

mod secret_box;

pub use secret_box::{SecretBox, SecretError, VERSION as SEALED_PREFIX};

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
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

/// A SCIM secret token.
pub fn generate_token() -> NewToken {
    generate_prefixed_token(SCIM_TOKEN_PREFIX)
}

/// 256 random bits, base64url, behind `prefix`.
pub fn generate_prefixed_token(prefix: &str) -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "{prefix}{}",
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

/// Compares two strings in time that depends on their lengths only.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// An argon2id PHC string for a user password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the argon2 PHC string `hash`. With no hash (an unknown account)
/// a fixed hash is checked instead, so the answer takes as long either way.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("roster-no-such-account").unwrap_or_default());
    // An unknown address, and an account without a password (one that signs in with Microsoft),
    // cost the same hash as a wrong password, so timing tells no address apart.
    let real = hash.and_then(|h| PasswordHash::new(h).ok());
    let checked = real.clone().or_else(|| PasswordHash::new(dummy).ok());
    let matched = checked.is_some_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    matched && real.is_some()
}

/// A random password of 20 base64url characters (120 bits), for accounts created by an operator.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The anti-CSRF token of a form shown to the holder of a cookie secret: derived from the
/// secret, so a page on another site, which cannot read the cookie, cannot forge it.
pub fn csrf_token(cookie_secret: &str) -> String {
    hash_token(&format!("csrf:{cookie_secret}"))[..32].to_owned()
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

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse battery!", Some(&hash)));
        assert!(!verify_password("roster-no-such-account", None));
        assert!(!verify_password("anything", Some("not a phc string")));
    }
}

/// The one rule for every `next` a page redirects to: a path on this origin. Accepted only when
/// it starts with a single `/`, holds nothing but visible ASCII (no control characters, which
/// browsers strip, so `/\t/evil.test` would become `//evil.test`; no spaces), no backslash
/// (which browsers read as `/`), is at most 2,048 bytes, and resolves to this origin.
/// Everything else is `None`, and the caller goes to its default page.
pub fn local_redirect(next: &str) -> Option<&str> {
    let plausible = next.len() <= 2048
        && next.starts_with('/')
        && !next.starts_with("//")
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if !plausible {
        return None;
    }
    let origin = url::Url::parse("https://roster.invalid/").ok()?;
    let resolved = origin.join(next).ok()?;
    (resolved.origin() == origin.origin()).then_some(next)
}

#[cfg(test)]
mod redirect_tests {
    use super::local_redirect;

    #[test]
    fn only_paths_on_this_origin_are_redirect_targets() {
        for ok in [
            "/console",
            "/console/users?q=a%20b",
            "/join-requests/1#x",
            "/",
        ] {
            assert_eq!(local_redirect(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "console",
            "//evil.test",
            "/\t/evil.test",
            "/%09/x\r\n",
            "/\\evil.test",
            "\\\\evil.test",
            "https://evil.test/",
            "/a\nLocation: x",
            "/caf\u{e9}",
            "/ a",
            " /console",
            "/\u{0}",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_redirect(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_target_is_a_header_safe_path_here(next in "\\PC{0,40}|/[\\x00-\\x7f]{0,40}|[/\\\\\t\r\n%]{0,8}[a-z.]{0,10}") {
            if let Some(target) = local_redirect(&next) {
                proptest::prop_assert!(target.starts_with('/') && !target.starts_with("//"));
                // What an HTTP header value may hold (RFC 9110 §5.5), so a Location never fails.
                proptest::prop_assert!(target.bytes().all(|b| b.is_ascii_graphic()));
                let base = url::Url::parse("https://roster.invalid/").unwrap();
                let joined = base.join(target).unwrap();
                proptest::prop_assert_eq!(joined.host_str(), Some("roster.invalid"));
            }
        }
    }
}

/// The client a request comes from: the peer address, unless the peer is a trusted proxy; then
/// the first `X-Forwarded-For` hop, read from the right, that is not a trusted proxy (the hops
/// left of it are the client's to write, so they are never believed). A hop that is not an
/// address ends the walk at the last trusted one.
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let Ok(ip) = hop.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod client_tests {
    use super::client_address;

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted: Vec<ipnet::IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.1/32".parse().unwrap(),
        ];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(
            client_address(ip("203.0.113.9"), &["1.1.1.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &["6.6.6.6, 198.51.100.7", "192.0.2.1"],
                &trusted
            ),
            ip("198.51.100.7"),
            "a spoofed left-most hop is not believed"
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &[], &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &["junk, 10.9.9.9"], &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &["::1"], &[]),
            ip("10.1.2.3")
        );
    }
}
