//! The HTTP side the server providers share: one client per provider (rustls with the ring
//! provider and the platform's trust store), errors made into one clear line, SSE reading.
//!
//! No error line ever carries a header value (the API key lives only in a header) nor the
//! URL's user info: a server is named by its `host:port`.

use std::sync::Arc;
use std::time::Duration;

use rustls_platform_verifier::BuilderVerifierExt;
use serde_json::Value;

use crate::LlmError;
use crate::sse::{SseEvent, SseParser};

/// The default for `timeout_secs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A client whose calls each end after `timeout` (the whole call, a streamed body included).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, LlmError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map(|b| b.with_no_client_auth())
        .map_err(|e| LlmError::Config(format!("TLS setup: {e}")))?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(15)))
        .user_agent(concat!("kaptain/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LlmError::Config(format!("HTTP client: {}", e.without_url())))
}

/// `host:port` of `url` (the scheme's default port when none is written); never user info,
/// path or query.
pub fn host_port(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port_or_known_default() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            }
        }
        Err(_) => "an invalid URL".to_string(),
    }
}

/// A base URL checked and without its trailing slash.
pub(crate) fn base_url(url: &str) -> Result<String, LlmError> {
    let u = reqwest::Url::parse(url.trim()).map_err(|e| {
        LlmError::Config(format!(
            "base_url {:?} is not a URL ({e}): write it as http(s)://host:port/path",
            redacted(url)
        ))
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(LlmError::Config(format!(
            "base_url {:?} must start with http:// or https://",
            redacted(url)
        )));
    }
    Ok(url.trim().trim_end_matches('/').to_string())
}

/// `base` + `/path`, a query string of `base` kept at the end (Azure's `?api-version=`).
pub(crate) fn join(base: &str, path: &str) -> String {
    match base.split_once('?') {
        Some((b, q)) => format!("{}/{path}?{q}", b.trim_end_matches('/')),
        None => format!("{}/{path}", base.trim_end_matches('/')),
    }
}

/// `url` without user info, for messages (also when it does not parse).
fn redacted(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A transport error as one line naming `provider` and the server's `host:port`.
pub(crate) fn transport_error(
    provider: &str,
    url: &str,
    timeout: Duration,
    e: &reqwest::Error,
) -> LlmError {
    let at = host_port(url);
    if e.is_timeout() {
        return LlmError::Timeout(format!(
            "{provider} at {at} did not answer within {}s (timeout_secs)",
            timeout.as_secs()
        ));
    }
    // The innermost cause says what happened (connection refused, DNS, TLS, ...).
    let mut cause: &dyn std::error::Error = e;
    while let Some(s) = cause.source() {
        cause = s;
    }
    let cause = cause.to_string();
    if e.is_connect() || e.is_request() {
        LlmError::Unreachable(format!("cannot reach {provider} at {at}: {cause}"))
    } else {
        LlmError::Malformed(format!("{provider} at {at}: reading the answer: {cause}"))
    }
}

/// The server's own error message out of an error body: `{"error": {"message": ..}}`,
/// `{"error": ".."}`, `{"message": ..}`, `{"detail": ..}`, or the text itself (shortened).
pub(crate) fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let pick = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                Value::Object(o) => o
                    .get("message")
                    .or_else(|| o.get("msg"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Value::Array(a) => a.first().and_then(|x| {
                    x.get("msg")
                        .or_else(|| x.get("message"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                }),
                _ => None,
            }
        };
        v.get("error")
            .and_then(pick)
            .or_else(|| v.get("message").and_then(pick))
            .or_else(|| v.get("detail").and_then(pick))
    });
    let msg = from_json.unwrap_or_else(|| body.trim().to_string());
    let msg = if msg.is_empty() {
        "(no message)".to_string()
    } else {
        msg
    };
    one_line(&msg, 300)
}

/// `s` on one line, at most `max` characters.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// POSTs `body` as JSON with `headers`; an error status becomes [`LlmError::Api`] with the
/// server's message.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    provider: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
    timeout: Duration,
) -> Result<reqwest::Response, LlmError> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| LlmError::Malformed(format!("encoding the request: {e}")))?;
    let mut rb = client
        .post(url)
        .header("content-type", "application/json")
        .body(bytes);
    for (k, v) in headers {
        rb = rb.header(*k, v.as_str());
    }
    let resp = rb
        .send()
        .await
        .map_err(|e| transport_error(provider, url, timeout, &e))?;
    check_status(provider, url, timeout, resp).await
}

