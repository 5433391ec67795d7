//! Service account tokens: JWTs the API server issues for a pod's service account (the kubelet's
//! TokenRequest for the `kube-api-access` volume) and accepts as bearer tokens, as the
//! kube-apiserver does with `--service-account-issuer` and its signing key.
//!
//! Upstream signs with RS256 and publishes the key for other verifiers; wpod is the only
//! verifier, so an HMAC (HS256) key kept in the data directory (`sa.key`) does.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use serde_json::{Value, json};

use crate::plan::service_account::{Issued, TokenIssuer, TokenRequest};

/// The issuer and default audience, as on clusters whose `--service-account-issuer` is the
/// in-cluster API address.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The admission plugin's lifetime: tokens asked for with it get a year instead
/// (`--service-account-extend-token-expiration`), with `warnafter` at the hour.
const ADMISSION_SECONDS: u64 = 3607;
const EXTENDED: Duration = Duration::from_secs(365 * 24 * 3600);
/// Longer tokens are not worth checking further.
const MAX_TOKEN: usize = 16 * 1024;

pub struct Signer {
    key: hmac::Key,
}

/// Who a valid token speaks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Subject {
    pub namespace: String,
    pub service_account: String,
}

impl Signer {
    /// Loads the signing key from `dir`, making it first if it is not there.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("sa.key");
        if !path.exists() {
            super::tls::write_private(&path, super::tls::new_token()?.as_bytes())?;
        }
        let secret = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Self::with_secret(secret.trim().as_bytes()))
    }

    fn with_secret(secret: &[u8]) -> Self {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header = B64.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
        let payload = B64.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let signature = B64.encode(hmac::sign(&self.key, signed.as_bytes()).as_ref());
        format!("{signed}.{signature}")
    }

    fn claims(&self, request: &TokenRequest<'_>, now: SystemTime) -> Value {
        let at = seconds(now);
        let asked = request.expiration.as_secs();
        let audience = request.audience.unwrap_or(ISSUER);
        let extended = asked == ADMISSION_SECONDS && audience == ISSUER;
        let lifetime = if extended { EXTENDED.as_secs() } else { asked };
        let mut identity = json!({
            "namespace": request.namespace,
            "node": {"name": crate::node::NODE_NAME},
            "pod": {"name": request.pod, "uid": request.pod_uid},
            "serviceaccount": {"name": request.service_account},
        });
        if extended {
            identity["warnafter"] = json!(at + asked);
        }
        json!({
            "aud": [audience],
            "exp": at + lifetime,
            "iat": at,
            "iss": ISSUER,
            "jti": super::tls::new_token().unwrap_or_default(),
            "kubernetes.io": identity,
            "nbf": at,
            "sub": format!("system:serviceaccount:{}:{}", request.namespace, request.service_account),
        })
    }

    /// The subject of a token this signer issued for the API server's audience, unexpired at
    /// `now`; None for anything else.
    pub fn verify(&self, token: &str, now: SystemTime) -> Option<Subject> {
        if token.len() > MAX_TOKEN {
            return None;
        }
        let (signed, signature) = token.rsplit_once('.')?;
        let signature = B64.decode(signature).ok()?;
        hmac::verify(&self.key, signed.as_bytes(), &signature).ok()?;
        let (_, payload) = signed.split_once('.')?;
        let claims: Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        let at = seconds(now);
        let exp = claims.get("exp")?.as_u64()?;
        let nbf = claims.get("nbf").and_then(Value::as_u64).unwrap_or(0);
        let for_us = claims
            .get("aud")?
            .as_array()?
            .iter()
            .any(|a| a.as_str() == Some(ISSUER));
        if at >= exp || at < nbf || !for_us {
            return None;
        }
        let who = claims.get("kubernetes.io")?;
        Some(Subject {
            namespace: who.get("namespace")?.as_str()?.to_string(),
            service_account: who.pointer("/serviceaccount/name")?.as_str()?.to_string(),
        })
    }
}

impl TokenIssuer for Signer {
    fn issue(&self, request: &TokenRequest<'_>) -> Result<Issued, String> {
        let claims = self.claims(request, SystemTime::now());
        let lifetime = match (claims["exp"].as_u64(), claims["iat"].as_u64()) {
            (Some(exp), Some(iat)) => Duration::from_secs(exp.saturating_sub(iat)),
            _ => request.expiration,
        };
        Ok(Issued {
            token: self.sign(&claims),
            lifetime,
        })
    }
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(expiration: u64, audience: Option<&str>) -> TokenRequest<'_> {
        TokenRequest {
            namespace: "default",
            pod: "web",
            pod_uid: "1234",
            service_account: "default",
            audience,
            expiration: Duration::from_secs(expiration),
        }
    }

    fn issued(signer: &Signer, r: &TokenRequest<'_>, now: SystemTime) -> String {
        signer.sign(&signer.claims(r, now))
    }

    #[test]
    fn a_token_is_accepted_until_it_expires() {
        let signer = Signer::with_secret(b"k");
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = issued(&signer, &request(600, None), now);
        let subject = signer.verify(&token, now).expect("valid");
        assert_eq!(subject.namespace, "default");
        assert_eq!(subject.service_account, "default");
        assert!(
            signer
                .verify(&token, now + Duration::from_secs(599))
                .is_some()
        );
        assert!(
            signer
                .verify(&token, now + Duration::from_secs(600))
                .is_none()
        );
    }

    #[test]
    fn the_admission_lifetime_is_extended_to_a_year() {
        let signer = Signer::with_secret(b"k");
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let claims = signer.claims(&request(3607, None), now);
        assert_eq!(claims["exp"], json!(1_000_000 + 365 * 24 * 3600));
        assert_eq!(claims["kubernetes.io"]["warnafter"], json!(1_003_607));
        assert_eq!(
            claims["sub"],
            json!("system:serviceaccount:default:default")
        );
    }

    #[test]
    fn forged_foreign_and_garbled_tokens_are_refused() {
        let signer = Signer::with_secret(b"k");
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let other = issued(&Signer::with_secret(b"other"), &request(600, None), now);
        assert!(signer.verify(&other, now).is_none());
        let vault = issued(&signer, &request(600, Some("vault")), now);
        assert!(signer.verify(&vault, now).is_none());
        for garbled in ["", ".", "a.b.c", "....", &"x".repeat(MAX_TOKEN + 1)] {
            assert!(signer.verify(garbled, now).is_none(), "{garbled}");
        }
        let token = issued(&signer, &request(600, None), now);
        let (head, _) = token.rsplit_once('.').expect("dots");
        assert!(signer.verify(&format!("{head}.AAAA"), now).is_none());
    }
}
