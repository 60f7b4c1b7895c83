//! Kaptain's persistent store, for `kaptain serve`: the history of findings per cluster (when
//! each appeared and cleared, for MTTR and charts), diagnose runs, API tokens, an append-only
//! hash-chained audit log, and settings whose secret values are encrypted at rest.
//!
//! # Backends
//!
//! **SQLite by default** (one file, zero setup: `sqlite:///var/lib/kaptain/kaptain.db`,
//! `sqlite://relative.db`, `sqlite::memory:`) and **PostgreSQL** (`postgres://...`) when several
//! server replicas share one store. [`Store::open`] picks the backend from the URL, creates a
//! missing SQLite file (and its directory) and runs the embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`; on PostgreSQL sqlx takes an advisory lock so
//! replicas starting together migrate once).
//!
//! ## Why an enum of two pools, not sqlx's `Any` driver
//!
//! `Any` hides which backend a connection talks to and passes every value through a
//! type-erased layer (a smaller set of types, checked only at run time). The store needs the
//! backend-specific pieces for its guarantees — `BEGIN IMMEDIATE` on SQLite and
//! `pg_advisory_xact_lock` on PostgreSQL, so that the audit chain never forks and scans of one
//! cluster never interleave — and different DDL per backend (autoincrement vs `BIGSERIAL`,
//! trigger syntax). So it holds `enum Db { Sqlite(SqlitePool), Postgres(PgPool) }`. Most SQL
//! is still written once — both backends accept `$N` placeholders, `RETURNING`, partial
//! indexes, row values, `ON CONFLICT` and `UPDATE ... FROM (VALUES ...)` — and a small macro
//! expands each query body once per backend, so each is type-checked against its own driver.
//! Only locking differs. Times are stored as integer microseconds since the epoch and JSON as
//! text, which keeps the two schemas column-for-column the same.
//!
//! Queries are plain `sqlx::query` with run-time binds: no `DATABASE_URL` at build time.
//!
//! # Schema
//!
//! Column for column the same on both backends (`migrations/*/`); times are integer
//! microseconds since the epoch, JSON is text.
//!
//! | table | one row per | notes |
//! |---|---|---|
//! | `findings` | occurrence of a finding in a cluster | `cluster`, `fingerprint`, `check_id`, `severity` + `severity_rank` (info 0 .. critical 4), `namespace`, `kind`, `name`, `is_root`, `first_seen`, `last_seen`, `cleared_at` (NULL while open), `content_hash`, `finding` (kaptain-model JSON); unique open `(cluster, fingerprint)`; listing indexes `(severity_rank, first_seen, id)` descending, with and without `cluster`, over all rows and over open rows only |
//! | `cluster_scans` | cluster | `last_scan_at` (the `last_seen` of its open findings), `open_count` |
//! | `runs` | diagnose run | status, progress, message, summary JSON, timestamps |
//! | `api_tokens` | API token | role, scopes JSON, SHA-256 of the secret (unique), hint, expiry, last use, revocation |
//! | `audit_log` | audit record | `seq` primary key, `prev_hash`, `hash`; triggers reject UPDATE and DELETE |
//! | `settings` | setting | `secret` flag; secret values sealed with XChaCha20-Poly1305 |
//! | `claims` | named claim | `holder`, `acquired_at`, `expires_at`: which server replica does a job (records a cluster's findings history) until when; see [`Store::hold_claim`] |
//!
//! # Concurrency
//!
//! A [`Store`] is cheap to clone and safe to share between tasks. Every write that reads
//! before it writes (a scan, an audit append) runs in one transaction: on SQLite a
//! `BEGIN IMMEDIATE` transaction (the database's single writer lock, so other processes wait
//! too) behind an in-process mutex; on PostgreSQL under a transaction-scoped advisory lock,
//! so replicas serialize on the same lock.

#![warn(missing_docs)]

mod audit;
mod claim;
mod cursor;
mod db;
mod error;
mod findings;
mod runs;
mod settings;
mod stats;
mod tokens;

use std::path::PathBuf;
use std::sync::Arc;

pub use audit::{AuditQuery, AuditRecord, AuditVerification, GENESIS_HASH, NewAudit};
pub use claim::{Claim, new_holder_id};
pub use cursor::{DEFAULT_LIMIT, MAX_LIMIT, Page};
pub use error::{Error, Result};
pub use findings::{FindingQuery, FindingState, ScanDiff, StoredFinding, StoredFindingJson};
pub use runs::{Run, RunStatus};
pub use settings::{KEY_ENV, SecretKey, SettingInfo, load_or_create_key};
pub use stats::{CheckMttr, ClusterScan, MAX_BUCKETS, MttrStats, SeverityBucket, SeverityCounts};
pub use tokens::{Role, Scope, TOKEN_PREFIX, TokenInfo, scopes_cover, scopes_touch};

