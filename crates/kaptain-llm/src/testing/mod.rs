//! A scripted HTTP server for tests (feature `testing`): it listens on a free loopback port,
//! records every request (method, path, headers, the exact body bytes) and answers with the
//! replies it was given — JSON, streamed SSE chunks (each written as its own chunk, split
//! wherever the test says), raw bodies, error statuses. It speaks whatever the replies say:
//! [`openai`] and [`anthropic`] build the replies of those APIs.
//!
//! Replies are taken in order from a queue; when it is empty, the first rule whose predicate
//! matches the request answers (rules stay); when none does, the server answers 500 with
//! `{"error": {"message": "scripted server: no reply left for POST /v1/..."}}`, so a test that
//! asks once too often fails with that line.
//!
//! ```no_run
//! # async fn t() {
//! use kaptain_llm::testing::{ScriptedServer, openai};
//! let server = ScriptedServer::start(vec![openai::text("pong")]).await;
//! // point a provider at server.base_url() ("http://127.0.0.1:PORT/v1"), call it, then:
//! let sent = &server.requests()[0];
//! assert_eq!(sent.path, "/v1/chat/completions");
//! # }
//! ```

pub mod anthropic;
pub mod openai;
mod provider;

pub use provider::*;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A JSON body with this status.
    Json { status: u16, body: Value },
    /// `text/event-stream`: each string is written as one body chunk, as it is (the test
    /// writes the `data: ...\n\n` framing, and may split an event across chunks).
    Sse { status: u16, chunks: Vec<String> },
    /// No answer at all (the connection stays open): for timeouts.
    Hang,
    /// Any body with any content type.
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
}

impl Reply {
    pub fn json(body: Value) -> Reply {
        Reply::Json { status: 200, body }
    }

    /// An error status with an OpenAI-style error body.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::Json {
            status,
            body: serde_json::json!({"error": {"message": message, "type": "invalid_request_error"}}),
        }
    }

    /// SSE events from `data` payloads: each becomes `data: <payload>\n\n`, one chunk each.
    pub fn sse_data(payloads: &[String]) -> Reply {
        Reply::Sse {
            status: 200,
            chunks: payloads.iter().map(|p| format!("data: {p}\n\n")).collect(),
        }
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The exact bytes of the body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (panics when it is not: a test helper).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the recorded body is JSON")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Rule = (Box<dyn Fn(&Recorded) -> bool + Send + Sync>, Reply);

#[derive(Default)]
struct State {
    queue: std::collections::VecDeque<Reply>,
    rules: Vec<Rule>,
    requests: Vec<Recorded>,
}

/// The server; it stops when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Listens on 127.0.0.1 (a free port) and answers with `replies` in order.
    pub async fn start(replies: Vec<Reply>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let state = Arc::new(Mutex::new(State {
            queue: replies.into(),
            ..State::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        ScriptedServer { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL of an OpenAI-compatible provider.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a reply to the end of the queue.
    pub fn push(&self, reply: Reply) {
        self.lock().queue.push_back(reply);
    }

    /// Answers every request `when` matches with `reply` once the queue is empty (rules are
    /// tried in the order added and stay).
    pub fn on(&self, when: impl Fn(&Recorded) -> bool + Send + Sync + 'static, reply: Reply) {
        self.lock().rules.push((Box::new(when), reply));
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// How many replies are still queued.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let rec = Recorded {
        method,
        path,
        headers,
        body,
    };
    let reply = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let reply = match st.queue.pop_front() {
            Some(r) => Some(r),
            None => st
                .rules
                .iter()
                .find(|(when, _)| when(&rec))
                .map(|(_, r)| r.clone()),
        };
        let missing = format!(
            "scripted server: no reply left for {} {}",
            rec.method, rec.path
        );
        st.requests.push(rec);
        reply.unwrap_or_else(|| Reply::error(500, &missing))
    };
    if matches!(reply, Reply::Hang) {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    Ok(respond(reply))
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn respond(reply: Reply) -> Response<BoxBody<Bytes, Infallible>> {
    let (code, ctype, body): (u16, String, BoxBody<Bytes, Infallible>) = match reply {
        Reply::Json { status, body } => (
            status,
            "application/json".into(),
            Full::new(Bytes::from(body.to_string())).boxed(),
        ),
        Reply::Raw {
            status,
            content_type,
            body,
        } => (status, content_type, Full::new(Bytes::from(body)).boxed()),
        Reply::Hang => (504, "text/plain".into(), Full::new(Bytes::new()).boxed()),
        Reply::Sse { status, chunks } => {
            let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
            tokio::spawn(async move {
                for c in chunks {
                    if tx.send_data(Bytes::from(c)).await.is_err() {
                        return;
                    }
                    // Let the chunk go out on its own before the next one.
                    tokio::task::yield_now().await;
                }
            });
            (status, "text/event-stream".into(), rx.boxed())
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status(code);
    if let Ok(v) = hyper::header::HeaderValue::from_str(&ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
