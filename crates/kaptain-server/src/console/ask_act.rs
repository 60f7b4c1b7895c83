//! Requests to act in the chat box ("scale web to 5 in shop"). Reading one only offers a
//! button: a GET never creates anything. The button posts the request (`POST
//! /console/ask/act`, htmx only); an operator gets the proposal created with the Healing
//! page's approve and reject buttons, a viewer gets what would be done.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use kaptain_store::Role;
use maud::{Markup, html};
use serde_json::Value;

use super::ask::AskQuery;
use super::is_htmx;
use super::layout::urlencode;
use crate::api::AppState;
use crate::api::ask::AskReply;
use crate::api::ask_act::{ActReply, act};
use crate::api::error::ApiError;
use crate::api::healing::with_note;
use crate::auth::Principal;

/// The button that sends a request to act.
pub(super) fn offer(
    question: &str,
    r: &AskReply,
    cluster: Option<&str>,
    can_propose: bool,
) -> Markup {
    let mut url = format!("/console/ask/act?q={}", urlencode(question));
    if let Some(c) = cluster {
        url.push_str(&format!("&cluster={}", urlencode(c)));
    }
    html! {
        p.reading.muted { "Read as a request to act: " (r.request.describe()) }
        p.detail { "Kaptain turns it into a HealingAction that its safety guard judges like any policy's." }
        button.primary.propose hx-post=(url) hx-target="closest article" hx-swap="beforeend" {
            @if can_propose { "Propose it (then approve or reject)" } @else { "Show what it would do" }
        }
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string().chars().take(120).collect(),
    }
}

fn render(r: &ActReply, can_decide: bool) -> Markup {
    html! {
        section.answer.act data-intent="act" data-created=(r.created) {
            p.headline { (r.message) }
            @if let Some(p) = &r.proposed {
                p.detail { strong { (p.action) } " on " code { (p.target) } " — " (p.reasoning) }
                ul.diff { @for d in &p.diff {
                    li { code { (d.field) } ": " (short(&d.before)) " → " (short(&d.after)) }
                } }
                p.verdict data-decision=(p.verdict.decision) {
                    strong { "Safety guard: " } (p.verdict.decision)
                    @if let Some(rule) = &p.verdict.rule { " (" (rule) ")" }
                    ": " (p.verdict.reason)
                }
                p.muted { "Verification: " (p.verification) }
            }
            @if let Some(row) = &r.row {
                table.actions { tbody { (super::healing::row(&r.cluster, row, can_decide, None)) } }
            }
        }
    }
}

/// `POST /console/ask/act?q=&cluster=` from the chat box's button.
pub async fn propose(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<AskQuery>,
) -> Response {
    if !is_htmx(&headers) {
        return super::PageError(ApiError::forbidden(
            "console actions must come from the console (HX-Request: true)",
        ))
        .into_response();
    }
    let text = q.q.as_deref().map(str::trim).unwrap_or_default();
    match act(&state, &principal, text, q.cluster.clone()).await {
        Ok((reply, note)) => with_note(
            Html(render(&reply, principal.role.allows(Role::Operator)).into_string())
                .into_response(),
            note,
        ),
        Err(e) => (
            e.status,
            Html(html! { p.alert role="alert" { (e.message) } }.into_string()),
        )
            .into_response(),
    }
}
