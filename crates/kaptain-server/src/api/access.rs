//! Who may call each API operation, declared once, where its route is registered: the role it
//! needs and what the caller's scopes must cover ([`Access`]). The router enforces the role
//! (and, for server-wide operations, that no scope limits the caller) before the handler runs;
//! handlers check the cluster or namespace a request names against the scopes, since only they
//! know it. The OpenAPI document carries the declaration on every operation as
//! `x-kaptain-access`, and the RBAC matrix test (tests/api/rbac_matrix.rs) sends every
//! operation with every role and kind of scope to a real server and checks the answers
//! against it: an operation without a declaration fails that test.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use kaptain_store::Role;
use serde_json::json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::UtoipaMethodRouter;

use super::AppState;
use super::error::ApiError;
use crate::auth::Principal;

/// The OpenAPI extension that carries an operation's [`Access`]: `{"role": "operator",
/// "scope": "whole-cluster", "out_of_scope": 403}` (one key: utoipa keeps extensions in a
/// hash map, and one key keeps the committed document's order stable).
pub const EXTENSION: &str = "x-kaptain-access";

/// What the caller's scopes must cover for a request (a caller without scopes may act
/// everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The server as a whole (tokens, settings, the audit log): only a caller without scopes.
    Server,
    /// Nothing: the answer holds only what the scopes cover (listings, the stream, who am I).
    Visible,
    /// The cluster the request names: some scope must name it (one of its namespaces is
    /// enough).
    Cluster,
    /// The cluster the request names, all of it: a whole-cluster scope.
    WholeCluster,
    /// The namespace the request names in the cluster it names: a scope covering it (a
    /// request that names no namespace is narrowed to the namespaces the scopes cover).
    Namespace,
}

impl Target {
    /// `server`, `visible`, `cluster`, `whole-cluster` or `namespace`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Server => "server",
            Target::Visible => "visible",
            Target::Cluster => "cluster",
            Target::WholeCluster => "whole-cluster",
            Target::Namespace => "namespace",
        }
    }
}

/// The role an operation needs and what the caller's scopes must cover.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub role: Role,
    pub target: Target,
    /// A caller whose scopes do not cover the object is answered 404, as if it were absent
    /// (its id is guessable), instead of 403.
    pub hides: bool,
}

impl Access {
    /// Any authenticated caller (every role includes viewer).
    pub const fn viewer(target: Target) -> Access {
        Access {
            role: Role::Viewer,
            target,
            hides: false,
        }
    }

    /// Operators and admins.
    pub const fn operator(target: Target) -> Access {
        Access {
            role: Role::Operator,
            target,
            hides: false,
        }
    }

    /// Admins.
    pub const fn admin(target: Target) -> Access {
        Access {
            role: Role::Admin,
            target,
            hides: false,
        }
    }

    /// Out of scope looks the same as absent (404).
    pub const fn hiding(self) -> Access {
        Access {
            hides: true,
            ..self
        }
    }

    /// What a caller whose scopes do not cover the target gets; `None` when scopes never
    /// refuse the operation.
    pub fn out_of_scope(&self) -> Option<StatusCode> {
        match self.target {
            Target::Visible => None,
            _ if self.hides => Some(StatusCode::NOT_FOUND),
            _ => Some(StatusCode::FORBIDDEN),
        }
    }

    /// `routes` (from `utoipa_axum::routes!`) with this access: the router refuses a caller
    /// [`Access::admit`] refuses before the handler runs, and every operation of `routes`
    /// documents it (`x-kaptain-access`, and the 401 and 403 it may answer).
    pub fn on(self, routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
        let (schemas, mut paths, router) = routes;
        for item in paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                self.document(op);
            }
        }
        let router = router.route_layer(middleware::from_fn(
            move |request: Request, next: Next| async move {
                let admitted = match request.extensions().get::<Principal>() {
                    Some(p) => self.admit(p),
                    None => Err(ApiError::unauthorized("not authenticated")),
                };
                match admitted {
                    Ok(()) => next.run(request).await,
                    Err(e) => e.into_response(),
                }
            },
        ));
        (schemas, paths, router)
    }

    /// What the router checks before the handler: the role, and for a server-wide operation
    /// that no scope limits the caller.
    pub fn admit(&self, principal: &Principal) -> Result<(), ApiError> {
        principal.require(self.role)?;
        if self.target == Target::Server {
            principal.ensure_everywhere()?;
        }
        Ok(())
    }

    fn document(&self, op: &mut Operation) {
        let mut access = json!({"role": self.role.as_str(), "scope": self.target.as_str()});
        if let Some(status) = self.out_of_scope() {
            access["out_of_scope"] = status.as_u16().into();
        }
        op.extensions
            .get_or_insert_with(Default::default)
            .insert(EXTENSION.to_owned(), access);
        let error = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build()
        };
        let responses = &mut op.responses.responses;
        responses.entry("401".to_owned()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description("Missing, invalid, revoked or expired credentials")
                    .content("application/json", error())
                    .build(),
            )
        });
        if self.role > Role::Viewer || self.out_of_scope() == Some(StatusCode::FORBIDDEN) {
            responses.entry("403".to_owned()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description("The caller's role or scopes do not allow this")
                        .content("application/json", error())
                        .build(),
                )
            });
        }
    }
}
