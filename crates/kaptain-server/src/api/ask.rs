//! `GET /api/v1/ask?q=`: a question in plain words, answered from the live reports of the
//! clusters in the principal's scope — the same reading and answers as `kaptain ask`
//! (kaptain-chat), and what the console's chat box shows. Asking only looks.

use axum::Json;
use axum::extract::{Query, State};
use kaptain_chat::{Answer, Intent, Known, Request};
use kaptain_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::auth::Principal;
use crate::llm::Investigation;

/// Questions longer than this are refused (a question, not a document).
pub const MAX_QUESTION: usize = 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    // GET reads a question; POST takes a request to act (api::ask_act), on the same path.
    OpenApiRouter::new()
        .routes(Access::viewer(Target::Namespace).on(routes!(ask_question)))
        .routes(Access::viewer(Target::Namespace).on(routes!(super::ask_act::ask_to_act)))
}

/// A question.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AskParams {
    /// The question, e.g. `why is the checkout deployment failing in shop?`.
    #[param(max_length = 1000)]
    pub q: String,
    /// Ask about this cluster only (a cluster named in the question must agree).
    pub cluster: Option<String>,
}

/// How a question was read, and the answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AskReply {
    /// The structured request the question became.
    pub request: Request,
    /// One answer per cluster asked about (for help, one answer with no cluster).
    pub answers: Vec<ClusterAnswer>,
    /// The LLM investigator's answer, when the rule reader could not read the whole question
    /// (it said words back) and the server's settings configure an LLM. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investigation: Option<Investigation>,
}

/// The answer from one cluster's findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub answer: Answer,
}

/// Ask in plain words: what is wrong, why an object fails, how to fix it, which findings match,
/// what a check means. The question is read by rules into a structured request and answered
/// from the findings. When the rules could not read all of it (words said back in
/// `request.ignored`) and the server's settings configure an LLM, the investigator also
/// answers (`investigation`): a tool-calling model over Kaptain's tools with the caller's role
/// and scopes, Kaptain's root causes first; audited and counted in `/metrics`.
#[utoipa::path(get, path = "/ask", tag = "ask",
    params(AskParams),
    responses(
        (status = 200, body = AskReply),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn ask_question(
    State(state): State<AppState>,
    principal: Principal,
    params: Result<Query<AskParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AskReply>> {
    let Query(p) = params?;
    let mut reply = ask(&state, &principal, &p.q, p.cluster)?;
    reply.investigation = investigate_if_needed(&state, &principal, &p.q, &reply).await;
    Ok(Json(reply))
}

/// The investigator's answer when the rules left words unread and an LLM is configured: for
/// the one cluster answered (the first, when several were).
pub async fn investigate_if_needed(
    state: &AppState,
    principal: &Principal,
    question: &str,
    reply: &AskReply,
) -> Option<Investigation> {
    if reply.request.ignored.is_empty() {
        return None;
    }
    let cluster = reply.answers.iter().find_map(|a| a.cluster.clone())?;
    let (provider, settings) = match crate::llm::provider_for(
        &state.store,
        kaptain_llm::config::Task::Investigate,
    )
    .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return None,
        Err(e) => {
            return Some(Investigation {
                cluster,
                answer: String::new(),
                error: Some(e),
                transcript: None,
            });
        }
    };
    Some(crate::llm::investigate(state, principal, &cluster, question, provider, &settings).await)
}

/// Reads `question` and answers it for the cluster it names (or `cluster`), else for every
/// cluster the principal may see, from the findings it may see.
pub fn ask(
    state: &AppState,
    principal: &Principal,
    question: &str,
    cluster: Option<String>,
) -> ApiResult<AskReply> {
    principal.require(Role::Viewer)?;
    if question.chars().count() > MAX_QUESTION {
        return Err(ApiError::bad_request(format!(
            "the question is longer than {MAX_QUESTION} characters"
        )));
    }
    let names = state.visible_clusters(principal, None);
    let request = kaptain_chat::parse(question, &Known { clusters: &names })
        .map_err(ApiError::bad_request)?;
    // Help needs no cluster; nor does what a check means when no cluster is in scope.
    let no_clusters = names.is_empty() && request.cluster.is_none() && cluster.is_none();
    if request.intent == Intent::Help || (request.intent == Intent::Explain && no_clusters) {
        let answer = kaptain_chat::answer(&request, None);
        return Ok(AskReply {
            request,
            answers: vec![ClusterAnswer {
                cluster: None,
                answer,
            }],
            investigation: None,
        });
    }
    let chosen = match (cluster, &request.cluster) {
        (Some(a), Some(b)) if a != *b => {
            return Err(ApiError::bad_request(format!(
                "the question names cluster {b} but ?cluster= is {a}"
            )));
        }
        (a, b) => a.or_else(|| b.clone()),
    };
    let targets = match chosen {
        Some(c) => {
            principal.ensure_touches(&c)?;
            if state.hub.cluster(&c).is_none() {
                return Err(ApiError::not_found(format!("cluster {c} not found")));
            }
            if let Some(ns) = &request.namespace {
                principal.ensure(&c, Some(ns))?;
            }
            vec![c]
        }
        // Every cluster in scope; asked about a namespace, those where it is in scope.
        None => match &request.namespace {
            Some(ns) => {
                let covered: Vec<String> = names
                    .iter()
                    .filter(|c| principal.covers(c, Some(ns)))
                    .cloned()
                    .collect();
                if covered.is_empty() && !names.is_empty() {
                    return Err(ApiError::forbidden(format!(
                        "{} is not scoped to namespace {ns}",
                        principal.actor
                    )));
                }
                covered
            }
            None => names,
        },
    };
    let answers = targets
        .into_iter()
        .map(|c| ClusterAnswer {
            answer: answer_for(state, principal, &request, &c),
            cluster: Some(c),
        })
        .collect();
    Ok(AskReply {
        request,
        answers,
        investigation: None,
    })
}

fn answer_for(state: &AppState, principal: &Principal, request: &Request, cluster: &str) -> Answer {
    let r = Request {
        cluster: Some(cluster.to_owned()),
        ..request.clone()
    };
    match state.visible_findings(principal, cluster) {
        Some(findings) => kaptain_chat::answer(&r, Some(&findings)),
        None => {
            let mut a = kaptain_chat::answer(&r, None);
            if r.intent != Intent::Explain {
                a.headline = format!(
                    "Cluster {cluster} has no report yet: it is unreachable or still being read."
                );
            }
            a
        }
    }
}
