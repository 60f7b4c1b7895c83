//! The server's hardening: security headers, the body limit, the Host check of `--no-auth`,
//! cross-site requests with the console's cookie, `Secure` cookies behind TLS — in-process —
//! and, over real TCP through `kaptain serve`'s listener: slow-loris headers, TLS, and the
//! throttling of failed authentication with its aggregated audit records.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use kaptain_server::listen::TlsFiles;
use kaptain_store::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::Api;
use crate::support::{Error, TestResult};

/// Sends `req` through the server's Router; status, headers and the body as text.
async fn send(
    api: &Api,
    req: Request<Body>,
) -> Result<(StatusCode, header::HeaderMap, String), Error> {
    let resp = api.server.router.clone().oneshot(req).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn every_response_carries_the_security_headers() -> TestResult {
    let api = Api::start().await?;
    for uri in [
        "/console/login",
        "/api/v1/findings",
        "/healthz",
        "/no/such/route",
    ] {
        let req = Request::get(uri).body(Body::empty())?;
        let (_, h, _) = send(&api, req).await?;
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: CSP {csp:?}");
        assert!(csp.contains("script-src 'self'"), "{uri}: CSP {csp:?}");
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{uri}"
        );
        assert_eq!(
            h.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..]),
            "{uri}"
        );
        // No HSTS over plain HTTP.
        assert!(h.get("strict-transport-security").is_none(), "{uri}");
    }
    Ok(())
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() -> TestResult {
    let api = Api::start().await?;
    let admin = api.token(Role::Admin, vec![]).await?;
    let big = "x".repeat(kaptain_server::harden::BODY_LIMIT + 1);
    let req = Request::post("/api/v1/tokens")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(
            &json!({"name": big, "role": "viewer"}),
        )?))?;
    let (status, _, body) = send(&api, req).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    Ok(())
}

#[tokio::test]
async fn no_auth_serves_only_loopback_host_names() -> TestResult {
    let api = Api::with(|o| o.no_auth = true).await?;
    let req = |host: &str| {
        Request::get("/api/v1/findings")
            .header(header::HOST, host)
            .body(Body::empty())
    };
    let (status, _, body) = send(&api, req("rebind.evil.example:8080")?).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("DNS rebinding"), "{body}");
    // HTTP/2 names the host in the URI's authority, not in a Host header.
    let h2 = Request::get("http://rebind.evil.example:8080/api/v1/findings").body(Body::empty())?;
    let (status, _, body) = send(&api, h2).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"] {
        let (status, _, body) = send(&api, req(host)?).await?;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    // With authentication on, any Host is served (a token is needed anyway).
    let authed = Api::start().await?;
    let viewer = authed.token(Role::Viewer, vec![]).await?;
    let r = Request::get("/api/v1/findings")
        .header(header::HOST, "kaptain.example.com")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())?;
    assert_eq!(send(&authed, r).await?.0, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn cross_site_requests_with_the_console_cookie_are_refused() -> TestResult {
    let api = Api::start().await?;
    let admin = api.token(Role::Admin, vec![]).await?;
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut r = Request::post("/api/v1/tokens")
            .header(header::HOST, "kaptain.example.com")
            .header(header::COOKIE, format!("kaptain_session={admin}"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.body(Body::from(
            json!({"name": format!("t{}", super::rand_suffix()), "role": "viewer"}).to_string(),
        ))
    };
    let (status, _, body) = send(
        &api,
        post(Some("https://evil.example"), Some("cross-site"))?,
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("cross-site"), "{body}");
    let (status, _, body) = send(&api, post(Some("https://evil.example"), None)?).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The console's own request.
    let (status, _, body) = send(
        &api,
        post(Some("https://kaptain.example.com"), Some("same-origin"))?,
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

#[tokio::test]
async fn the_session_cookie_is_secure_behind_tls() -> TestResult {
    for tls in [false, true] {
        let api = Api::with(|o| {
            o.tls = tls.then(|| TlsFiles {
                cert: "unused.pem".into(),
                key: "unused.key".into(),
            })
        })
        .await?;
        let token = api.token(Role::Viewer, vec![]).await?;
        let req = Request::post("/console/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))?;
        let (status, h, _) = send(&api, req).await?;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = h
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), tls, "tls {tls}: {cookie}");
    }
    Ok(())
}

/// One HTTP/1.1 request over `stream`; the status and the body.
async fn http<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<(u16, String), Error> {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() -> TestResult {
    let api = Api::start().await?;
    let addr = api.listen(None, Duration::from_millis(500)).await?;
    let mut slow = TcpStream::connect(addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await?;
    // The server closes the connection (with or without a 408) instead of waiting forever;
    // the deadline here only keeps a broken build from hanging the test.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 60 s");
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
    // A well-behaved client on the same listener is served.
    let mut ok = TcpStream::connect(addr).await?;
    let (status, body) = http(&mut ok, "GET", "/healthz", "none", "").await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let files = TlsFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
    };
    std::fs::write(&files.cert, cert.cert.pem())?;
    std::fs::write(&files.key, cert.signing_key.serialize_pem())?;
    let api = Api::start().await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    let addr = api
        .listen(Some(files.server_config()?), Duration::from_secs(10))
        .await?;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = connector
        .connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp)
        .await?;
    let (status, body) = http(&mut tls, "GET", "/api/v1/findings", &viewer, "").await?;
    assert_eq!(status, 200, "{body}");

    // Plain HTTP on the TLS port gets no answer.
    let mut plain = TcpStream::connect(addr).await?;
    let answer = http(&mut plain, "GET", "/healthz", "none", "").await;
    assert!(
        answer.is_err() || answer.as_ref().is_ok_and(|(s, _)| *s != 200),
        "{answer:?}"
    );

    // Files that are not a certificate and a key: one line naming the file.
    std::fs::write(&files.cert, "not a certificate")?;
    let e = files
        .server_config()
        .expect_err("a file without a certificate");
    assert!(e.contains("tls.crt"), "{e}");
    Ok(())
}

#[tokio::test]
async fn failed_authentication_is_throttled_per_address_and_audited_in_aggregate() -> TestResult {
    let api = Api::start().await?;
    let admin = api.token(Role::Admin, vec![]).await?;
    let addr = api.listen(None, Duration::from_secs(10)).await?;
    let body = json!({"name": "x", "role": "admin"}).to_string();
    let limit = kaptain_server::auth::throttle::LIMIT;
    for i in 0..limit {
        let mut c = TcpStream::connect(addr).await?;
        let (status, _) = http(
            &mut c,
            "POST",
            "/api/v1/tokens",
            &format!("kpt_wrong{i}"),
            &body,
        )
        .await?;
        assert_eq!(status, 401, "attempt {i}");
    }
    // Now even a valid token from this address waits: the credential is not checked.
    let mut c = TcpStream::connect(addr).await?;
    let (status, reply) = http(
        &mut c,
        "POST",
        "/api/v1/tokens",
        &admin,
        &json!({"name": "ok", "role": "viewer"}).to_string(),
    )
    .await?;
    assert_eq!(status, 429, "{reply}");
    let reply: Value = serde_json::from_str(&reply)?;
    assert_eq!(reply["error"]["code"], "too_many_requests");

    // One audit record for the flood, not one per request. (In-process requests have no
    // address and are not throttled, so the admin can read the log.)
    let (status, page, _) = api
        .get("/api/v1/audit?actor=unauthenticated", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let records = page["items"].as_array().ok_or("items")?;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["details"]["peer"], "127.0.0.1");
    Ok(())
}
