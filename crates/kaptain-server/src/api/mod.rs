//! The REST API under `/api/v1`, documented by an OpenAPI 3.1 document generated from these
//! handlers (utoipa) and served at `/api/v1/openapi.json`, with interactive docs at
//! `/api/v1/docs`.

pub mod access;
pub mod ask;
pub mod ask_act;
pub mod audit;
pub mod clusters;
pub mod error;
pub mod findings;
pub mod healing;
pub mod run_result;
pub mod runs;
pub mod settings;
pub mod stream;
pub mod system;
pub mod tokens;

use std::sync::Arc;

use axum::extract::FromRef;
use kaptain_model::Finding;
use kaptain_store::Store;
use tokio::sync::broadcast;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{Auth, Principal};
use crate::feed::ServerEvent;
use crate::history::HistoryRecorder;
use crate::metrics::Metrics;
use crate::tasks::Tasks;
use error::{ApiError, ApiResult};
use kaptain_engine::live::LiveClusters;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<LiveClusters>,
    pub store: Store,
    /// Records findings history (the hub's sink, and diagnose runs) while this replica
    /// holds the cluster's claim.
    pub history: Arc<HistoryRecorder>,
    pub auth: Auth,
    pub metrics: Metrics,
    pub tasks: Tasks,
    /// Changes for the SSE stream: the hub's, and the server's own (runs).
    pub events: broadcast::Sender<ServerEvent>,
    /// Where the operator keeps its state and safety configuration (for approvals).
    pub operator_namespace: String,
    /// How the server runs (TLS, `--no-auth`): for the hardening layers and cookies.
    pub hardening: crate::harden::Hardening,
}

impl AppState {
    /// Tells SSE clients in scope of `cluster` that run `id` changed.
    pub fn notify_run(&self, id: i64, cluster: &str) {
        let _ = self.events.send(ServerEvent::Run {
            id,
            cluster: cluster.to_owned(),
        });
    }

    /// The names of the clusters `p` may see (some scope names them), optionally only `only`.
    pub fn visible_clusters(&self, p: &Principal, only: Option<&str>) -> Vec<String> {
        self.hub
            .clusters()
            .into_iter()
            .map(|c| c.name)
            .filter(|c| p.touches(c) && only.is_none_or(|o| o == c))
            .collect()
    }

    /// The findings of `cluster`'s live report that `p` may see (namespaced ones in its
    /// namespaces; cluster-scoped ones only with a whole-cluster scope); None before the
    /// first report.
    pub fn visible_findings(&self, p: &Principal, cluster: &str) -> Option<Vec<Finding>> {
        let report = self.hub.report(cluster)?;
        Some(
            report
                .findings
                .iter()
                .filter(|f| p.covers(cluster, f.object.namespace.as_deref()))
                .cloned()
                .collect(),
        )
    }

    /// A Kubernetes client for `cluster`, or 404/503.
    pub fn client(&self, cluster: &str) -> ApiResult<kube::Client> {
        if self.hub.cluster(cluster).is_none() {
            return Err(ApiError::not_found(format!("cluster {cluster} not found")));
        }
        self.hub
            .client(cluster)
            .ok_or_else(|| ApiError::unavailable(format!("cluster {cluster} is not connected")))
    }
}

impl FromRef<AppState> for Auth {
    fn from_ref(s: &AppState) -> Auth {
        s.auth.clone()
    }
}

impl FromRef<AppState> for Metrics {
    fn from_ref(s: &AppState) -> Metrics {
        s.metrics.clone()
    }
}

/// The OpenAPI document's fixed parts; paths and schemas come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kaptain API",
        description = "Findings, clusters, diagnose runs, healing actions, tokens and the audit log of a Kaptain server. Authenticate with `Authorization: Bearer <token>` (an API token from `kaptain token create`, or an OIDC JWT when the server trusts an issuer). Errors are `{\"error\": {\"code\", \"message\"}}`. Listings page with `limit` and the opaque `cursor` of the previous page's `next_cursor`. Each operation's `x-kaptain-access` says who may call it: `role`, the least role it needs (`viewer` < `operator` < `admin`); `scope`, what the token's scopes must cover (`server`: no scopes at all; `visible`: nothing, answers hold only what the scopes cover; `cluster`: the cluster the request names, or one of its namespaces; `whole-cluster`: all of that cluster; `namespace`: the namespace the request names); and `out_of_scope`, the status a token whose scopes do not cover it gets (404 where an id's existence is not revealed).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags(
        (name = "clusters", description = "Watched clusters: status, nodes, namespaces, events, live report"),
        (name = "findings", description = "Findings history: when each appeared and cleared"),
        (name = "runs", description = "Diagnose runs and the task queue"),
        (name = "healing", description = "Healing actions: list, approve, reject"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "tokens", description = "API tokens"),
        (name = "settings", description = "Server settings; secret values are encrypted at rest"),
        (name = "stream", description = "Server-Sent Events of changes"),
        (name = "system", description = "Who am I, agents"),
        (name = "ask", description = "Questions in plain words, answered from the live findings, and requests to act that become HealingActions judged by the safety guard (no LLM)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API's routes (relative to `/api/v1`) with their OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(clusters::routes())
        .merge(findings::routes())
        .merge(runs::routes())
        .merge(healing::routes())
        .merge(audit::routes())
        .merge(tokens::routes())
        .merge(settings::routes())
        .merge(stream::routes())
        .merge(system::routes())
        .merge(ask::routes())
}

/// The API's routes and their OpenAPI document, with what the authentication middleware adds
/// to every authenticated operation documented (see [`document_throttle`]).
pub fn parts() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut openapi) = router().split_for_parts();
    document_throttle(&mut openapi);
    (routes, openapi)
}

/// The OpenAPI document, as committed in `docs/openapi.json` (checked for drift by a test).
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// Every operation that can answer 401 can also answer 429: the authentication middleware
/// refuses an address after too many failed authentications (`--auth-throttle`), with a
/// `Retry-After` header, before any handler runs.
fn document_throttle(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{HeaderBuilder, RefOr};
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let responses = &mut op.responses.responses;
            let Some(RefOr::T(unauthorized)) = responses.get("401") else {
                continue;
            };
            let mut throttled = unauthorized.clone();
            throttled.description =
                "Too many failed authentications from this client address; retry after the seconds in Retry-After"
                    .to_owned();
            throttled.headers.insert(
                "Retry-After".to_owned(),
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        ))
                        .description(Some("Seconds until the address may authenticate again"))
                        .build(),
                ),
            );
            responses
                .entry("429".to_owned())
                .or_insert(RefOr::T(throttled));
        }
    }
}
