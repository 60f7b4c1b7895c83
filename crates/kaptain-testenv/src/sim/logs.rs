//! The kubelet's HTTPS endpoint for container logs (`GET /containerLogs/{ns}/{pod}/{container}`),
//! which the API server calls for `pods/log` (it does not verify the kubelet's certificate
//! unless `--kubelet-certificate-authority` is set).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::engine::Msg;
use super::util::rfc3339_nano;
use crate::{Error, Result};

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1 / localhost.
pub(crate) fn tls_acceptor() -> Result<TlsAcceptor> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(|e| {
                Error::Kubelet(format!("generating the kubelet serving certificate: {e}"))
            })?;
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert], key))
        .map_err(|e| Error::Kubelet(format!("kubelet TLS configuration: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves until the runtime shuts down.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    engine: mpsc::UnboundedSender<Msg>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "simulated kubelet: accept");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let engine = engine.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(move |req| handle(req, engine.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Default, PartialEq)]
struct LogOptions {
    previous: bool,
    timestamps: bool,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
    since_seconds: Option<i64>,
    since_time: Option<Timestamp>,
}

fn options(query: &str) -> LogOptions {
    let mut o = LogOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        let v = percent_decode(v);
        let yes = v == "true" || v == "1";
        match k {
            "previous" => o.previous = yes,
            "timestamps" => o.timestamps = yes,
            "tailLines" | "tail" => {
                o.tail_lines = v.parse::<i64>().ok().and_then(|n| usize::try_from(n).ok())
            }
            "limitBytes" => o.limit_bytes = v.parse().ok(),
            "sinceSeconds" => o.since_seconds = v.parse().ok(),
            "sinceTime" => o.since_time = v.parse().ok(),
            _ => {}
        }
    }
    o
}

fn render(lines: Vec<(Timestamp, String)>, o: &LogOptions) -> String {
    let since = o.since_time.or_else(|| {
        o.since_seconds.and_then(|s| {
            Timestamp::now()
                .checked_sub(SignedDuration::from_secs(s))
                .ok()
        })
    });
    let mut lines: Vec<(Timestamp, String)> = lines
        .into_iter()
        .filter(|(t, _)| since.is_none_or(|s| *t >= s))
        .collect();
    if let Some(n) = o.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = String::new();
    for (t, line) in lines {
        if o.timestamps {
            out.push_str(&rfc3339_nano(t));
            out.push(' ');
        }
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(limit) = o.limit_bytes
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

async fn handle(
    req: Request<Incoming>,
    engine: mpsc::UnboundedSender<Msg>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        return Ok(text(StatusCode::OK, "ok".into()));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["containerLogs", ns, pod, container] = parts.as_slice() else {
        return Ok(text(StatusCode::NOT_FOUND, "404 page not found\n".into()));
    };
    let o = options(req.uri().query().unwrap_or(""));
    let (reply, answer) = oneshot::channel();
    let sent = engine.send(Msg::Logs {
        ns: percent_decode(ns),
        pod: percent_decode(pod),
        container: percent_decode(container),
        previous: o.previous,
        reply,
    });
    if sent.is_err() {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "kubelet is shutting down".into(),
        ));
    }
    Ok(match answer.await {
        Ok(Ok(lines)) => text(StatusCode::OK, render(lines, &o)),
        Ok(Err((code, message))) => text(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        ),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "kubelet is shutting down".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options() {
        let o = options(
            "container=app&previous=true&tailLines=2&timestamps=true&sinceTime=2021-01-01T00%3A00%3A00Z",
        );
        assert!(o.previous && o.timestamps);
        assert_eq!(o.tail_lines, Some(2));
        assert!(o.since_time.is_some());
    }

    #[test]
    fn rendering() {
        let t: Timestamp = "2021-01-01T00:00:00.5Z".parse().unwrap_or_default();
        let lines = vec![
            (t, "a".to_owned()),
            (t, "b".to_owned()),
            (t, "c".to_owned()),
        ];
        let o = LogOptions {
            tail_lines: Some(2),
            timestamps: true,
            ..LogOptions::default()
        };
        assert_eq!(
            render(lines, &o),
            "2021-01-01T00:00:00.5Z b\n2021-01-01T00:00:00.5Z c\n"
        );
    }
}
