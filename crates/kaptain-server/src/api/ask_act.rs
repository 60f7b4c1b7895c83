//! `POST /api/v1/ask`: a request to act in plain words ("scale web to 5 in shop", "roll back
//! checkout", "fix it") → the HealingAction it becomes, judged by the safety guard. An
//! operator-role principal gets the proposal created, waiting for approval (approve or reject
//! it like any other action: `POST .../approve`, the console's buttons); a viewer gets the
//! answer only — what would be done — and nothing is created. Every call is audited with the
//! asker as actor.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kaptain_chat::{Intent, Known, Request};
use kaptain_engine::healing::request::{self, AskError, Proposed, Scene};
use kaptain_heal::crd::HealingAction;
use kaptain_heal::request::Asker;
use kaptain_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::ask::MAX_QUESTION;
use super::audit::AuditNote;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::healing::with_note;
use crate::auth::Principal;

/// A request to act.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ActBody {
    /// The request, e.g. `scale web-app in scale-test by 100%`.
    #[schema(max_length = 1000)]
    pub q: String,
    /// The cluster (a cluster named in the request must agree); needed when several are in
    /// scope.
    pub cluster: Option<String>,
}

/// What a request to act became.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActReply {
    /// How the request was read.
    pub request: Request,
    pub cluster: String,
    /// What it would do: the HealingAction, the diff, the guard's verdict, the verification.
    /// Absent when there is nothing to do (`message` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed: Option<Proposed>,
    /// Whether the HealingAction was created (operator role, not refused by the guard): it
    /// then waits for approval.
    pub created: bool,
    /// Where to approve it, when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve: Option<String>,
    /// Where to reject it, when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
    /// What happened, in a sentence.
    pub message: String,
    /// The created action as the console lists it.
    #[serde(skip)]
    pub row: Option<kaptain_engine::live::HealingActionRow>,
}

