//! The audit log: append-only and tamper-evident.
//!
//! Records are numbered `seq = 1, 2, 3, ...` with no gaps. Each carries the hash of the one
//! before (`prev_hash`; [`GENESIS_HASH`] for record 1) and its own `hash`:
//!
//! ```text
//! hash = lowercase_hex(SHA-256(prev_hash || "\n" || body))
//! body = {"v":1,"seq":S,"ts_us":T,"actor":"...","action":"...","target":"...",
//!         "cluster":null|"...","outcome":"...","details":D}
//! ```
//!
//! `body` is compact JSON (serde_json, no whitespace) with exactly these keys in this order;
//! `ts_us` is the record's time in microseconds since the Unix epoch; `D` is the stored
//! details text verbatim, which the store writes in canonical form: compact JSON with the keys
//! of every object sorted by their UTF-8 bytes. Anyone can recompute the chain from the
//! table's columns with this definition, without Kaptain.
//!
//! Changing any field of a record changes its hash; deleting or reordering records breaks
//! the `seq` sequence or the `prev_hash` links. [`Store::verify_audit`] checks all three. Only
//! removing records from the *end* leaves a valid (shorter) chain: keep the head
//! ([`AuditVerification::head`]) somewhere else to detect that too.
//!
//! The store has no update or delete for audit records, and triggers reject `UPDATE`,
//! `DELETE` (and, on PostgreSQL, `TRUNCATE`) of the table. Appends are serialized — a
//! `BEGIN IMMEDIATE` transaction on SQLite, a transaction-scoped advisory lock on PostgreSQL
//! (shared by every replica) — and `seq` is the primary key, so the chain never forks.

use futures::TryStreamExt as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use crate::Store;
use crate::cursor::{self, Page};
use crate::db::{RowExt, hex, micros, with_pool, with_tx};
use crate::error::{Error, Result};
use crate::findings::lock_key;

/// `prev_hash` of record 1.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const CURSOR_TAG: &str = "a1";
const COLUMNS: &str = "seq, ts, actor, action, target, cluster, details, outcome, prev_hash, hash";

/// What happened, to be appended to the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewAudit {
    /// Who did it: a token name, an OIDC subject, `operator`, `system`.
    pub actor: String,
    /// What was done, as a dotted verb: `token.create`, `healing.approve`, `run.start`.
    pub action: String,
    /// What it was done to: `token/7`, `HealingAction/shop/raise-api-1a2b`.
    pub target: String,
    /// The cluster it concerns, if any.
    pub cluster: Option<String>,
    /// Anything else worth keeping (request parameters, the reason, ...). Never secrets.
    pub details: Value,
    /// How it ended. Conventional values: `success`, `failure`, `denied`, and `intent` for a
    /// write-ahead record made before acting.
    pub outcome: String,
}

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the log: 1, 2, 3, ...
    pub seq: u64,
    /// When it was appended (microsecond precision).
    pub ts: Timestamp,
    /// See [`NewAudit::actor`].
    pub actor: String,
    /// See [`NewAudit::action`].
    pub action: String,
    /// See [`NewAudit::target`].
    pub target: String,
    /// See [`NewAudit::cluster`].
    pub cluster: Option<String>,
    /// See [`NewAudit::details`].
    pub details: Value,
    /// See [`NewAudit::outcome`].
    pub outcome: String,
    /// The previous record's hash ([`GENESIS_HASH`] for record 1).
    pub prev_hash: String,
    /// This record's hash (see the module documentation).
    pub hash: String,
}

/// A filtered, paginated listing of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    /// Only records before this time.
    pub until: Option<Timestamp>,
    /// Page size: 0 means 100; at most 1000.
    pub limit: u32,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            actor: None,
            action: None,
            cluster: None,
            since: None,
            until: None,
            limit: cursor::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// The result of [`Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditVerification {
    /// Records in the log.
    pub records: u64,
    /// Whether the whole chain is intact.
    pub ok: bool,
    /// The first record that fails, and why.
    pub first_bad: Option<(u64, String)>,
    /// `(seq, hash)` of the last record, to keep elsewhere: a later verification that ends
    /// before it shows records removed from the end.
    pub head: Option<(u64, String)>,
}

/// `value` as canonical JSON: compact, object keys sorted by their UTF-8 bytes, whatever
/// serde_json's `preserve_order` feature says.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push('{');
                for (i, (key, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: i64,
    ts_us: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    cluster: Option<&'a str>,
    outcome: &'a str,
    details: &'a RawValue,
}

/// The fields a hash covers, as stored.
struct Fields<'a> {
    seq: i64,
    ts_us: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    cluster: Option<&'a str>,
    outcome: &'a str,
    details: &'a str,
}

