//! API tokens: a role, optional cluster/namespace scopes, shown once, stored as a hash.
//!
//! A secret is `kpt_` followed by 32 bytes from the operating system's random number
//! generator in base64url (43 characters). Only its SHA-256 is stored. A slow password hash
//! (argon2, bcrypt) exists to make guessing low-entropy human passwords expensive; a 256-bit
//! random secret cannot be guessed, so one SHA-256 is as strong and keeps authentication to
//! one indexed lookup per request. Looking the token up *by its hash* also means no secret is
//! ever compared byte by byte, so response timing tells an attacker nothing about it.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::Store;
use crate::db::{RowExt, micros, sha256_hex, truncate, with_pool};
use crate::error::{Error, Result};

/// Every token secret starts with this, so leaked tokens are easy to recognise (and to scan
/// for in repositories).
pub const TOKEN_PREFIX: &str = "kpt_";
/// Random bytes in a secret.
const SECRET_BYTES: usize = 32;
/// Characters of the secret kept in clear as a hint (`kpt_` + 8).
const HINT_CHARS: usize = 12;
/// `last_used_at` is written at most once per this many microseconds per token.
const LAST_USED_RESOLUTION_US: i64 = 60_000_000;

/// What a token may do. Ordered: `Viewer < Operator < Admin`; a role includes the ones below.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything in scope.
    Viewer,
    /// Also approve or reject healing actions and start diagnose runs.
    Operator,
    /// Also manage tokens and settings.
    Admin,
}

impl Role {
    /// `viewer`, `operator` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(Error::InvalidArgument(format!(
                "unknown role {other:?} (expected viewer, operator or admin)"
            ))),
        }
    }
}

/// Where a token may act: one cluster, or one namespace of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scope {
    /// The cluster's name.
    pub cluster: String,
    /// Only this namespace; `None` for the whole cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Scope {
    /// The whole of `cluster`.
    pub fn cluster(cluster: impl Into<String>) -> Self {
        Scope {
            cluster: cluster.into(),
            namespace: None,
        }
    }

    /// One namespace of `cluster`.
    pub fn namespace(cluster: impl Into<String>, namespace: impl Into<String>) -> Self {
        Scope {
            cluster: cluster.into(),
            namespace: Some(namespace.into()),
        }
    }
}

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The token's id.
    pub id: i64,
    /// A name people recognise (`ci`, `alice's laptop`).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Where it may do it; empty means everywhere.
    pub scopes: Vec<Scope>,
    /// The first characters of the secret (`kpt_AbCd1234`), to tell tokens apart.
    pub hint: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl TokenInfo {
    /// Not revoked and not expired at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    /// Whether the token's scopes cover `cluster` and, when given, `namespace`. With no
    /// namespace (a cluster-wide resource or listing) only a whole-cluster scope covers it.
    /// A token with no scopes covers everything.
    pub fn covers(&self, cluster: &str, namespace: Option<&str>) -> bool {
        scopes_cover(&self.scopes, cluster, namespace)
    }

    /// Whether any scope names `cluster` (possibly only some of its namespaces): the token
    /// may see that the cluster exists.
    pub fn touches_cluster(&self, cluster: &str) -> bool {
        scopes_touch(&self.scopes, cluster)
    }
}

/// Whether `scopes` allow `namespace` of `cluster` (`None`: the whole cluster). No scopes
/// means everywhere. The one rule for tokens and for OIDC principals alike.
pub fn scopes_cover(scopes: &[Scope], cluster: &str, namespace: Option<&str>) -> bool {
    scopes.is_empty()
        || scopes.iter().any(|s| {
            s.cluster == cluster
                && match (&s.namespace, namespace) {
                    (None, _) => true,
                    (Some(scoped), Some(ns)) => scoped == ns,
                    (Some(_), None) => false,
                }
        })
}

/// Whether any of `scopes` names `cluster` (or there are none).
pub fn scopes_touch(scopes: &[Scope], cluster: &str) -> bool {
    scopes.is_empty() || scopes.iter().any(|s| s.cluster == cluster)
}

const COLUMNS: &str = "id, name, role, scopes, hint, created_by, created_at, expires_at, \
                       last_used_at, revoked_at";

fn decode(row: &impl RowExt) -> Result<TokenInfo> {
    let id = row.i64("id")?;
    let role = row
        .string("role")?
        .parse()
        .map_err(|e| Error::Corrupt(format!("token {id}: {e}")))?;
    let scopes = serde_json::from_str(&row.string("scopes")?)
        .map_err(|e| Error::Corrupt(format!("token {id} scopes: {e}")))?;
    Ok(TokenInfo {
        id,
        name: row.string("name")?,
        role,
        scopes,
        hint: row.string("hint")?,
        created_by: row.string("created_by")?,
        created_at: row.ts("created_at")?,
        expires_at: row.opt_ts("expires_at")?,
        last_used_at: row.opt_ts("last_used_at")?,
        revoked_at: row.opt_ts("revoked_at")?,
    })
}

