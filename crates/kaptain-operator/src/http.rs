//! `/metrics`, `/healthz` and `/readyz` on a plain HTTP/1 listener (hyper).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use kaptain_engine::healing::{Error, Result};

/// What the probes read.
#[derive(Default)]
pub struct Health {
    /// Every watch has listed once.
    pub ready: AtomicBool,
    /// Unix seconds of the control loop's last turn.
    pub heartbeat: AtomicI64,
}

impl Health {
    pub fn beat(&self) {
        self.heartbeat
            .store(jiff::Timestamp::now().as_second(), Ordering::Relaxed);
    }

    /// Alive: the control loop turned within the last 60 s.
    pub fn alive(&self) -> bool {
        let last = self.heartbeat.load(Ordering::Relaxed);
        jiff::Timestamp::now().as_second() - last < 60
    }
}

/// Binds `addr` and serves until the task is dropped. Returns the bound address (useful with
/// port 0).
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    health: Arc<Health>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await.map_err(|e| Error::Http {
        addr: addr.to_string(),
        source: e,
    })?;
    let bound = listener.local_addr().map_err(|e| Error::Http {
        addr: addr.to_string(),
        source: e,
    })?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            let health = health.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let r = respond(req.uri().path(), &metrics, &health);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((bound, task))
}

fn respond(path: &str, metrics: &Metrics, health: &Health) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" | "/livez" if health.alive() => (StatusCode::OK, "text/plain", "ok\n".into()),
        "/healthz" | "/livez" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the control loop is stuck\n".into(),
        ),
        "/readyz" if health.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ok\n".into())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the watches have not synced yet\n".into(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_follow_health() {
        let m = Metrics::new();
        let h = Health::default();
        assert_eq!(respond("/readyz", &m, &h).status(), 503);
        assert_eq!(respond("/healthz", &m, &h).status(), 503);
        h.ready.store(true, Ordering::Relaxed);
        h.beat();
        assert_eq!(respond("/readyz", &m, &h).status(), 200);
        assert_eq!(respond("/healthz", &m, &h).status(), 200);
        assert_eq!(respond("/metrics", &m, &h).status(), 200);
        assert_eq!(respond("/nope", &m, &h).status(), 404);
    }
}
