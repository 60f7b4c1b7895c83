//! OIDC bearer tokens: a JWT is accepted when its signature verifies against a key of the
//! issuer's JWKS (fetched at start, refetched when a token names an unknown `kid`, at most once
//! every 30 s), it has not expired, and its `iss` and `aud` are the configured ones. The role
//! comes from a claim (`kaptain_role` by default: `viewer`, `operator` or `admin`), optional
//! scopes from another (`kaptain_scopes`: `["cluster", "cluster/namespace", ...]`); a token
//! without a role claim gets `--oidc-default-role` or is refused.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use kaptain_store::{Role, Scope};
use serde_json::Value;
use tokio::sync::RwLock;

use super::{AuthMethod, Principal};

/// How to trust an OIDC issuer.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// Where the issuer publishes its signing keys (http or https).
    pub jwks_url: String,
    /// The claim holding the role (default `kaptain_role`).
    pub role_claim: String,
    /// The claim holding the scopes (default `kaptain_scopes`).
    pub scopes_claim: String,
    /// The role of a token without a role claim; `None` refuses such tokens.
    pub default_role: Option<Role>,
    /// Fetch the JWKS over plain http (tests, a local issuer). Off by default: keys fetched
    /// without TLS could be replaced on the way.
    pub allow_http_jwks: bool,
}

impl OidcConfig {
    /// The defaults for everything but issuer, audience and JWKS URL.
    pub fn new(issuer: &str, audience: &str, jwks_url: &str) -> Self {
        OidcConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_url: jwks_url.to_owned(),
            role_claim: "kaptain_role".into(),
            scopes_claim: "kaptain_scopes".into(),
            default_role: None,
            allow_http_jwks: false,
        }
    }
}

/// Why a JWT was refused, or the JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("fetching JWKS from {url}: {message}")]
    Jwks { url: String, message: String },
    #[error("{0}")]
    Token(String),
}

/// A verifier of one issuer's tokens.
pub struct Oidc {
    config: OidcConfig,
    keys: RwLock<(JwkSet, Option<Instant>)>,
}

const REFETCH_AFTER: Duration = Duration::from_secs(30);

impl Oidc {
    /// Fetches the issuer's keys; fails when they cannot be had (a wrong URL should stop the
    /// server at start, not make every login fail later).
    pub async fn new(config: OidcConfig) -> Result<Self, OidcError> {
        if !config.allow_http_jwks && !config.jwks_url.starts_with("https://") {
            return Err(OidcError::Jwks {
                url: config.jwks_url.clone(),
                message: "the JWKS must be fetched over https (--oidc-allow-http-jwks for a \
                          local issuer)"
                    .into(),
            });
        }
        let keys = fetch_jwks(&config.jwks_url).await?;
        Ok(Oidc {
            config,
            keys: RwLock::new((keys, Some(Instant::now()))),
        })
    }

    /// The principal a valid token stands for.
    pub async fn verify(&self, token: &str) -> Result<Principal, OidcError> {
        let header = decode_header(token).map_err(|e| OidcError::Token(e.to_string()))?;
        let Some(jwk) = self.key(header.kid.as_deref()).await? else {
            return Err(OidcError::Token(match header.kid {
                Some(kid) => format!("no key {kid:?} in the issuer's JWKS"),
                None => "the token names no key (kid) and the issuer has several".into(),
            }));
        };
        // The algorithm comes from the issuer's key, never from the token alone: a token
        // saying HS256 must not be checked with the public key as an HMAC secret.
        let allowed = algorithms_for(&jwk)?;
        if !allowed.contains(&header.alg) {
            return Err(OidcError::Token(format!(
                "algorithm {:?} does not match the issuer's key (allowed: {allowed:?})",
                header.alg
            )));
        }
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| OidcError::Token(format!("JWKS key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = allowed;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Value>(token, &key, &validation)
            .map_err(|e| OidcError::Token(e.to_string()))?;
        self.principal(&data.claims)
    }

    fn principal(&self, claims: &Value) -> Result<Principal, OidcError> {
        let subject = claims
            .get("email")
            .or_else(|| claims.get("sub"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let role = match claims.get(&self.config.role_claim) {
            Some(Value::String(r)) => r
                .parse::<Role>()
                .map_err(|e| OidcError::Token(format!("claim {}: {e}", self.config.role_claim)))?,
            Some(_) => {
                return Err(OidcError::Token(format!(
                    "claim {} is not a string",
                    self.config.role_claim
                )));
            }
            None => self.config.default_role.ok_or_else(|| {
                OidcError::Token(format!(
                    "no {} claim and no default role configured",
                    self.config.role_claim
                ))
            })?,
        };
        let scopes = match claims.get(&self.config.scopes_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(parse_scope))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    OidcError::Token(format!(
                        "claim {} must be a list of strings",
                        self.config.scopes_claim
                    ))
                })?,
            Some(_) => {
                return Err(OidcError::Token(format!(
                    "claim {} must be a list of strings",
                    self.config.scopes_claim
                )));
            }
        };
        Ok(Principal {
            actor: format!("oidc:{subject}"),
            role,
            scopes,
            method: AuthMethod::Oidc,
        })
    }

    async fn key(&self, kid: Option<&str>) -> Result<Option<Jwk>, OidcError> {
        if let Some(k) = find(&self.keys.read().await.0, kid) {
            return Ok(Some(k));
        }
        let mut keys = self.keys.write().await;
        // Another request may have refetched meanwhile; never refetch more than every 30 s.
        if keys.1.is_none_or(|at| at.elapsed() >= REFETCH_AFTER) {
            keys.0 = fetch_jwks(&self.config.jwks_url).await?;
            keys.1 = Some(Instant::now());
        }
        Ok(find(&keys.0, kid))
    }
}

fn find(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        // A token without `kid` is accepted only when the issuer has exactly one key.
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .cloned()
}

/// The signature algorithms a key may verify: the key's own `alg` when it names one, else
/// those of its type. Symmetric (`oct`) keys are refused: a published HMAC key is no secret.
fn algorithms_for(jwk: &Jwk) -> Result<Vec<Algorithm>, OidcError> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        AlgorithmParameters::OctetKey(_) => {
            return Err(OidcError::Token(
                "the issuer's key is symmetric (oct); only public keys are accepted".into(),
            ));
        }
        _ => Vec::new(),
    };
    let allowed = match jwk.common.key_algorithm {
        Some(ka) => Algorithm::try_from(ka)
            .ok()
            .filter(|a| by_type.contains(a))
            .into_iter()
            .collect(),
        None => by_type,
    };
    if allowed.is_empty() {
        return Err(OidcError::Token(
            "the issuer's key has no signature algorithm Kaptain accepts".into(),
        ));
    }
    Ok(allowed)
}

/// `cluster` or `cluster/namespace`.
fn parse_scope(s: &str) -> Scope {
    match s.split_once('/') {
        Some((c, ns)) => Scope::namespace(c, ns),
        None => Scope::cluster(s),
    }
}

async fn fetch_jwks(url: &str) -> Result<JwkSet, OidcError> {
    let err = |message: String| OidcError::Jwks {
        url: url.to_owned(),
        message,
    };
    let uri: hyper::Uri = url.parse().map_err(|e| err(format!("{e}")))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| err(format!("TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = async {
        let response = client.get(uri).await.map_err(|e| err(format!("{e}")))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(format!("{e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(err(format!("HTTP {status}")));
        }
        serde_json::from_slice::<JwkSet>(&body).map_err(|e| err(format!("not a JWKS: {e}")))
    };
    tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .map_err(|_| err("timed out after 10 s".into()))?
}
