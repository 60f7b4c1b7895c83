//! Who is asking, and may they: API tokens (`Authorization: Bearer kpt_...`, stored hashed by
//! the store), OIDC JWTs (`Authorization: Bearer <jwt>`, checked against the issuer's JWKS) and
//! the console's session cookie (which carries the same token). Roles are ordered
//! `viewer < operator < admin`; scopes limit a principal to clusters or namespaces.
//!
//! Every request but the public ones (health, metrics, the OpenAPI spec and docs, the
//! console's login page and assets) passes [`authenticate`], which puts a [`Principal`] into the
//! request's extensions or answers 401. The API's router then checks the role each operation
//! declares ([`crate::api::access`]), and handlers ask the principal for a scope
//! ([`Principal::ensure`]); both answer 403.

mod oidc;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kaptain_store::{Role, Scope, Store};

pub use oidc::{Oidc, OidcConfig, OidcError};
use throttle::{AuditFailure, Throttle};

use crate::api::error::ApiError;

/// The cookie the console keeps its token in (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "kaptain_session";

/// How requests are authenticated.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    oidc: Option<Arc<Oidc>>,
    /// `--no-auth`: everyone is an admin named `anonymous` (the server only allows this on a
    /// loopback address).
    disabled: bool,
    /// Failed authentications per client address.
    throttle: Arc<Throttle>,
}

impl Auth {
    /// Tokens from `store`, and JWTs when `oidc` is given.
    pub fn new(store: Store, oidc: Option<Arc<Oidc>>) -> Self {
        Auth {
            store,
            oidc,
            disabled: false,
            throttle: Arc::default(),
        }
    }

    /// No authentication at all (`--no-auth`).
    pub fn disabled(store: Store) -> Self {
        Auth {
            store,
            oidc: None,
            disabled: true,
            throttle: Arc::default(),
        }
    }

    /// The same authentication with another throttle (tests use a small one).
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = Arc::new(throttle);
        self
    }

    /// Whether `--no-auth` is in force.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// The principal behind a bearer credential (an API token or a JWT).
    pub async fn principal(&self, credential: &str) -> Result<Principal, ApiError> {
        if credential.starts_with(kaptain_store::TOKEN_PREFIX) {
            return match self.store.authenticate_token(credential).await? {
                Some(t) => Ok(Principal {
                    actor: format!("token:{}", t.name),
                    role: t.role,
                    scopes: t.scopes,
                    method: AuthMethod::Token,
                }),
                None => Err(ApiError::unauthorized("invalid, revoked or expired token")),
            };
        }
        if credential.split('.').count() == 3 {
            let Some(oidc) = &self.oidc else {
                return Err(ApiError::unauthorized(
                    "a JWT was given but no OIDC issuer is configured (--oidc-issuer)",
                ));
            };
            return oidc
                .verify(credential)
                .await
                .map_err(|e| ApiError::unauthorized(format!("JWT rejected: {e}")));
        }
        Err(ApiError::unauthorized(
            "unrecognized credential (expected a kpt_ API token or an OIDC JWT)",
        ))
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Token,
    Oidc,
    /// `--no-auth`.
    None,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who, for the audit log: `token:NAME`, `oidc:SUBJECT`, or `anonymous`.
    pub actor: String,
    pub role: Role,
    /// Where it may act; empty means everywhere.
    pub scopes: Vec<Scope>,
    pub method: AuthMethod,
}

impl Principal {
    /// The principal of `--no-auth`.
    pub fn anonymous() -> Self {
        Principal {
            actor: "anonymous".into(),
            role: Role::Admin,
            scopes: Vec::new(),
            method: AuthMethod::None,
        }
    }

