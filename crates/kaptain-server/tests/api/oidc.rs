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
    jwks_url: String,
    _task: tokio::task::JoinHandle<()>,
}

async fn issuer() -> Result<Issuer, crate::support::Error> {
    let pair = rcgen::KeyPair::generate()?;
    let raw = pair.public_key_raw();
    // Uncompressed P-256 point: 0x04 || x || y.
    let (x, y) = (&raw[1..33], &raw[33..65]);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }]});
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
        jwks_url: format!("http://{addr}/jwks"),
        _task: task,
    })
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
        o.oidc = Some(OidcConfig::new("https://idp.example", "kaptain", &jwks_url));
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
