//! `/mcp`: the engine's tools over MCP's streamable HTTP, behind the same authentication
//! (API tokens, OIDC), roles and scopes as the REST API. A viewer gets the read-only tools; an
//! operator may also propose; a namespace-scoped principal sees and touches only its
//! namespaces. Every tool call and resource read is recorded in the audit log with its actor.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use kaptain_engine::tools::{Caller, Grant, Role, ToolRegistry};
use kaptain_mcp::{CallAudit, CallRecord, Callers, KaptainMcp};
use kaptain_store::{NewAudit, Store};

use crate::api::AppState;
use crate::auth::{self, Principal};
use kaptain_engine::tools::LiveHost;

/// The engine's caller for an authenticated principal: viewer → read-only tools; operator
/// and admin → may propose; scopes → grants.
pub fn caller_of(p: &Principal) -> Caller {
    Caller {
        actor: p.actor.clone(),
        role: if p.role.allows(kaptain_store::Role::Operator) {
            Role::Operator
        } else {
            Role::Viewer
        },
        grants: p
            .scopes
            .iter()
            .map(|s| Grant {
                cluster: s.cluster.clone(),
                namespace: s.namespace.clone(),
            })
            .collect(),
    }
}

/// Writes one audit record per MCP call.
struct StoreAudit {
    store: Store,
}

#[async_trait::async_trait]
impl CallAudit for StoreAudit {
    async fn record(&self, caller: &Caller, call: CallRecord) -> Result<(), String> {
        let outcome = match call.outcome.as_str() {
            "ok" => "ok",
            "forbidden" => "denied",
            "internal" | "unavailable" => "error",
            _ => "rejected",
        };
        self.store
            .append_audit(NewAudit {
                actor: caller.actor.clone(),
                action: format!("MCP {} {}", call.method, call.name),
                target: call.name.clone(),
                cluster: call.cluster,
                details: serde_json::json!({"arguments": call.arguments, "result": call.outcome}),
                outcome: outcome.to_owned(),
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Puts the engine's [`Caller`] next to the [`Principal`] the authentication put in.
async fn to_caller(mut request: Request, next: Next) -> Response {
    if let Some(p) = request.extensions().get::<Principal>().cloned() {
        request.extensions_mut().insert(caller_of(&p));
    }
    next.run(request).await
}

/// The `/mcp` route, authenticated.
pub fn router(state: AppState) -> Router<AppState> {
    let host = LiveHost::new(state.hub.clone(), state.operator_namespace.clone());
    let server = KaptainMcp::new(
        ToolRegistry::standard(),
        Arc::new(host),
        Callers::PerRequest,
    )
    .with_audit(Arc::new(StoreAudit {
        store: state.store.clone(),
    }));
    Router::new()
        .route_service("/mcp", kaptain_mcp::http_service(server))
        .layer(middleware::from_fn(to_caller))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
}