/// The record hash defined in the module documentation; an error when `details` is not JSON.
fn record_hash(prev_hash: &str, f: &Fields<'_>) -> std::result::Result<String, String> {
    let details: &RawValue =
        serde_json::from_str(f.details).map_err(|e| format!("details are not valid JSON ({e})"))?;
    let body = Body {
        v: 1,
        seq: f.seq,
        ts_us: f.ts_us,
        actor: f.actor,
        action: f.action,
        target: f.target,
        cluster: f.cluster,
        outcome: f.outcome,
        details,
    };
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(&body);
    Ok(hex(&h.finalize()))
}

fn decode(row: &impl RowExt) -> Result<AuditRecord> {
    let seq = row.i64("seq")?;
    let details = serde_json::from_str(&row.string("details")?)
        .map_err(|e| Error::Corrupt(format!("audit record {seq} details: {e}")))?;
    Ok(AuditRecord {
        seq: u64::try_from(seq).map_err(|_| Error::Corrupt(format!("audit seq {seq}")))?,
        ts: row.ts("ts")?,
        actor: row.string("actor")?,
        action: row.string("action")?,
        target: row.string("target")?,
        cluster: row.opt_string("cluster")?,
        details,
        outcome: row.string("outcome")?,
        prev_hash: row.string("prev_hash")?,
        hash: row.string("hash")?,
    })
}

/// Checks one stored record against its predecessor; `Some(reason)` when it fails.
fn check(row: &impl RowExt, expected_seq: i64, prev_hash: &str) -> Result<Option<String>> {
    let seq = row.i64("seq")?;
    if seq != expected_seq {
        return Ok(Some(if seq > expected_seq {
            format!("record {expected_seq} is missing (the next record is {seq})")
        } else {
            format!("record {seq} is out of order (expected {expected_seq})")
        }));
    }
    let stored_prev = row.string("prev_hash")?;
    if stored_prev != prev_hash {
        return Ok(Some(format!(
            "prev_hash {stored_prev} does not match the previous record's hash {prev_hash}"
        )));
    }
    let (actor, action, target) = (
        row.string("actor")?,
        row.string("action")?,
        row.string("target")?,
    );
    let (cluster, outcome, details) = (
        row.opt_string("cluster")?,
        row.string("outcome")?,
        row.string("details")?,
    );
    let fields = Fields {
        seq,
        ts_us: row.i64("ts")?,
        actor: &actor,
        action: &action,
        target: &target,
        cluster: cluster.as_deref(),
        outcome: &outcome,
        details: &details,
    };
    let stored = row.string("hash")?;
    Ok(match record_hash(&stored_prev, &fields) {
        Err(reason) => Some(reason),
        Ok(computed) if computed != stored => {
            Some("hash does not match the record's contents (the record was modified)".to_owned())
        }
        Ok(_) => None,
    })
}

