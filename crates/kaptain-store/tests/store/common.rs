//! Backends and fixtures shared by the store tests.

use jiff::{SignedDuration, Timestamp};
use kaptain_model::{Category, Finding, ObjectRef, Remediation, Severity};
use kaptain_store::{SecretKey, Store, StoreOptions};
use sqlx::{AssertSqlSafe, Connection as _};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty database of one backend.
pub struct Backend {
    pub kind: Kind,
    pub url: String,
    /// The SQLite file's directory (removed when the test ends).
    pub dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub async fn sqlite() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
        Ok(Backend {
            kind: Kind::Sqlite,
            url,
            dir: Some(dir),
        })
    }

    pub async fn postgres() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        // Starting the shared server blocks: keep it off the runtime's worker threads.
        let url = tokio::task::spawn_blocking(|| {
            kaptain_testenv::Postgres::shared()
                .fresh_database()
                .map_err(|e| e.to_string())
        })
        .await??;
        Ok(Backend {
            kind: Kind::Postgres,
            url,
            dir: None,
        })
    }

    /// A store without a key.
    pub async fn open(&self) -> Result<Store, kaptain_store::Error> {
        Store::open(&self.url).await
    }

    /// A store with `key` and a pool of `connections`.
    pub async fn open_with(
        &self,
        key: Option<SecretKey>,
        connections: u32,
    ) -> Result<Store, kaptain_store::Error> {
        Store::open_with(StoreOptions {
            secret_key: key,
            max_connections: Some(connections),
            ..StoreOptions::new(&self.url)
        })
        .await
    }

    /// Runs `sql` (several statements allowed) on a connection of its own, behind the
    /// store's back: how an attacker with database access would tamper with it.
    pub async fn raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut c).await?;
                c.close().await
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut c).await?;
                c.close().await
            }
        }
    }

    /// Removes the triggers that keep the audit table append-only.
    pub async fn drop_audit_triggers(&self) -> Result<(), sqlx::Error> {
        match self.kind {
            Kind::Sqlite => {
                self.raw("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
                    .await
            }
            Kind::Postgres => {
                self.raw("DROP TRIGGER audit_log_no_update_delete ON audit_log;")
                    .await
            }
        }
    }
}

/// A fixed point in time for deterministic tests.
pub fn t0() -> Timestamp {
    "2025-03-01T12:00:00Z".parse().expect("time")
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

/// A finding of check `check` on `Pod ns/name`.
pub fn finding(check: &str, ns: Option<&str>, name: &str, severity: Severity) -> Finding {
    let object = ObjectRef::new("v1", "Pod", ns, name);
    Finding {
        title: format!("{check} on {name}"),
        message: "something is wrong".into(),
        evidence: vec![kaptain_model::Evidence::status("restarts: 3")],
        remediation: Remediation {
            summary: "fix it".into(),
            commands: vec![format!("kubectl describe pod {name}")],
            patch: None,
        },
        ..Finding::new(check, severity, Category::Reliability, object)
    }
}

/// `finding` that is a symptom of `cause`.
pub fn symptom(check: &str, ns: Option<&str>, name: &str, cause: &Finding) -> Finding {
    finding(check, ns, name, Severity::High).caused_by([cause.fingerprint.clone()])
}

pub fn fingerprints<'a>(
    items: impl IntoIterator<Item = &'a kaptain_store::StoredFinding>,
) -> Vec<String> {
    let mut v: Vec<String> = items
        .into_iter()
        .map(|f| f.finding.fingerprint.clone())
        .collect();
    v.sort();
    v
}