/// A new secret: `kpt_` + base64url(32 random bytes).
fn new_secret() -> Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether `secret` has the shape of a secret this store hands out.
fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl Store {
    /// Creates a token and returns it with its secret — the only time the secret is
    /// available: only its SHA-256 is stored.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        scopes: Vec<Scope>,
        expires_at: Option<Timestamp>,
        created_by: &str,
    ) -> Result<(TokenInfo, String)> {
        if name.trim().is_empty() {
            return Err(Error::InvalidArgument("token name is empty".into()));
        }
        if let Some(s) = scopes.iter().find(|s| s.cluster.is_empty()) {
            return Err(Error::InvalidArgument(format!(
                "token scope with an empty cluster name: {s:?}"
            )));
        }
        let secret = new_secret()?;
        let hint: String = secret.chars().take(HINT_CHARS).collect();
        let scopes_json = serde_json::to_string(&scopes)?;
        let now = micros(Timestamp::now());
        let expires = expires_at.map(truncate).transpose()?.map(micros);
        let info = with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new(
                "INSERT INTO api_tokens (name, role, scopes, secret_hash, hint, created_by, \
                 created_at, expires_at) VALUES (",
            );
            let mut values = qb.separated(", ");
            values
                .push_bind(name.to_owned())
                .push_bind(role.as_str())
                .push_bind(scopes_json)
                .push_bind(sha256_hex(secret.as_bytes()))
                .push_bind(hint)
                .push_bind(created_by.to_owned())
                .push_bind(now)
                .push_bind(expires);
            qb.push(") RETURNING ").push(COLUMNS);
            let row = qb.build().fetch_one(pool).await?;
            decode(&row)?
        });
        Ok((info, secret))
    }

    /// The active token with this secret: `None` when the secret is unknown, malformed,
    /// revoked or expired. Records the use (`last_used_at`, at most one write a minute).
    pub async fn authenticate_token(&self, secret: &str) -> Result<Option<TokenInfo>> {
        if !well_formed(secret) {
            return Ok(None);
        }
        let hash = sha256_hex(secret.as_bytes());
        let now_ts = Timestamp::now();
        let now = micros(now_ts);
        let found = with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(COLUMNS)
                .push(" FROM api_tokens WHERE secret_hash = ")
                .push_bind(hash);
            let row = qb.build().fetch_optional(pool).await?;
            row.as_ref().map(decode).transpose()?
        });
        let Some(mut info) = found else {
            return Ok(None);
        };
        if !info.is_active(now_ts) {
            return Ok(None);
        }
        let stale = info
            .last_used_at
            .is_none_or(|t| micros(t) < now - LAST_USED_RESOLUTION_US);
        if stale {
            with_pool!(self, pool => {
                sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(now)
                .bind(info.id)
                .bind(now - LAST_USED_RESOLUTION_US)
                .execute(pool)
                .await?;
            });
            info.last_used_at = Some(crate::db::from_micros(now)?);
        }
        Ok(Some(info))
    }

    /// Every token (active, expired and revoked), by id.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(COLUMNS).push(" FROM api_tokens ORDER BY id");
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter().map(decode).collect()
        })
    }

    /// Revokes token `id` (from now on it authenticates nothing) and returns it. Revoking a
    /// revoked token keeps its first revocation time.
    pub async fn revoke_token(&self, id: i64) -> Result<TokenInfo> {
        let now = micros(Timestamp::now());
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ",
            );
            qb.push_bind(now)
                .push(") WHERE id = ")
                .push_bind(id)
                .push(" RETURNING ")
                .push(COLUMNS);
            let row = qb.build().fetch_optional(pool).await?;
            match row {
                Some(row) => decode(&row),
                None => Err(Error::NotFound { what: "token", id }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_well_formed_and_distinct() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert!(!well_formed("kpt_short"));
        assert!(!well_formed(&a.replacen("kpt_", "xyz_", 1)));
        assert!(!well_formed(&format!("{a}=")));
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert_eq!("Admin".parse::<Role>().expect("role"), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        assert_eq!(
            serde_json::to_string(&Role::Operator).expect("json"),
            "\"operator\""
        );
    }

    #[test]
    fn scopes_cover_clusters_and_namespaces() {
        let mut t = TokenInfo {
            id: 1,
            name: "t".into(),
            role: Role::Viewer,
            scopes: vec![],
            hint: String::new(),
            created_by: "x".into(),
            created_at: Timestamp::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        assert!(t.covers("any", None));
        t.scopes = vec![Scope::cluster("prod"), Scope::namespace("dev", "shop")];
        assert!(t.covers("prod", None));
        assert!(t.covers("prod", Some("x")));
        assert!(t.covers("dev", Some("shop")));
        assert!(!t.covers("dev", Some("other")));
        assert!(!t.covers("dev", None));
        assert!(t.touches_cluster("dev"));
        assert!(!t.covers("staging", Some("shop")));
        assert!(!t.touches_cluster("staging"));
    }
}