impl Store {
    /// Appends a record and returns it with its `seq`, time and hashes. Serialized against
    /// every other append, also from other processes and replicas.
    pub async fn append_audit(&self, entry: NewAudit) -> Result<AuditRecord> {
        let details_text = canonical_json(&entry.details);
        let postgres = self.backend() == "postgres";
        let (seq, ts_us, prev_hash, hash) = with_tx!(self, tx => {
            if postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock_key("kaptain.audit"))
                    .execute(&mut *tx)
                    .await?;
            }
            let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            let (seq, prev_hash) = match last {
                Some(row) => (row.i64("seq")? + 1, row.string("hash")?),
                None => (1, GENESIS_HASH.to_owned()),
            };
            let ts_us = micros(Timestamp::now());
            let fields = Fields {
                seq,
                ts_us,
                actor: &entry.actor,
                action: &entry.action,
                target: &entry.target,
                cluster: entry.cluster.as_deref(),
                outcome: &entry.outcome,
                details: &details_text,
            };
            let hash = record_hash(&prev_hash, &fields).map_err(Error::Corrupt)?;
            sqlx::query(
                "INSERT INTO audit_log (seq, ts, actor, action, target, cluster, details, \
                 outcome, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(seq)
            .bind(ts_us)
            .bind(entry.actor.as_str())
            .bind(entry.action.as_str())
            .bind(entry.target.as_str())
            .bind(entry.cluster.as_deref())
            .bind(details_text.as_str())
            .bind(entry.outcome.as_str())
            .bind(prev_hash.as_str())
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            (seq, ts_us, prev_hash, hash)
        });
        Ok(AuditRecord {
            seq: seq as u64,
            ts: crate::db::from_micros(ts_us)?,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            cluster: entry.cluster,
            details: serde_json::from_str(&details_text)?,
            outcome: entry.outcome,
            prev_hash,
            hash,
        })
    }

    /// One page of audit records matching `q`, newest first.
    pub async fn audit(&self, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        let limit = cursor::effective_limit(q.limit);
        let before = q
            .cursor
            .as_deref()
            .map(|c| cursor::decode::<1>(CURSOR_TAG, c))
            .transpose()?;
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(COLUMNS).push(" FROM audit_log WHERE 1 = 1");
            if let Some(actor) = &q.actor {
                qb.push(" AND actor = ").push_bind(actor.clone());
            }
            if let Some(action) = &q.action {
                qb.push(" AND action = ").push_bind(action.clone());
            }
            if let Some(cluster) = &q.cluster {
                qb.push(" AND cluster = ").push_bind(cluster.clone());
            }
            if let Some(since) = q.since {
                qb.push(" AND ts >= ").push_bind(micros(since));
            }
            if let Some(until) = q.until {
                qb.push(" AND ts < ").push_bind(micros(until));
            }
            if let Some([seq]) = before {
                qb.push(" AND seq < ").push_bind(seq);
            }
            qb.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit) + 1);
            let rows = qb.build().fetch_all(pool).await?;
            let items = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
            Ok(cursor::page(items, limit, |r: &AuditRecord| {
                cursor::encode(CURSOR_TAG, &[r.seq as i64])
            }))
        })
    }

    /// `(seq, hash)` of the last audit record, if any.
    pub async fn audit_head(&self) -> Result<Option<(u64, String)>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(pool)
                .await?;
            row.map(|r| Ok((r.i64("seq")? as u64, r.string("hash")?)))
                .transpose()
        })
    }

    /// Reads the whole log in order (streaming) and checks that the records are numbered
    /// 1, 2, 3, ... with no gap, that each `prev_hash` is the previous record's hash, and that
    /// each hash matches its record. Reports the first record that fails.
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        let mut records = 0u64;
        let mut first_bad: Option<(u64, String)> = None;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut expected = 1i64;
        let mut head = None;
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(COLUMNS).push(" FROM audit_log ORDER BY seq");
            let mut rows = qb.build().fetch(pool);
            while let Some(row) = rows.try_next().await? {
                records += 1;
                let seq = row.i64("seq")?;
                let hash = row.string("hash")?;
                if first_bad.is_none()
                    && let Some(reason) = check(&row, expected, &prev_hash)?
                {
                    let at = if seq > expected { expected } else { seq };
                    first_bad = Some((at.max(0) as u64, reason));
                }
                expected = seq + 1;
                prev_hash = hash.clone();
                head = Some((seq.max(0) as u64, hash));
            }
        });
        Ok(AuditVerification {
            records,
            ok: first_bad.is_none(),
            first_bad,
            head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":2,"x":"é"}],"c":null},"A":true}"#)
                .expect("json");
        assert_eq!(
            canonical_json(&v),
            r#"{"A":true,"a":{"c":null,"z":[{"x":"é","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn hash_covers_every_field_and_the_previous_hash() {
        let base = Fields {
            seq: 1,
            ts_us: 5,
            actor: "alice",
            action: "token.create",
            target: "token/1",
            cluster: None,
            outcome: "success",
            details: r#"{"a":1}"#,
        };
        let h = record_hash(GENESIS_HASH, &base).expect("hash");
        assert_eq!(h.len(), 64);
        // Recomputable by hand: SHA-256 over prev_hash, a newline and the documented body.
        let body = r#"{"v":1,"seq":1,"ts_us":5,"actor":"alice","action":"token.create","target":"token/1","cluster":null,"outcome":"success","details":{"a":1}}"#;
        assert_eq!(
            h,
            crate::db::sha256_hex(format!("{GENESIS_HASH}\n{body}").as_bytes())
        );
        let variants = [
            Fields { seq: 2, ..base },
            Fields { ts_us: 6, ..base },
            Fields {
                actor: "bob",
                ..base
            },
            Fields {
                action: "x",
                ..base
            },
            Fields {
                target: "y",
                ..base
            },
            Fields {
                cluster: Some("c"),
                ..base
            },
            Fields {
                outcome: "failure",
                ..base
            },
            Fields {
                details: r#"{"a":2}"#,
                ..base
            },
        ];
        for v in &variants {
            assert_ne!(record_hash(GENESIS_HASH, v).expect("hash"), h);
        }
        assert_ne!(record_hash(&"1".repeat(64), &base).expect("hash"), h);
        assert!(
            record_hash(
                GENESIS_HASH,
                &Fields {
                    details: "{not json",
                    ..base
                }
            )
            .is_err()
        );
    }
}
