//! Access tokens: RFC 9068 JWTs signed with the current key, and their verification.

use super::*;

/// The claims of an access token (RFC 9068 plus the connection and grant it belongs to).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// The connection's tenant URL.
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    /// Not before: Roster issues none, but a token that carries one is held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// The directory connection.
    pub cid: String,
    /// The grant; revoking it ends the token.
    pub gid: String,
}

impl OAuthService {
    pub(super) async fn sign(
        &self,
        client: &ConnectionRow,
        grant: &GrantRow,
        lifetime: Duration,
    ) -> OAuthResult<String> {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            iss: self.policy.issuer.clone(),
            sub: client.client_id.clone(),
            aud: self.policy.audience(&client.id),
            exp: iat + lifetime.as_secs(),
            iat,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: client.client_id.clone(),
            scope: grant.scope.clone(),
            cid: client.id.clone(),
            gid: grant.id.clone(),
        };
        self.sign_claims(&claims).await
    }

    /// Signs `claims` with the current key. Token issuance goes through [`OAuthService::token`];
    /// this is public so tests and tools can make tokens with chosen claims.
    pub async fn sign_claims(&self, claims: &AccessClaims) -> OAuthResult<String> {
        let key = self.keys.signing_key().await?;
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, key.encoding())
            .map_err(|e| OAuthError::Keys(KeyError::Sealed(e.to_string())))
    }

    /// Checks an access token's signature, algorithm, type, issuer, audience and expiry.
    /// `audience` None skips the audience and expiry (revocation accepts expired tokens).
    pub async fn verify(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<AccessClaims, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if header.alg != ALGORITHM {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err("not an access token (typ)".into());
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let key = self
            .keys
            .decoding_key(&kid)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("signed by an unknown or retired key")?;
        let mut validation = Validation::new(ALGORITHM);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => {
                validation.validate_aud = false;
                validation.validate_exp = false;
            }
        }
        // `nbf` (when present) and `iat` must not be ahead of now by more than the leeway
        // that `exp` gets: a token from a clock far ahead, or forged, is not yet valid.
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| format!("rejected: {e}"))?;
        if claims.iat > jsonwebtoken::get_current_timestamp() + LEEWAY_SECS {
            return Err("rejected: issued in the future (iat)".into());
        }
        Ok(claims)
    }
}
