//! The RBAC matrix, generated from the OpenAPI document the code generates: every operation
//! × every principal — no credentials, an unknown, a revoked and an expired token, and each
//! role (viewer, operator, admin) with each kind of scope (none, the target cluster, the
//! target namespace, another namespace of the target cluster, another cluster) — sent over
//! real HTTP to a server on a loopback port. What each request should get comes from the
//! operation's declaration (`x-kaptain-access`: the role it needs, what the scopes must
//! cover, what out of scope answers); what it gets comes from the server. An operation
//! without a declaration fails the test, and so does one whose request the test cannot build
//! (a path parameter without a fixture, a required value without a rule).
//!
//! The target of every request is cluster [`CLUSTER`] (watched, unreachable: a kubeconfig
//! pointing at a closed port) and namespace [`NAMESPACE`]: path parameters, `cluster` and
//! `namespace` query parameters and body fields name them; objects addressed by id (runs,
//! findings, tasks, tokens) are made there first.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{Method, Request, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kaptain_engine::live::ClusterSource;
use kaptain_model::Severity;
use kaptain_server::auth::throttle::ThrottleLimit;
use kaptain_server::tasks::TaskInfo;
use kaptain_store::{FindingQuery, Role, Scope};
use serde_json::{Value, json};

use super::{Api, finding, unreachable_kubeconfig};
use crate::support::{Error, TestResult};

/// The cluster every request targets (the context name of [`unreachable_kubeconfig`]).
const CLUSTER: &str = "gone";
/// The namespace every request targets.
const NAMESPACE: &str = "shop";
/// Another namespace of [`CLUSTER`], and another cluster, for tokens scoped elsewhere.
const OTHER_NAMESPACE: &str = "billing";
const OTHER_CLUSTER: &str = "elsewhere";
/// An object name for path parameters (`{name}`): a valid Kubernetes name.
const NAME: &str = "rbac-matrix";

/// Free text whose meaning matters (it must name the target for the scope check to be
/// reached): (method, path, query parameter or body field) → value. Every other value is
/// derived from the schema; an entry that matches no operation fails the test.
fn free_text() -> BTreeMap<(&'static str, &'static str, &'static str), String> {
    BTreeMap::from([
        (
            ("GET", "/ask", "q"),
            format!("what is wrong in {NAMESPACE}"),
        ),
        (
            ("POST", "/ask", "q"),
            format!("restart deployment web in {NAMESPACE}"),
        ),
    ])
}

/// The kinds of scope a token can have, relative to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scoped {
    /// No scopes: everywhere.
    Everywhere,
    /// The whole target cluster.
    TargetCluster,
    /// The target namespace of the target cluster.
    TargetNamespace,
    /// Another namespace of the target cluster.
    OtherNamespace,
    /// Another cluster.
    OtherCluster,
}

impl Scoped {
    const ALL: [Scoped; 5] = [
        Scoped::Everywhere,
        Scoped::TargetCluster,
        Scoped::TargetNamespace,
        Scoped::OtherNamespace,
        Scoped::OtherCluster,
    ];

    fn scopes(self) -> Vec<Scope> {
        match self {
            Scoped::Everywhere => vec![],
            Scoped::TargetCluster => vec![Scope::cluster(CLUSTER)],
            Scoped::TargetNamespace => vec![Scope::namespace(CLUSTER, NAMESPACE)],
            Scoped::OtherNamespace => vec![Scope::namespace(CLUSTER, OTHER_NAMESPACE)],
            Scoped::OtherCluster => vec![Scope::cluster(OTHER_CLUSTER)],
        }
    }

    /// Whether a token scoped so may act on what an operation declaring `scope` targets —
    /// the meaning of each `scope` value the document describes, written out per kind.
    fn covers(self, scope: &str) -> Option<bool> {
        let (server, cluster, whole_cluster, namespace) = match self {
            Scoped::Everywhere => (true, true, true, true),
            Scoped::TargetCluster => (false, true, true, true),
            Scoped::TargetNamespace => (false, true, false, true),
            Scoped::OtherNamespace => (false, true, false, false),
            Scoped::OtherCluster => (false, false, false, false),
        };
        Some(match scope {
            "visible" => true,
            "server" => server,
            "cluster" => cluster,
            "whole-cluster" => whole_cluster,
            "namespace" => namespace,
            _ => return None,
        })
    }
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    NoCredentials,
    UnknownToken,
    RevokedToken,
    ExpiredToken,
    Token(Role, Scoped),
}

