//! Named claims with an expiry, so that of several server replicas sharing one store only one
//! does a given job at a time (the server records a cluster's findings history under the
//! claim `findings/<cluster>`).
//!
//! A claim is free, held, or expired. [`Store::hold_claim`] takes it when it is free or
//! expired, renews it when the caller already holds it, and fails (returns `false`) while
//! another holder's claim runs — all in one `INSERT ... ON CONFLICT DO UPDATE ... WHERE ...
//! RETURNING` statement, atomic on both backends. The holder renews by calling it again well
//! before the claim expires; a holder that stops renewing (it stopped, or lost its cluster)
//! loses the claim after its time to live and the next caller takes over.
//!
//! Times come from the caller's clock, as in [`Store::record_scan`]: replicas' clocks must
//! agree to well within a claim's time to live (NTP does).

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::db::{RowExt, micros, with_pool};
use crate::error::{Error, Result};

/// A claim as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The job it is for, e.g. `findings/prod`.
    pub name: String,
    /// Who holds (or last held) it: a [`new_holder_id`].
    pub holder: String,
    /// When this holder took it (renewals keep it).
    pub acquired_at: Timestamp,
    /// When it expires unless renewed.
    pub expires_at: Timestamp,
}

impl Claim {
    /// Whether it is still held at `now` (else anyone may take it).
    pub fn is_held_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// A new holder id, unique per call: `host/pid/random` (the host from `HOSTNAME`, a pod's
/// name in Kubernetes), so that a claim names the replica holding it.
pub fn new_holder_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "kaptain".to_owned());
    Ok(format!(
        "{}/{}/{}",
        host.trim(),
        std::process::id(),
        crate::db::hex(&bytes)
    ))
}

/// Takes a free or expired claim, or renews the caller's own; leaves another holder's
/// running claim alone (no row returned). `acquired_at` moves only when the holder changes.
const HOLD: &str = "INSERT INTO claims (name, holder, acquired_at, expires_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE SET \
     acquired_at = CASE WHEN claims.holder = excluded.holder \
     THEN claims.acquired_at ELSE excluded.acquired_at END, \
     holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE claims.holder = excluded.holder OR claims.expires_at <= excluded.acquired_at \
     RETURNING holder";

fn decode(row: &impl RowExt) -> Result<Claim> {
    Ok(Claim {
        name: row.string("name")?,
        holder: row.string("holder")?,
        acquired_at: row.ts("acquired_at")?,
        expires_at: row.ts("expires_at")?,
    })
}

impl Store {
    /// Holds the claim `name` for `holder` from `now` until `now + ttl`: takes it when it is
    /// free or expired (at `now`), renews it when `holder` already holds it. Returns whether
    /// `holder` holds it now; `false` while another holder's claim runs. One statement.
    pub async fn hold_claim(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool> {
        let ttl = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        if ttl <= 0 {
            return Err(Error::InvalidArgument(format!(
                "claim {name}: a time to live of less than 1 µs"
            )));
        }
        let now = micros(now);
        let expires = now.saturating_add(ttl);
        let held = with_pool!(self, pool => {
            sqlx::query(HOLD)
                .bind(name)
                .bind(holder)
                .bind(now)
                .bind(expires)
                .fetch_optional(pool)
                .await?
                .is_some()
        });
        Ok(held)
    }

    /// Gives the claim `name` up if `holder` holds it (another replica may take it at once).
    /// Returns whether it did.
    pub async fn release_claim(&self, name: &str, holder: &str) -> Result<bool> {
        let released = with_pool!(self, pool => {
            sqlx::query("DELETE FROM claims WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(released > 0)
    }

    /// The claim `name` as stored (held or expired), if anyone took it and did not release
    /// it.
    pub async fn claim(&self, name: &str) -> Result<Option<Claim>> {
        with_pool!(self, pool => {
            sqlx::query(
                "SELECT name, holder, acquired_at, expires_at FROM claims WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_ids_are_unique_and_name_the_process() {
        let (a, b) = (new_holder_id().expect("id"), new_holder_id().expect("id"));
        assert_ne!(a, b);
        let pid = std::process::id().to_string();
        assert_eq!(a.split('/').nth(1), Some(pid.as_str()), "{a}");
        assert_eq!(a.rsplit('/').next().map(str::len), Some(12), "{a}");
    }
}
