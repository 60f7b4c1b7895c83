//! `GET /console/healing` (healing actions with Approve/Reject for Proposed ones) and the
//! buttons' `POST /console/healing/{cluster}/{namespace}/{name}/{approve|reject}`, which
//! decide through [`crate::api::healing::decide`] (as the API does) and re-render the row.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use kaptain_store::Role;
use maud::{Markup, html};

use super::layout::{Page, age, badge, state_badge, urlencode};
use super::{PageResult, is_htmx};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::healing::{Decision, decide as decide_action, with_note};
use crate::auth::Principal;
use kaptain_engine::live::HealingActionRow;

/// `GET /console/healing`.
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> PageResult {
    principal.require(Role::Viewer)?;
    let can_decide = principal.role.allows(Role::Operator);
    let mut rows: Vec<(String, HealingActionRow)> = Vec::new();
    for cluster in state.visible_clusters(&principal, None) {
        for a in state.hub.healing_actions(&cluster).unwrap_or_default() {
            if principal.covers(&cluster, Some(&a.namespace)) {
                rows.push((cluster.clone(), a));
            }
        }
    }
    rows.sort_by(|a, b| {
        b.1.is_pending()
            .cmp(&a.1.is_pending())
            .then_with(|| b.1.created_at.cmp(&a.1.created_at))
    });
    let body = html! {
        h1 { "Healing actions" }
        @if rows.is_empty() { p.empty { "No healing actions." } } @else {
            div.scroll { table.healing {
                thead { tr {
                    th { "Cluster" } th { "Namespace/name" } th { "Phase" } th { "Action" } th { "Target" }
                    th { "Finding" } th { "Why approval" } th { "Age" } th { "Decision" }
                } }
                tbody { @for (cluster, a) in &rows { (row(cluster, a, can_decide, None)) } }
            } }
        }
    };
    Ok(Page {
        title: "Healing actions",
        nav: "healing",
        principal: &principal,
        live: Some("/console/healing".into()),
        body,
    }
    .respond(&headers))
}

fn action_url(cluster: &str, a: &HealingActionRow, verb: &str) -> String {
    format!(
        "/console/healing/{}/{}/{}/{verb}",
        urlencode(cluster),
        urlencode(&a.namespace),
        urlencode(&a.name)
    )
}

pub(crate) fn row(
    cluster: &str,
    a: &HealingActionRow,
    can_decide: bool,
    error: Option<&str>,
) -> Markup {
    html! {
        tr.action data-cluster=(cluster) data-namespace=(a.namespace) data-name=(a.name) data-phase=(a.phase) {
            td { (cluster) }
            td { (a.namespace) "/" (a.name) }
            td.phase { (state_badge(&a.phase)) }
            td { (a.action) }
            td { code { (a.target) } }
            td { (badge(&a.severity)) " " (a.finding_title) }
            td { (a.requires_approval.as_deref().unwrap_or("-")) }
            td { (age(a.created_at)) }
            td.decision {
                @if a.is_pending() && can_decide {
                    button.approve hx-post=(action_url(cluster, a, "approve")) hx-target="closest tr" hx-swap="outerHTML"
                        hx-confirm={ "Approve " (a.action) " on " (a.target) "?" } { "Approve" }
                    " "
                    button.reject hx-post=(action_url(cluster, a, "reject")) hx-target="closest tr" hx-swap="outerHTML"
                        hx-prompt="Why reject it? (optional)" { "Reject" }
                } @else if let Some(by) = &a.approved_by { "approved by " (by) }
                @else if let Some(by) = &a.rejected_by { "rejected by " (by) }
                @else if a.is_pending() { span.muted { "needs operator" } }
                @if let Some(e) = error { p.alert role="alert" { (e) } }
            }
        }
    }
}

/// `POST /console/healing/{cluster}/{namespace}/{name}/{verb}` from an htmx button.
pub async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((cluster, namespace, name, verb)): Path<(String, String, String, String)>,
) -> Response {
    if !is_htmx(&headers) {
        return super::PageError(ApiError::forbidden(
            "console actions must come from the console (HX-Request: true)",
        ))
        .into_response();
    }
    let decision = match verb.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject(
            headers
                .get("hx-prompt")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        ),
        other => {
            return (StatusCode::NOT_FOUND, format!("no such decision: {other}")).into_response();
        }
    };
    match decide_action(&state, &principal, &cluster, &namespace, &name, decision).await {
        Ok((a, note)) => with_note(
            Html(row(&cluster, &a, true, None).into_string()).into_response(),
            note,
        ),
        Err(e) => {
            let visible = principal.covers(&cluster, Some(&namespace));
            let current = state
                .hub
                .healing_action(&cluster, &namespace, &name)
                .filter(|_| visible)
                .and_then(|a| {
                    kaptain_engine::live::summary::healing_rows(&[a], jiff::Timestamp::now())
                        .into_iter()
                        .next()
                });
            let can_decide = principal.role.allows(Role::Operator);
            let body = match current {
                Some(a) => row(&cluster, &a, can_decide, Some(&e.message)),
                None => html! { tr { td colspan="9" { p.alert role="alert" { (e.message) } } } },
            };
            (e.status, Html(body.into_string())).into_response()
        }
    }
}