impl Who {
    fn all() -> Vec<Who> {
        let mut all = vec![
            Who::NoCredentials,
            Who::UnknownToken,
            Who::RevokedToken,
            Who::ExpiredToken,
        ];
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            all.extend(Scoped::ALL.iter().map(|s| Who::Token(role, *s)));
        }
        all
    }

    fn label(self) -> String {
        match self {
            Who::Token(role, scoped) => format!("{role} {scoped:?}"),
            other => format!("{other:?}"),
        }
    }
}

/// An operation's `x-kaptain-access`.
#[derive(Debug)]
struct Access {
    role: Role,
    scope: String,
    out_of_scope: Option<u16>,
}

fn access(op: &Value) -> Result<Access, String> {
    let a = op
        .get("x-kaptain-access")
        .ok_or("declares no x-kaptain-access (register its route with api::access::Access)")?;
    let role = a["role"]
        .as_str()
        .ok_or_else(|| format!("x-kaptain-access without a role: {a}"))?;
    let role = Role::from_str(role).map_err(|e| e.to_string())?;
    let scope = a["scope"]
        .as_str()
        .ok_or_else(|| format!("x-kaptain-access without a scope: {a}"))?
        .to_owned();
    if Scoped::Everywhere.covers(&scope).is_none() {
        return Err(format!("unknown scope {scope:?} in {a}"));
    }
    let out_of_scope = match &a["out_of_scope"] {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| format!("out_of_scope is not a status: {a}"))?,
        ),
    };
    if out_of_scope.is_none() && scope != "visible" {
        return Err(format!(
            "scope {scope:?} can refuse but names no status: {a}"
        ));
    }
    Ok(Access {
        role,
        scope,
        out_of_scope,
    })
}

/// What a request should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Refused with this status.
    Refused(u16),
    /// Let through to do what it asks: a documented status, not a refusal.
    Allowed,
}

/// Roles as the document orders them (`viewer` < `operator` < `admin`), written out here
/// rather than taken from the code under test.
fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 1,
        Role::Operator => 2,
        Role::Admin => 3,
    }
}

fn expected(who: Who, access: &Access) -> Expected {
    match who {
        Who::NoCredentials | Who::UnknownToken | Who::RevokedToken | Who::ExpiredToken => {
            Expected::Refused(401)
        }
        Who::Token(role, _) if rank(role) < rank(access.role) => Expected::Refused(403),
        Who::Token(_, scoped) => match (scoped.covers(&access.scope), access.out_of_scope) {
            (Some(false), Some(status)) => Expected::Refused(status),
            _ => Expected::Allowed,
        },
    }
}

/// The server, its principals' credentials and a loopback HTTP client.
struct Matrix {
    api: Api,
    /// Holds the kubeconfig.
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    credentials: BTreeMap<Who, String>,
    run_id: i64,
    finding_id: i64,
    serial: u32,
}

