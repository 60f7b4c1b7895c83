//! What every response and request passes before the application: security headers, a body
//! limit, a request timeout, the Host check of `--no-auth` (DNS rebinding) and the
//! cross-site check of requests that carry no bearer token (CSRF).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

/// The largest request body accepted (JSON requests are small; MCP calls too).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long a request may take until its response starts (a streamed body — SSE, MCP —
/// may go on after that).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take to send a request's headers (slow-loris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The console's and docs' policy: only this origin's scripts, no framing, no plugins.
/// Inline styles stay allowed (htmx injects its indicator style); inline scripts do not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; \
frame-ancestors 'none'";

/// What the hardening layers need to know about how the server runs.
#[derive(Debug, Clone, Copy)]
pub struct Hardening {
    /// `--no-auth`: only loopback Host names are served.
    pub no_auth: bool,
    /// Served over TLS (HSTS is sent, cookies are `Secure`).
    pub tls: bool,
    pub request_timeout: Duration,
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            no_auth: false,
            tls: false,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Middleware: security headers on every response.
pub async fn headers(State(h): State<Hardening>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let hs = response.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        if !hs.contains_key(name) {
            hs.insert(name, HeaderValue::from_static(value));
        }
    };
    set("content-security-policy", CSP);
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    // Not `no-referrer`: with it a browser sends `Origin: null` on the console's own form
    // posts.
    set("referrer-policy", "same-origin");
    set("cross-origin-opener-policy", "same-origin");
    if h.tls {
        set("strict-transport-security", "max-age=31536000");
    }
    response
}

/// Middleware: the request checks (Host under `--no-auth`, cross-site requests) and the
/// request timeout.
pub async fn check(State(h): State<Hardening>, request: Request, next: Next) -> Response {
    let host = host_of(&request);
    if h.no_auth
        && let Some(host) = &host
        && !loopback_host(host)
    {
        return ApiError::forbidden(format!(
            "Host {host:?} is not served with --no-auth: only localhost, 127.0.0.1 and [::1] are \
             (a page on another name could reach this server through DNS rebinding)"
        ))
        .into_response();
    }
    if let Err(why) = same_origin(request.method(), request.headers(), host.as_deref()) {
        return ApiError::forbidden(why).into_response();
    }
    match tokio::time::timeout(h.request_timeout, next.run(request)).await {
        Ok(r) => r,
        Err(_) => ApiError::unavailable(format!(
            "the request took longer than {} s",
            h.request_timeout.as_secs()
        ))
        .into_response(),
    }
}

/// The name the client asked for: the `Host` header (HTTP/1.1), else the URI's authority
/// (HTTP/2's `:authority`).
fn host_of(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
}

/// Whether a Host header names this machine's loopback: `localhost`, `127.x.y.z` or `[::1]`,
/// with or without a port.
pub fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A state-changing request that carries no bearer token (so the console's cookie, or
/// `--no-auth`, would authorize it) must not come from another site: a browser says where a
/// request comes from in `Sec-Fetch-Site` (which a page cannot set; trusted alone when
/// present) or, in older browsers, `Origin`. A request with neither header is not from a
/// browser (curl, scripts) and passes.
fn same_origin(method: &Method, headers: &HeaderMap, host: Option<&str>) -> Result<(), String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || headers.contains_key(header::AUTHORIZATION)
    {
        return Ok(());
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if matches!(site, "same-origin" | "none") {
            Ok(())
        } else {
            Err(format!(
                "cross-site request refused (Sec-Fetch-Site: {site}); use an Authorization header"
            ))
        };
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = host.unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
            return Err(format!(
                "cross-site request refused (Origin {origin} is not this server, {host}); use an \
                 Authorization header"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`same_origin`] with the host the headers name.
    fn so(method: &Method, hs: &HeaderMap) -> Result<(), String> {
        same_origin(method, hs, hs.get("host").and_then(|v| v.to_str().ok()))
    }

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).expect("a header value"));
        }
        m
    }

    #[test]
    fn loopback_names_with_and_without_ports() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:80",
            "127.9.9.9",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:8080",
            "localhost.evil.example",
            "",
            "[::2]:1",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn cross_site_posts_without_a_bearer_token_are_refused() {
        let post = Method::POST;
        let host = ("host", "kaptain.example:8080");
        assert!(so(&post, &h(&[host, ("origin", "https://evil.example")])).is_err());
        assert!(so(&post, &h(&[host, ("origin", "null")])).is_err());
        assert!(so(&post, &h(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(so(&post, &h(&[host, ("sec-fetch-site", "same-site")])).is_err());
        // The console's own requests, a bearer-token client, a non-browser client, a GET.
        assert!(
            so(
                &post,
                &h(&[
                    host,
                    ("origin", "http://kaptain.example:8080"),
                    ("sec-fetch-site", "same-origin")
                ])
            )
            .is_ok()
        );
        assert!(
            so(
                &post,
                &h(&[
                    host,
                    ("origin", "https://evil.example"),
                    ("authorization", "Bearer kpt_x")
                ])
            )
            .is_ok()
        );
        assert!(so(&post, &h(&[host])).is_ok());
        assert!(
            so(
                &Method::GET,
                &h(&[host, ("origin", "https://evil.example")])
            )
            .is_ok()
        );
    }
}