    /// 403 unless the role includes `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{} has role {}; this needs {}",
                self.actor, self.role, role
            )))
        }
    }

    /// Whether the scopes cover `cluster` and, when given, `namespace` (with no namespace,
    /// only a whole-cluster scope does).
    pub fn covers(&self, cluster: &str, namespace: Option<&str>) -> bool {
        kaptain_store::scopes_cover(&self.scopes, cluster, namespace)
    }

    /// Whether any scope names `cluster` (the principal may know it exists and see the
    /// namespaces it is scoped to).
    pub fn touches(&self, cluster: &str) -> bool {
        kaptain_store::scopes_touch(&self.scopes, cluster)
    }

    /// The namespaces of `cluster` the principal is limited to: `None` for all of them.
    pub fn namespaces(&self, cluster: &str) -> Option<Vec<&str>> {
        if self.covers(cluster, None) {
            return None;
        }
        Some(
            self.scopes
                .iter()
                .filter(|s| s.cluster == cluster)
                .filter_map(|s| s.namespace.as_deref())
                .collect(),
        )
    }

    /// 403 unless the scopes cover `cluster` (and `namespace`).
    pub fn ensure(&self, cluster: &str, namespace: Option<&str>) -> Result<(), ApiError> {
        if self.covers(cluster, namespace) {
            return Ok(());
        }
        let what = match namespace {
            Some(ns) => format!("namespace {ns} of cluster {cluster}"),
            None => format!("cluster {cluster}"),
        };
        Err(ApiError::forbidden(format!(
            "{} is not scoped to {what}",
            self.actor
        )))
    }

    /// The cluster and namespace filters of a listing, narrowed to the principal's scopes:
    /// an unscoped principal keeps what it asked for; a principal with one scope gets that
    /// scope when it asked for nothing more precise; a filter outside the scopes is 403, and
    /// so is a listing that would span several scopes (the store filters one cluster and one
    /// namespace at a time: name them).
    pub fn narrow(
        &self,
        cluster: Option<String>,
        namespace: Option<String>,
    ) -> Result<(Option<String>, Option<String>), ApiError> {
        if self.scopes.is_empty() {
            return Ok((cluster, namespace));
        }
        let cluster = match cluster {
            Some(c) => c,
            None => match self.scopes.as_slice() {
                [only] => only.cluster.clone(),
                _ => {
                    return Err(ApiError::forbidden(format!(
                        "{} is scoped to several clusters or namespaces: name one with ?cluster= (and ?namespace=)",
                        self.actor
                    )));
                }
            },
        };
        let namespace = match namespace {
            Some(ns) => Some(ns),
            None if self.covers(&cluster, None) => None,
            None => match self.namespaces(&cluster).unwrap_or_default().as_slice() {
                [only] => Some((*only).to_owned()),
                _ => None,
            },
        };
        self.ensure(&cluster, namespace.as_deref())?;
        Ok((Some(cluster), namespace))
    }

    /// 403 unless no scope limits the principal: what server-wide operations need (tokens,
    /// settings, the audit log), which no cluster or namespace covers. A token scoped to one
    /// cluster must not mint an unscoped one, nor read every cluster's audit records.
    pub fn ensure_everywhere(&self) -> Result<(), ApiError> {
        if self.scopes.is_empty() {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "{} is scoped to some clusters or namespaces; this acts on the whole server",
            self.actor
        )))
    }

    /// 403 unless some scope names `cluster`.
    pub fn ensure_touches(&self, cluster: &str) -> Result<(), ApiError> {
        if self.touches(cluster) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{} is not scoped to cluster {cluster}",
                self.actor
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("not authenticated"))
    }
}

/// The bearer credential of a request: the `Authorization` header, else the console's
/// session cookie.
pub fn credential(parts: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = parts
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
            return Some(rest.trim().to_owned());
        }
        return None;
    }
    parts
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// A failed authentication, for the audit middleware: who, and whether to write it.
#[derive(Debug, Clone, Copy)]
pub struct AuthFailed {
    pub peer: IpAddr,
    pub audit: AuditFailure,
}

/// The client address of a request; `None` for a request that came without a connection
/// (in-process, as the API tests send them), which is not throttled.
pub fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Why a request was not authenticated, ready to answer.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    /// Set for a failed authentication (not for an error of the store).
    pub failed: Option<AuthFailed>,
    /// Seconds to wait, for a throttled address.
    pub retry_after: Option<u64>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = self.error.into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(f) = self.failed {
            r.extensions_mut().insert(f);
        }
        r
    }
}

impl Auth {
    /// The principal behind `credential`, throttled per client address `peer`: an address
    /// that failed too often is refused (429) without the credential being checked.
    pub async fn check(
        &self,
        peer: Option<IpAddr>,
        credential: Option<&str>,
    ) -> Result<Principal, Refusal> {
        if self.disabled {
            return Ok(Principal::anonymous());
        }
        let now = Instant::now();
        if let Some(peer) = peer
            && let Some(wait) = self.throttle.blocked(peer, now)
        {
            let secs = wait.as_secs() + 1;
            return Err(Refusal {
                error: ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!("too many failed authentications from {peer}; retry in {secs} s"),
                ),
                failed: Some(AuthFailed {
                    peer,
                    audit: self.throttle.failed(peer, now),
                }),
                retry_after: Some(secs),
            });
        }
        let checked = match credential {
            Some(c) => self.principal(c).await,
            None => Err(ApiError::unauthorized(
                "missing credentials: send Authorization: Bearer <token>",
            )),
        };
        checked.map_err(|error| Refusal {
            failed: match peer {
                Some(peer) if error.status == StatusCode::UNAUTHORIZED => Some(AuthFailed {
                    peer,
                    audit: self.throttle.failed(peer, now),
                }),
                _ => None,
            },
            error,
            retry_after: None,
        })
    }
}