impl Matrix {
    async fn start() -> Result<Matrix, Error> {
        let dir = tempfile::tempdir()?;
        let kubeconfig = unreachable_kubeconfig(dir.path())?;
        // Every operation is sent without and with bad credentials from one address.
        let throttle: ThrottleLimit = "1000000/m".parse()?;
        let api = Api::with(|o| {
            o.clusters = vec![ClusterSource::context(Some(kubeconfig), CLUSTER)];
            o.auth_throttle = throttle;
        })
        .await?;
        let addr = api.listen(None, Duration::from_secs(10)).await?;
        let store = &api.server.state.store;
        let mut credentials = BTreeMap::new();
        credentials.insert(Who::UnknownToken, "kpt_not-a-real-token".to_owned());
        let (revoked, secret) = store
            .create_token("rbac-revoked", Role::Admin, vec![], None, "test")
            .await?;
        store.revoke_token(revoked.id).await?;
        credentials.insert(Who::RevokedToken, secret);
        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
        let (_, secret) = store
            .create_token("rbac-expired", Role::Admin, vec![], Some(past), "test")
            .await?;
        credentials.insert(Who::ExpiredToken, secret);
        for who in Who::all() {
            if let Who::Token(role, scoped) = who {
                let name = format!("rbac-{}", who.label().replace(' ', "-"));
                let (_, secret) = store
                    .create_token(&name, role, scoped.scopes(), None, "test")
                    .await?;
                credentials.insert(who, secret);
            }
        }
        // The objects addressed by id that exist before the matrix runs.
        let run_id = store.create_run(CLUSTER, "test").await?.id;
        store
            .record_scan(
                CLUSTER,
                &[finding("web", NAMESPACE, Severity::High)],
                jiff::Timestamp::now(),
            )
            .await?;
        let finding_id = store
            .findings(&FindingQuery {
                cluster: Some(CLUSTER.to_owned()),
                ..FindingQuery::default()
            })
            .await?
            .items
            .first()
            .ok_or("the recorded finding is not listed")?
            .id;
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Matrix {
            api,
            _dir: dir,
            addr,
            client,
            credentials,
            run_id,
            finding_id,
            serial: 0,
        })
    }

    /// A value for path parameter `{id}` of `path`: an object in the target (a task and a
    /// token are made afresh for each request, since a request may consume them).
    async fn id_for(&mut self, path: &str) -> Result<String, String> {
        let state = &self.api.server.state;
        Ok(match path {
            "/runs/{id}" => self.run_id.to_string(),
            "/findings/{id}" => self.finding_id.to_string(),
            "/tasks/{id}/cancel" => state
                .tasks
                .spawn(
                    TaskInfo::new("rbac-matrix", CLUSTER, None, "test"),
                    Duration::from_secs(3600),
                    std::future::pending(),
                    |_| async {},
                )
                .id
                .to_string(),
            "/tokens/{id}" => {
                self.serial += 1;
                let name = format!("rbac-doomed-{}", self.serial);
                state
                    .store
                    .create_token(&name, Role::Viewer, vec![], None, "test")
                    .await
                    .map_err(|e| e.to_string())?
                    .0
                    .id
                    .to_string()
            }
            _ => return Err("no fixture for its {id} (add one to Matrix::id_for)".into()),
        })
    }

    /// The request the matrix sends for `op`: path and query parameters, and a body.
    async fn build(
        &mut self,
        doc: &Value,
        method: &str,
        path: &str,
        op: &Value,
        texts: &BTreeMap<(&'static str, &'static str, &'static str), String>,
        used: &mut BTreeSet<(&'static str, &'static str, &'static str)>,
    ) -> Result<(String, Option<Value>), String> {
        let mut uri = path.to_owned();
        let mut query = Vec::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().ok_or("a parameter without a name")?;
            let required = p["required"].as_bool().unwrap_or(false);
            let text = texts
                .keys()
                .find(|k| (k.0, k.1, k.2) == (method, path, name))
                .copied();
            match p["in"].as_str() {
                Some("path") => {
                    let value = match name {
                        "cluster" => CLUSTER.to_owned(),
                        "namespace" => NAMESPACE.to_owned(),
                        "name" => NAME.to_owned(),
                        "id" => self.id_for(path).await?,
                        other => return Err(format!("no value for path parameter {other}")),
                    };
                    uri = uri.replace(&format!("{{{name}}}"), &value);
                }
                Some("query") => {
                    let value = match (name, text) {
                        (_, Some(k)) => {
                            used.insert(k);
                            Some(texts[&k].clone())
                        }
                        ("cluster", _) => Some(CLUSTER.to_owned()),
                        ("namespace", _) => Some(NAMESPACE.to_owned()),
                        _ if required => {
                            return Err(format!(
                                "no value for required query parameter {name} (add it to free_text)"
                            ));
                        }
                        _ => None,
                    };
                    if let Some(v) = value {
                        query.push(format!("{name}={}", encode(&v)));
                    }
                }
                other => return Err(format!("parameter {name} in {other:?}")),
            }
        }
        if uri.contains('{') {
            return Err(format!("path parameters left in {uri}"));
        }
        if !query.is_empty() {
            uri = format!("{uri}?{}", query.join("&"));
        }
        let body = match op.get("requestBody") {
            None => None,
            Some(b) => {
                let schema = b["content"]["application/json"]["schema"].clone();
                if schema.is_null() {
                    return Err(format!("a request body that is not JSON: {b}"));
                }
                let mut field = |name: &str| {
                    let k = texts
                        .keys()
                        .find(|k| (k.0, k.1, k.2) == (method, path, name))
                        .copied()?;
                    used.insert(k);
                    Some(texts[&k].clone())
                };
                self.serial += 1;
                Some(minimal(doc, &schema, None, &mut field, self.serial, 0)?)
            }
        };
        Ok((uri, body))
    }

    /// Sends one request; the status, the error code of an error body, and whether it asked
    /// for credentials (`WWW-Authenticate`).
    async fn send(
        &self,
        method: &str,
        uri: &str,
        who: Who,
        body: Option<&Value>,
    ) -> Result<(u16, Option<String>, bool), Error> {
        let mut req = Request::builder()
            .method(Method::from_str(method)?)
            .uri(format!("http://{}/api/v1{uri}", self.addr));
        if let Some(secret) = self.credentials.get(&who) {
            req = req.header(header::AUTHORIZATION, format!("Bearer {secret}"));
        }
        let bytes = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(b)?)
            }
            None => Bytes::new(),
        };
        let resp = tokio::time::timeout(
            Duration::from_secs(30),
            self.client.request(req.body(Full::new(bytes))?),
        )
        .await
        .map_err(|_| format!("{method} {uri} as {}: no answer in 30 s", who.label()))??;
        let status = resp.status().as_u16();
        let asks = resp.headers().contains_key(header::WWW_AUTHENTICATE);
        let streaming = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        // An event stream never ends: its status and headers are the answer.
        let code = if streaming {
            None
        } else {
            let bytes = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
                .await
                .map_err(|_| format!("{method} {uri}: the body did not end in 30 s"))??
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        };
        Ok((status, code, asks))
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The smallest valid value of `schema`: required properties only (plus `cluster` and
/// `namespace`, which name the target), the first of an enum, the minimum of a number; a
/// string property's value from `field` (free text) or the target's names, else unique text.
fn minimal(
    doc: &Value,
    schema: &Value,
    property: Option<&str>,
    field: &mut dyn FnMut(&str) -> Option<String>,
    serial: u32,
    depth: usize,
) -> Result<Value, String> {
    if depth > 8 {
        return Err(format!("schema nested too deep: {schema}"));
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("unsupported $ref {r}"))?;
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("$ref {r} resolves to nothing"));
        }
        return minimal(doc, target, property, field, serial, depth + 1);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema[key].as_array() {
            let first = variants
                .iter()
                .find(|v| v["type"] != "null")
                .ok_or_else(|| format!("{key} of nulls only: {schema}"))?;
            return minimal(doc, first, property, field, serial, depth + 1);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .ok_or_else(|| format!("an enum without values: {schema}"));
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .ok_or_else(|| format!("a type of null only: {schema}"))?
            .to_owned(),
        _ if schema["properties"].is_object() => "object".to_owned(),
        _ => return Err(format!("a schema without a type: {schema}")),
    };
    Ok(match kind.as_str() {
        "object" => {
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut out = serde_json::Map::new();
            for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
                if required.contains(name.as_str()) || name == "cluster" || name == "namespace" {
                    let value = minimal(doc, prop, Some(name), field, serial, depth + 1)?;
                    out.insert(name.clone(), value);
                }
            }
            Value::Object(out)
        }
        "string" => {
            if schema["format"].is_string() {
                return Err(format!(
                    "no rule for a string of format {}",
                    schema["format"]
                ));
            }
            let text = property.and_then(field);
            Value::String(match (text, property) {
                (Some(t), _) => t,
                (None, Some("cluster")) => CLUSTER.to_owned(),
                (None, Some("namespace")) => NAMESPACE.to_owned(),
                (None, _) => format!("rbac-matrix-{serial}"),
            })
        }
        "integer" | "number" if schema["minimum"].is_number() => schema["minimum"].clone(),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "array" => json!([]),
        other => return Err(format!("no rule for type {other}")),
    })
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

