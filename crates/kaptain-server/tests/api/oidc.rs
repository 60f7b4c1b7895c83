//! OIDC: JWTs checked for signature, issuer, audience and expiry, their role and scopes
//! applied.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Api;
use crate::support::{TestResult, assert_error};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kaptain_server::auth::OidcConfig;

// ---- OIDC ----

struct Issuer {
    key: jsonwebtoken::EncodingKey,
    /// The public key as the JWKS carries it, and as PEM.
    public_raw: Vec<u8>,
    public_pem: String,
    jwks_url: String,
    _task: tokio::task::JoinHandle<()>,
}

async fn issuer() -> Result<Issuer, crate::support::Error> {
    issuer_with_keys(1).await
}

/// An issuer publishing `n` keys (`k1`, `k2`, ...); it signs with `k1`.
async fn issuer_with_keys(n: usize) -> Result<Issuer, crate::support::Error> {
    let pair = rcgen::KeyPair::generate()?;
    let jwk = |pair: &rcgen::KeyPair, kid: &str| {
        let raw = pair.public_key_raw();
        // Uncompressed P-256 point: 0x04 || x || y.
        let (x, y) = (&raw[1..33], &raw[33..65]);
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        })
    };
    let mut keys = vec![jwk(&pair, "k1")];
    for i in 2..=n {
        keys.push(jwk(&rcgen::KeyPair::generate()?, &format!("k{i}")));
    }
    let jwks = json!({ "keys": keys });
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Issuer {
        key: jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())?,
        public_raw: pair.public_key_raw().to_vec(),
        public_pem: pair.public_key_pem(),
        jwks_url: format!("http://{addr}/jwks"),
        _task: task,
    })
}

/// The OIDC settings of the tests: the test issuer's JWKS is served over plain http.
fn config(jwks_url: &str) -> OidcConfig {
    OidcConfig {
        allow_http_jwks: true,
        ..OidcConfig::new("https://idp.example", "kaptain", jwks_url)
    }
}

impl Issuer {
    fn sign(&self, claims: Value) -> Result<String, crate::support::Error> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

#[tokio::test]
async fn oidc_tokens_are_checked_for_signature_issuer_audience_and_expiry() -> TestResult {
    let iss = issuer().await?;
    let jwks_url = iss.jwks_url.clone();
    let api = Api::with(|o| {
        o.oidc = Some(config(&jwks_url));
    })
    .await?;
    let exp = jiff::Timestamp::now().as_second() + 600;
    let good = iss.sign(json!({
        "iss": "https://idp.example", "aud": "kaptain", "sub": "u1", "email": "alice@example.com",
        "exp": exp, "kaptain_role": "operator", "kaptain_scopes": ["prod/shop"],
    }))?;
    let (status, me, _) = api.get("/api/v1/whoami", Some(&good)).await?;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["actor"], "oidc:alice@example.com");
    assert_eq!(me["role"], "operator");
    assert_eq!(
        me["scopes"],
        json!([{"cluster": "prod", "namespace": "shop"}])
    );
    assert_eq!(me["method"], "oidc");
    // The scope applies: another cluster is refused.
    let (status, _, _) = api
        .get("/api/v1/findings?cluster=staging", Some(&good))
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let bad_claims = [
        (
            "wrong audience",
            json!({"iss": "https://idp.example", "aud": "other", "sub": "u", "exp": exp, "kaptain_role": "admin"}),
        ),
        (
            "wrong issuer",
            json!({"iss": "https://evil.example", "aud": "kaptain", "sub": "u", "exp": exp, "kaptain_role": "admin"}),
        ),
        (
            "expired",
            json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp - 7200, "kaptain_role": "admin"}),
        ),
        (
            "no role",
            json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp}),
        ),
        (
            "unknown role",
            json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp, "kaptain_role": "root"}),
        ),
    ];
    for (why, claims) in bad_claims {
        let t = iss.sign(claims)?;
        let (status, body, _) = api.get("/api/v1/whoami", Some(&t)).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_error(&body, "unauthorized");
    }
    // Signed by someone else (same kid): refused.
    let other = issuer().await?;
    let forged = other.sign(json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp, "kaptain_role": "admin"}))?;
    let (status, _, _) = api.get("/api/v1/whoami", Some(&forged)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Tampered payload: refused.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(
        json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u1", "exp": exp, "kaptain_role": "admin"}).to_string(),
    );
    let (status, _, _) = api.get("/api/v1/whoami", Some(&parts.join("."))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// The classic JWT attacks and omissions: each is refused.
#[tokio::test]
async fn oidc_refuses_none_algorithm_confusion_missing_exp_early_nbf_and_kidless_tokens()
-> TestResult {
    let iss = issuer().await?;
    let jwks_url = iss.jwks_url.clone();
    let api = Api::with(|o| o.oidc = Some(config(&jwks_url))).await?;
    let now = jiff::Timestamp::now().as_second();
    let claims = |extra: Value| {
        let mut c = json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": now + 600, "kaptain_role": "admin"});
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        c
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    // The control: a well-formed token passes, so each refusal below is for its own reason.
    let (status, body, _) = api
        .get("/api/v1/whoami", Some(&iss.sign(claims(json!({})))?))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut refused: Vec<(&str, String)> = Vec::new();
    // alg none, with and without a signature part.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k1"})),
        b64(&claims(json!({})))
    );
    refused.push(("alg none", none.clone()));
    refused.push(("alg none with a signature", format!("{none}c2ln")));
    // HS256 "signed" with the issuer's public key (raw point and PEM) as the HMAC secret.
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("k1".into());
    for secret in [iss.public_raw.clone(), iss.public_pem.clone().into_bytes()] {
        let t = jsonwebtoken::encode(
            &h,
            &claims(json!({})),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )?;
        refused.push(("HS256 with the public key", t));
    }
    refused.push(("no exp", iss.sign(claims(json!({"exp": null})))?));
    refused.push((
        "nbf in the future",
        iss.sign(claims(json!({"nbf": now + 3600})))?,
    ));
    for (why, token) in &refused {
        let (status, body, _) = api.get("/api/v1/whoami", Some(token)).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    }

    // Several keys and a token that names none: refused, with the reason.
    let multi = issuer_with_keys(2).await?;
    let multi_url = multi.jwks_url.clone();
    let api2 = Api::with(|o| o.oidc = Some(config(&multi_url))).await?;
    let h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    let kidless = jsonwebtoken::encode(&h, &claims(json!({})), &multi.key)?;
    let (status, body, _) = api2.get("/api/v1/whoami", Some(&kidless)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.to_string().contains("several"), "{body}");
    // The same token with its kid passes there.
    let (status, body, _) = api2
        .get("/api/v1/whoami", Some(&multi.sign(claims(json!({})))?))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn the_jwks_must_come_over_https_unless_allowed() -> TestResult {
    let iss = issuer().await?;
    let e = kaptain_server::auth::Oidc::new(OidcConfig::new(
        "https://idp.example",
        "kaptain",
        &iss.jwks_url,
    ))
    .await
    .err()
    .ok_or("an http JWKS was accepted by default")?;
    assert!(e.to_string().contains("https"), "{e}");
    assert!(
        kaptain_server::auth::Oidc::new(config(&iss.jwks_url))
            .await
            .is_ok()
    );
    Ok(())
}