/// Middleware: authenticates the request or answers 401 (429 for an address that failed too
/// often, see [`throttle`]).
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let credential = credential(request.headers());
    let principal = match auth.check(peer(&request), credential.as_deref()).await {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    request.extensions_mut().insert(principal.clone());
    let mut response = next.run(request).await;
    // For the audit middleware, which wraps this one.
    response.extensions_mut().insert(principal);
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn scoped(scopes: Vec<Scope>) -> Principal {
        Principal {
            actor: "token:t".into(),
            role: Role::Operator,
            scopes,
            method: AuthMethod::Token,
        }
    }

    #[test]
    fn scopes_cover_clusters_and_namespaces() {
        let p = scoped(vec![Scope::cluster("a"), Scope::namespace("b", "shop")]);
        assert!(p.covers("a", None));
        assert!(p.covers("a", Some("x")));
        assert!(!p.covers("b", None));
        assert!(p.covers("b", Some("shop")));
        assert!(!p.covers("b", Some("other")));
        assert!(!p.covers("c", Some("shop")));
        assert!(p.touches("b"));
        assert!(!p.touches("c"));
        assert_eq!(p.namespaces("a"), None);
        assert_eq!(p.namespaces("b"), Some(vec!["shop"]));
        assert_eq!(p.namespaces("c"), Some(vec![]));
        assert!(scoped(vec![]).covers("anything", None));
    }

    #[test]
    fn listings_are_narrowed_to_the_scopes() {
        let all = scoped(vec![]);
        assert_eq!(all.narrow(None, None).unwrap(), (None, None));
        let one_ns = scoped(vec![Scope::namespace("b", "shop")]);
        assert_eq!(
            one_ns.narrow(None, None).unwrap(),
            (Some("b".into()), Some("shop".into()))
        );
        assert!(
            one_ns
                .narrow(Some("b".into()), Some("other".into()))
                .is_err()
        );
        assert!(one_ns.narrow(Some("a".into()), None).is_err());
        let two = scoped(vec![Scope::cluster("a"), Scope::namespace("b", "shop")]);
        assert!(two.narrow(None, None).is_err());
        assert_eq!(
            two.narrow(Some("a".into()), None).unwrap(),
            (Some("a".into()), None)
        );
        assert_eq!(
            two.narrow(Some("b".into()), None).unwrap(),
            (Some("b".into()), Some("shop".into()))
        );
        let two_ns = scoped(vec![Scope::namespace("b", "x"), Scope::namespace("b", "y")]);
        assert!(two_ns.narrow(Some("b".into()), None).is_err());
        assert!(two_ns.narrow(Some("b".into()), Some("y".into())).is_ok());
    }

    #[test]
    fn roles_are_ordered() {
        let p = scoped(vec![]);
        assert!(p.require(Role::Viewer).is_ok());
        assert!(p.require(Role::Operator).is_ok());
        let e = p.require(Role::Admin).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn only_an_unscoped_principal_acts_server_wide() {
        assert!(scoped(vec![]).ensure_everywhere().is_ok());
        let e = scoped(vec![Scope::cluster("a")])
            .ensure_everywhere()
            .unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::FORBIDDEN);
        assert!(
            scoped(vec![Scope::namespace("a", "shop")])
                .ensure_everywhere()
                .is_err()
        );
    }

    #[test]
    fn credential_from_header_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h), None);
        h.insert(
            header::COOKIE,
            "a=b; kaptain_session=kpt_x; c=d".parse().unwrap(),
        );
        assert_eq!(credential(&h).as_deref(), Some("kpt_x"));
        h.insert(header::AUTHORIZATION, "Bearer kpt_y".parse().unwrap());
        assert_eq!(credential(&h).as_deref(), Some("kpt_y"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(credential(&h), None);
    }
}