#[tokio::test]
async fn every_operation_answers_every_principal_as_it_declares() -> TestResult {
    let doc = serde_json::to_value(kaptain_server::api::openapi())?;
    let mut m = Matrix::start().await?;
    // The document the server serves is the one the matrix reads.
    let served = m
        .client
        .get(format!("http://{}/api/v1/openapi.json", m.addr).parse()?)
        .await?;
    let served: Value = serde_json::from_slice(&served.into_body().collect().await?.to_bytes())?;
    assert_eq!(
        served, doc,
        "the served OpenAPI document is not the generated one"
    );

    let texts = free_text();
    let mut used = BTreeSet::new();
    let whos = Who::all();
    let mut failures = Vec::new();
    let mut operations = 0;
    let mut requests = 0;
    let mut seen: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let paths = doc["paths"].as_object().ok_or("no paths in the document")?;
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let method = method.to_ascii_uppercase();
            let what = format!("{method} {path}");
            operations += 1;
            let access = match access(op) {
                Ok(a) => a,
                Err(e) => {
                    failures.push(format!("{what}: {e}"));
                    continue;
                }
            };
            let documented: BTreeSet<u16> = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(s, _)| s.parse().ok())
                .collect();
            // Every refusal the declaration implies is in the document (for clients, and for
            // schemathesis, which checks every status against it).
            let refusals: BTreeSet<u16> = whos
                .iter()
                .filter_map(|w| match expected(*w, &access) {
                    Expected::Refused(s) => Some(s),
                    Expected::Allowed => None,
                })
                .collect();
            for s in refusals.difference(&documented) {
                failures.push(format!("{what}: answers {s} but does not document it"));
            }
            for who in &whos {
                let want = expected(*who, &access);
                let (uri, body) = match m.build(&doc, &method, path, op, &texts, &mut used).await {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{what}: {e}"));
                        break;
                    }
                };
                let (status, code, asks) = m.send(&method, &uri, *who, body.as_ref()).await?;
                requests += 1;
                let outcome = match want {
                    Expected::Refused(_) => "refused",
                    Expected::Allowed => "allowed",
                };
                *seen.entry((outcome, status)).or_default() += 1;
                let wrong = match want {
                    Expected::Refused(401) => (status != 401
                        || code.as_deref() != Some("unauthorized")
                        || !asks)
                        .then(|| {
                            format!("401 unauthorized with WWW-Authenticate, got {status} {code:?}")
                        }),
                    Expected::Refused(403) => (status != 403
                        || code.as_deref() != Some("forbidden"))
                    .then(|| format!("403 forbidden, got {status} {code:?}")),
                    Expected::Refused(s) => {
                        (status != s).then(|| format!("{s} (out of scope), got {status} {code:?}"))
                    }
                    // When out of scope looks like absent, the object must be found: only a
                    // 2xx tells the two apart.
                    Expected::Allowed if access.out_of_scope == Some(404) => (!(200..300)
                        .contains(&status))
                    .then(|| format!("a 2xx (the object exists), got {status} {code:?}")),
                    Expected::Allowed => {
                        let refusal = [400, 401, 403, 429].contains(&status);
                        (refusal || !documented.contains(&status)).then(|| {
                            format!(
                                "to be let through (a documented status, not a refusal), got {status} {code:?}"
                            )
                        })
                    }
                };
                if let Some(wrong) = wrong {
                    failures.push(format!(
                        "{what} ({uri}) as {} (needs {} / {}): expected {wrong}",
                        who.label(),
                        access.role,
                        access.scope
                    ));
                }
            }
        }
    }
    for k in texts.keys() {
        if !used.contains(k) {
            failures.push(format!("free_text entry {k:?} matches no operation"));
        }
    }
    println!(
        "RBAC matrix: {operations} operations × {} principals = {requests} requests; (expected, status) → count: {seen:?}",
        whos.len()
    );
    assert!(operations > 0, "the document has no operations");
    assert!(
        failures.is_empty(),
        "{} of {requests} requests ({operations} operations × {} principals) did not answer as declared:\n{}",
        failures.len(),
        whos.len(),
        failures.join("\n")
    );
    Ok(())
}