use db::Db;

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://...`, `sqlite::memory:` or `postgres://...` (see [`Store::open`]).
    pub url: String,
    /// The key that encrypts secret settings. Without one, secret settings can be neither
    /// written nor read (everything else works).
    pub secret_key: Option<SecretKey>,
    /// Connections in the pool (default 10; an in-memory SQLite database always uses 1).
    pub max_connections: Option<u32>,
    /// How long to wait for a connection, including the first one at open (default 30 s).
    pub acquire_timeout: Option<std::time::Duration>,
    /// Create a missing SQLite file (default). When false, opening a SQLite URL whose file
    /// does not exist fails with [`Error::NoDatabase`] (for tools that only read).
    pub create_if_missing: bool,
}

impl StoreOptions {
    /// Options for `url` with no key and the default pool size.
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            secret_key: None,
            max_connections: None,
            acquire_timeout: None,
            create_if_missing: true,
        }
    }
}

/// A handle on the store. Clones share the pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) key: Option<Arc<SecretKey>>,
    /// Writers of this process queue here before `BEGIN IMMEDIATE` on SQLite, instead of
    /// spinning on SQLite's busy handler.
    pub(crate) sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("has_key", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (and migrates) the store at `url`, without an encryption key:
    ///
    /// - `sqlite:///abs/path.db`, `sqlite://rel/path.db` (relative to the working directory):
    ///   a file, created with its directory if missing; WAL journal.
    /// - `sqlite::memory:`: a private in-memory database, gone when the store is dropped.
    /// - `postgres://user:password@host:port/db` (or `postgresql://`, with the usual query
    ///   parameters such as `sslmode`): the database must exist; tables are created.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(StoreOptions::new(url)).await
    }

    /// [`Store::open`] with the key that encrypts secret settings.
    pub async fn open_with_key(url: &str, key: SecretKey) -> Result<Store> {
        Store::open_with(StoreOptions {
            secret_key: Some(key),
            ..StoreOptions::new(url)
        })
        .await
    }

    /// Opens the store as `options` say.
    pub async fn open_with(options: StoreOptions) -> Result<Store> {
        let db = connect_sqlite_patiently(&options).await?;
        match &db {
            Db::Sqlite(pool) => migrate_sqlite(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(Store {
            db,
            key: options.secret_key.map(Arc::new),
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether secret settings can be written and read (the store has a key).
    pub fn has_secret_key(&self) -> bool {
        self.key.is_some()
    }

    /// Closes every connection, waiting for those in use to be returned. Dropping the last
    /// clone closes the pool too, without waiting.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Attempts at opening or migrating a SQLite database that others are opening or migrating
/// at the same time; the n-th retry waits n × [`SQLITE_RETRY_STEP`] first (~2 s in all).
const SQLITE_MIGRATION_ATTEMPTS: u32 = 12;
const SQLITE_RETRY_STEP: std::time::Duration = std::time::Duration::from_millis(30);

/// [`db::connect`], retried while SQLite answers "database is locked" at once: switching a
/// new file to WAL, or a racing opener's migration, can refuse without waiting for the busy
/// timeout (seen with six `kaptain token create` on one new file under load).
async fn connect_sqlite_patiently(options: &StoreOptions) -> Result<Db> {
    if !options.url.starts_with("sqlite:") {
        return db::connect(options).await;
    }
    let mut attempt = 1;
    loop {
        match db::connect(options).await {
            Err(Error::Database(e)) if is_locked(&e) && attempt < SQLITE_MIGRATION_ATTEMPTS => {
                tokio::time::sleep(SQLITE_RETRY_STEP * attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, with any extended code.
fn is_locked(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Runs the SQLite migrations. sqlx takes no lock for them on SQLite, so openers of a new
/// file racing each other (two stores in one process, or `kaptain serve` and
/// `kaptain token create` starting together) apply the same migration and the loser fails
/// with "table ... already exists". Openers in this process take turns; one that loses to
/// another process runs the migrator again, which skips what the winner applied (each
/// migration and its record commit together).
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = TURN.lock().await;
    let mut attempt = 1;
    loop {
        match SQLITE_MIGRATIONS.run(pool).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < SQLITE_MIGRATION_ATTEMPTS => {
                tokio::time::sleep(SQLITE_RETRY_STEP * attempt).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The store the server uses when given no `--database-url`:
/// `sqlite://$XDG_DATA_HOME/kaptain/kaptain.db`, else
/// `sqlite://$HOME/.local/share/kaptain/kaptain.db`, else `sqlite://kaptain.db` (the
/// working directory). Absolute paths yield `sqlite:///...`.
pub fn default_database_url() -> String {
    format!("sqlite://{}", default_database_path().display())
}

/// The file behind [`default_database_url`].
pub fn default_database_path() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match data {
        Some(dir) => dir.join("kaptain").join("kaptain.db"),
        None => PathBuf::from("kaptain.db"),
    }
}
