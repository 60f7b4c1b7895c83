//! The two backends behind one enum, and the few helpers every table module shares.
//!
//! SQL is written once wherever it can be: both backends take `$1, $2, ...` placeholders
//! (SQLite reads `$N` as the N-th argument), `RETURNING`, partial indexes, row values,
//! `ON CONFLICT` and `UPDATE ... FROM (VALUES ...)`. [`with_pool!`] and [`with_tx!`] expand
//! one body once per backend, so each expansion is type-checked against its own driver.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection as _, Row};

use crate::error::{Error, Result};

/// A connection pool of one of the two backends.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool and the type alias `Backend` to its
/// `sqlx::Database`.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite($pool) => {
                #[allow(dead_code)]
                type Backend = ::sqlx::Sqlite;
                $body
            }
            $crate::db::Db::Postgres($pool) => {
                #[allow(dead_code)]
                type Backend = ::sqlx::Postgres;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` inside a write transaction `$tx` (`&mut *$tx` is the executor; `$pool`, when
/// named, is the pool for work after the commit); the body commits. On SQLite the transaction is `BEGIN IMMEDIATE` (it takes the database's write lock
/// at once, so two writers never deadlock upgrading read locks) and writers of this process
/// queue on an in-process mutex first; on PostgreSQL it is a plain `BEGIN` and callers take an
/// advisory lock where they need one.
macro_rules! with_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        $crate::db::with_tx!($store, $tx, _pool => $body)
    };
    ($store:expr, $tx:ident, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite($pool) => {
                #[allow(dead_code)]
                type Backend = ::sqlx::Sqlite;
                let _writer = $store.sqlite_writer.lock().await;
                let mut $tx = $pool.begin_with("BEGIN IMMEDIATE").await?;
                $body
            }
            $crate::db::Db::Postgres($pool) => {
                #[allow(dead_code)]
                type Backend = ::sqlx::Postgres;
                let mut $tx = $pool.begin().await?;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

/// Typed column access shared by both row types, so decoders are written once.
pub(crate) trait RowExt {
    fn i64(&self, col: &str) -> Result<i64>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>>;
    fn f64(&self, col: &str) -> Result<f64>;
    fn string(&self, col: &str) -> Result<String>;
    fn opt_string(&self, col: &str) -> Result<Option<String>>;
    fn bool(&self, col: &str) -> Result<bool>;

    fn ts(&self, col: &str) -> Result<Timestamp> {
        from_micros(self.i64(col)?)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<Timestamp>> {
        self.opt_i64(col)?.map(from_micros).transpose()
    }
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn i64(&self, col: &str) -> Result<i64> {
                Ok(self.try_get(col)?)
            }
            fn opt_i64(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.try_get(col)?)
            }
            fn f64(&self, col: &str) -> Result<f64> {
                Ok(self.try_get(col)?)
            }
            fn string(&self, col: &str) -> Result<String> {
                Ok(self.try_get(col)?)
            }
            fn opt_string(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get(col)?)
            }
            fn bool(&self, col: &str) -> Result<bool> {
                Ok(self.try_get(col)?)
            }
        }
    };
}
impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);

/// Times are stored as microseconds since the Unix epoch: exact, sortable, portable, and easy
/// to bucket. Nanoseconds are truncated.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| Error::Corrupt(format!("time {us} µs: {e}")))
}

/// `t` truncated to what the store keeps (microseconds).
pub(crate) fn truncate(t: Timestamp) -> Result<Timestamp> {
    from_micros(micros(t))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Lower-case hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `url` with the password (if any) replaced by `***`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// How many connections a pool gets unless told otherwise.
pub(crate) const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long to wait for a connection unless told otherwise.
pub(crate) const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a pool for `store.url` (see [`crate::Store::open`] for the accepted forms).
pub(crate) async fn connect(store: &crate::StoreOptions) -> Result<Db> {
    let url = store.url.as_str();
    let max_connections = store.max_connections;
    let acquire_timeout = store.acquire_timeout.unwrap_or(DEFAULT_ACQUIRE_TIMEOUT);
    let invalid = |message: String| Error::InvalidUrl {
        url: redact_url(url),
        message,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
        // One direct connection first: the pool retries until its timeout and then reports
        // only that it timed out; this names the cause (refused, authentication, no such
        // database) at once.
        let first = tokio::time::timeout(acquire_timeout, PgConnection::connect_with(&options))
            .await
            .map_err(|_| connect_error(url, "timed out".into()))?
            .map_err(|e| connect_error(url, e.to_string()))?;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        return Ok(Db::Postgres(pool));
    }
    if !url.starts_with("sqlite:") {
        return Err(invalid(
            "unsupported scheme; use sqlite://PATH, sqlite:///ABSOLUTE/PATH, sqlite::memory: or postgres://USER@HOST/DB"
                .into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| invalid(e.to_string()))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30));
    let in_memory = url == "sqlite::memory:" || url.contains("mode=memory");
    if in_memory {
        // Each in-memory database lives as long as a connection to it: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        return Ok(Db::Sqlite(pool));
    }
    let file = options.get_filename().to_path_buf();
    if file.as_os_str().is_empty() {
        return Err(invalid("no file name".into()));
    }
    if !store.create_if_missing && !file.exists() {
        return Err(Error::NoDatabase { path: file });
    }
    create_parent(&file)?;
    // Reads through a shared memory map instead of a read() and a copy into each
    // connection's page cache per page: `GET /api/v1/findings?limit=100` costs ~15% less
    // server CPU (kaptain-server's bench_api example).
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("mmap_size", SQLITE_MMAP_SIZE.to_string());
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await?;
    Ok(Db::Sqlite(pool))
}

/// Bytes of a SQLite database file mapped into memory (address space, not resident memory).
const SQLITE_MMAP_SIZE: u64 = 256 << 20;

fn connect_error(url: &str, message: String) -> Error {
    Error::Connect {
        url: redact_url(url),
        message,
    }
}

fn create_parent(file: &Path) -> Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://kaptain:s3cret@db:5432/k?sslmode=require"),
            "postgres://kaptain:***@db:5432/k?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://kaptain@db/k"),
            "postgres://kaptain@db/k"
        );
        assert_eq!(redact_url("sqlite:///a/b.db"), "sqlite:///a/b.db");
    }

    #[test]
    fn hex_and_sha256() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn micros_round_trip() {
        let t: Timestamp = "2024-05-06T07:08:09.123456789Z".parse().expect("time");
        let back = from_micros(micros(t)).expect("back");
        assert_eq!(back.to_string(), "2024-05-06T07:08:09.123456Z");
    }
}