/// GETs `url` with `headers`.
pub(crate) async fn get(
    client: &reqwest::Client,
    provider: &str,
    url: &str,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<reqwest::Response, LlmError> {
    let mut rb = client.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, v.as_str());
    }
    let resp = rb
        .send()
        .await
        .map_err(|e| transport_error(provider, url, timeout, &e))?;
    check_status(provider, url, timeout, resp).await
}

async fn check_status(
    provider: &str,
    url: &str,
    timeout: Duration,
    resp: reqwest::Response,
) -> Result<reqwest::Response, LlmError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp
        .text()
        .await
        .map_err(|e| transport_error(provider, url, timeout, &e))?;
    Err(LlmError::Api {
        provider: provider.to_string(),
        status: status.as_u16(),
        message: error_message(&text),
    })
}

/// The whole body as JSON.
pub(crate) async fn read_json(
    provider: &str,
    url: &str,
    timeout: Duration,
    resp: reqwest::Response,
) -> Result<Value, LlmError> {
    let text = resp
        .text()
        .await
        .map_err(|e| transport_error(provider, url, timeout, &e))?;
    serde_json::from_str(&text).map_err(|e| {
        LlmError::Malformed(format!(
            "{provider} at {} answered something that is not JSON ({e}): {}",
            host_port(url),
            one_line(&text, 200)
        ))
    })
}

/// The events of a streamed body, handed to `on_event` as they arrive; `on_event` returns
/// `false` to stop reading (after `[DONE]`).
pub(crate) async fn read_sse(
    provider: &str,
    url: &str,
    timeout: Duration,
    mut resp: reqwest::Response,
    on_event: &mut (dyn FnMut(SseEvent) -> Result<bool, LlmError> + Send),
) -> Result<(), LlmError> {
    let mut parser = SseParser::default();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| transport_error(provider, url, timeout, &e))?;
        let events = match &chunk {
            Some(c) => parser.push(c),
            None => parser.finish(),
        };
        for ev in events {
            if !on_event(ev)? {
                return Ok(());
            }
        }
        if chunk.is_none() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_named_by_host_and_port_only() {
        assert_eq!(
            host_port("https://user:s3cret@api.example.com/v1?key=abc"),
            "api.example.com:443"
        );
        assert_eq!(host_port("http://127.0.0.1:8080/v1"), "127.0.0.1:8080");
        let e = base_url("https://user:s3cret@:bad/v1").expect_err("invalid");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("\"https://:bad/v1\""), "{e}");
        let e = base_url("ftp://user:pw@h/x").expect_err("scheme");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }

    #[test]
    fn the_servers_own_error_message_is_picked() {
        assert_eq!(
            error_message(r#"{"error":{"message":"Incorrect API key provided","type":"x"}}"#),
            "Incorrect API key provided"
        );
        assert_eq!(
            error_message(r#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(
            error_message(r#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#),
            "field required"
        );
        assert_eq!(error_message("Bad\n gateway "), "Bad gateway");
    }

    #[test]
    fn a_query_in_the_base_url_stays_at_the_end() {
        assert_eq!(
            join(
                "https://x.openai.azure.com/openai/v1?api-version=2024",
                "chat/completions"
            ),
            "https://x.openai.azure.com/openai/v1/chat/completions?api-version=2024"
        );
        assert_eq!(join("http://h/v1/", "models"), "http://h/v1/models");
    }
}
