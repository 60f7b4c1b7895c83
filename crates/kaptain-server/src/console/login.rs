//! `GET/POST /console/login` and `POST /console/logout`: the session cookie holds the API
//! token a person pasted (HttpOnly, SameSite=Strict).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout;
use crate::api::AppState;
use crate::auth::SESSION_COOKIE;

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct Login {
    #[serde(default)]
    pub token: String,
}

fn login_form(message: Option<&str>) -> Markup {
    html! {
        section.login {
            h1 { "Log in to Kaptain" }
            p { "Paste an API token (" code { "kaptain token create" } ")." }
            @if let Some(m) = message { p.alert role="alert" { (m) } }
            form method="post" action="/console/login" {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="off" required autofocus;
                button type="submit" { "Log in" }
            }
        }
    }
}

/// `GET /console/login`.
pub async fn form_page(State(state): State<AppState>) -> Response {
    if state.auth.is_disabled() {
        return Redirect::to("/console").into_response();
    }
    layout::bare("Log in", login_form(None)).into_response()
}

/// `POST /console/login`: a valid token sets the cookie and goes to the overview; anything
/// else shows the form again with the reason (401).
pub async fn submit(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(login): Form<Login>,
) -> Response {
    let peer = peer.map(|c| c.0.0.ip());
    let token = login.token.trim();
    if token.is_empty() {
        return denied("Enter a token.");
    }
    if token
        .bytes()
        .any(|b| !b.is_ascii_graphic() || b == b';' || b == b',')
    {
        return denied("That is not a Kaptain token.");
    }
    match state.auth.check(peer, Some(token)).await {
        Ok(principal) => {
            let secure = if state.hardening.tls { "; Secure" } else { "" };
            let cookie =
                format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
            let mut r = Redirect::to("/console").into_response();
            match HeaderValue::from_str(&cookie) {
                Ok(v) => {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                Err(_) => return denied("That is not a Kaptain token."),
            }
            r.extensions_mut().insert(principal);
            r
        }
        Err(refusal) if refusal.error.status == StatusCode::UNAUTHORIZED => {
            let mut r = denied(&format!("Login failed: {}.", refusal.error.message));
            if let Some(f) = refusal.failed {
                r.extensions_mut().insert(f);
            }
            r
        }
        Err(refusal) => {
            let mut r = layout::bare(
                "Log in",
                login_form(Some(&format!("Login failed: {}", refusal.error.message))),
            )
            .into_response();
            *r.status_mut() = refusal.error.status;
            if let Some(f) = refusal.failed {
                r.extensions_mut().insert(f);
            }
            r
        }
    }
}

fn denied(message: &str) -> Response {
    let mut r = layout::bare("Log in", login_form(Some(message))).into_response();
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// `POST /console/logout`: clears the cookie.
pub async fn logout() -> Response {
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kaptain_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}