/// Ask Kaptain to act, in plain words: scale, restart, roll back, set an image, cordon, fix,
/// undo. No LLM: the request is read by rules. The change becomes a HealingAction that the
/// safety guard judges exactly like a policy's (protected namespaces, never-allow rules, rate
/// limits, blast radius, circuit breaker). Operators get it created, waiting for approval;
/// viewers get what would be done only.
#[utoipa::path(post, path = "/ask", tag = "ask",
    request_body(content = ActBody, content_type = "application/json"),
    responses(
        (status = 200, body = ActReply),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn ask_to_act(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<ActBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(b) = body?;
    let (reply, note) = act(&state, &principal, &b.q, b.cluster).await?;
    Ok(with_note(Json(reply).into_response(), note))
}

/// Reads `text` as a request to act and answers it for `principal`: the proposal created for
/// an operator, what would be done for a viewer. Shared by the API and the console.
pub async fn act(
    state: &AppState,
    principal: &Principal,
    text: &str,
    cluster: Option<String>,
) -> ApiResult<(ActReply, AuditNote)> {
    principal.require(Role::Viewer)?;
    if text.chars().count() > MAX_QUESTION {
        return Err(ApiError::bad_request(format!(
            "the request is longer than {MAX_QUESTION} characters"
        )));
    }
    let names = state.visible_clusters(principal, None);
    let request =
        kaptain_chat::parse(text, &Known { clusters: &names }).map_err(ApiError::bad_request)?;
    let Some(act) = request
        .act
        .clone()
        .filter(|_| request.intent == Intent::Act)
    else {
        return Err(ApiError::bad_request(
            "not a request to act (scale, restart, roll back, set the image, cordon, fix, undo); \
             ask questions with GET /api/v1/ask",
        ));
    };
    let cluster = match (cluster, &act.cluster) {
        (Some(a), Some(b)) if a != *b => {
            return Err(ApiError::bad_request(format!(
                "the request names cluster {b} but the body says {a}"
            )));
        }
        (Some(a), _) => a,
        (None, Some(a)) => a.clone(),
        (None, None) => match names.as_slice() {
            [one] => one.clone(),
            [] => return Err(ApiError::not_found("no cluster is in scope")),
            many => {
                return Err(ApiError::bad_request(format!(
                    "which cluster? one of {}",
                    many.join(", ")
                )));
            }
        },
    };
    principal.ensure_touches(&cluster)?;
    if let Some(ns) = &act.namespace {
        principal.ensure(&cluster, Some(ns))?;
    }
    let client = state.client(&cluster)?;
    let idx = state
        .hub
        .index(&cluster)
        .ok_or_else(|| ApiError::unavailable(format!("cluster {cluster} is still being read")))?;
    let findings = state
        .visible_findings(principal, &cluster)
        .unwrap_or_default();
    let actions: Vec<HealingAction> = state
        .hub
        .healing_action_objects(&cluster)
        .unwrap_or_default()
        .iter()
        .map(|a| (**a).clone())
        .collect();
    let (safety, breakers, _) = request::guard_state(&client, &state.operator_namespace).await;
    let who = Asker {
        actor: &principal.actor,
        text,
        now: jiff::Timestamp::now(),
    };
    let scene = Scene {
        idx: &idx,
        findings: &findings,
        actions: &actions,
        safety: &safety,
        breakers: &breakers,
        operator_namespace: &state.operator_namespace,
    };
    let mut reply = ActReply {
        request,
        cluster: cluster.clone(),
        proposed: None,
        created: false,
        approve: None,
        reject: None,
        message: String::new(),
        row: None,
    };
    let mut note = AuditNote {
        cluster: Some(cluster.clone()),
        target: None,
        details: serde_json::json!({"request": text, "read": act.describe()}),
    };
    let proposed = match request::propose(&scene, &act, &who) {
        Ok(p) => p,
        Err(AskError::Unclear(q)) => return Err(ApiError::bad_request(q)),
        Err(AskError::Cannot(why)) => {
            note.details["outcome"] = "nothing-to-do".into();
            reply.message = why;
            return Ok((reply, note));
        }
    };
    // The action's namespace must be in the principal's scope too (a node's action lives in
    // the operator's namespace).
    principal.ensure(&cluster, Some(&proposed.namespace))?;
    note.target = Some(format!(
        "HealingAction {}/{}",
        proposed.namespace, proposed.name
    ));
    note.details["action"] = proposed.action.clone().into();
    note.details["target"] = proposed.target.clone().into();
    note.details["verdict"] = serde_json::json!(proposed.verdict);
    let refused = proposed.verdict.decision == "deny";
    if refused {
        reply.message = format!(
            "refused by the safety guard ({}): {}; nothing was created",
            proposed.verdict.rule.as_deref().unwrap_or("-"),
            proposed.verdict.reason
        );
    } else if principal.role.allows(Role::Operator) {
        let created = request::submit(
            &client,
            &proposed,
            false,
            &principal.actor,
            &state.operator_namespace,
        )
        .await
        .map_err(|e| ApiError::unavailable(kaptain_engine::healing::one_line(&e)))?;
        let (ns, name) = (
            created.metadata.namespace.clone().unwrap_or_default(),
            created.metadata.name.clone().unwrap_or_default(),
        );
        let base = format!("/api/v1/clusters/{cluster}/healing-actions/{ns}/{name}");
        reply.approve = Some(format!("{base}/approve"));
        reply.reject = Some(format!("{base}/reject"));
        reply.created = true;
        reply.row = kaptain_engine::live::summary::healing_rows(
            &[std::sync::Arc::new(created.clone())],
            jiff::Timestamp::now(),
        )
        .into_iter()
        .next();
        reply.message = format!(
            "proposed as HealingAction {ns}/{name}, waiting for approval; the safety guard \
             decides again when it is approved"
        );
    } else {
        reply.message = format!(
            "this is what would be done; {} may not propose changes (needs the operator role), \
             so nothing was created",
            principal.actor
        );
    }
    note.details["created"] = reply.created.into();
    reply.proposed = Some(proposed);
    Ok((reply, note))
}
