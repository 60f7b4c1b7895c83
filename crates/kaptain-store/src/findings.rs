//! Findings history: one row per occurrence of a finding in a cluster, from the scan it first
//! appeared in to the scan it was gone from.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use kaptain_model::{Finding, Severity};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::Store;
use crate::cursor::{self, Page};
use crate::db::{RowExt, micros, sha256_hex, truncate, with_pool, with_tx};
use crate::error::{Error, Result};

/// One occurrence of a finding in a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredFinding {
    /// The occurrence's id (a finding that clears and comes back gets a new one).
    pub id: i64,
    /// The cluster it was found in, as named by the caller of [`Store::record_scan`].
    pub cluster: String,
    /// The first scan that reported it (microsecond precision).
    pub first_seen: Timestamp,
    /// The last scan that reported it.
    pub last_seen: Timestamp,
    /// The first scan that no longer reported it; `None` while it is open.
    pub cleared_at: Option<Timestamp>,
    /// The finding as last reported (its message and evidence may change while it stays open).
    pub finding: Finding,
}

impl StoredFinding {
    /// Whether the latest scan of its cluster still reported it.
    pub fn is_open(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// What one scan changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanDiff {
    /// Findings that were not open before this scan (new, or back after clearing), in the
    /// order the scan reported them.
    pub appeared: Vec<StoredFinding>,
    /// Findings that were open and are not reported any more, by id.
    pub cleared: Vec<StoredFinding>,
    /// Findings that stayed open but whose content (severity, message, evidence, ...) changed.
    pub changed: u64,
    /// Findings open in the cluster after this scan.
    pub open: u64,
    /// The scan was older than the cluster's latest recorded scan (another server replica
    /// recorded a later one first): it was left out and changed nothing.
    #[serde(default)]
    pub stale: bool,
    /// Open findings of single pods that this scan reports grouped under their workload
    /// (one finding per broken workload): the earliest of each group goes on as the group's
    /// finding (its id and first-seen time kept; counted in `changed`), the others are closed
    /// without counting as cleared — the problem did not go away, it is reported once.
    #[serde(default)]
    pub merged: u64,
}

/// Which occurrences a query returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    /// Still reported by the latest scan.
    #[default]
    Open,
    /// No longer reported.
    Cleared,
    /// Both.
    All,
}

/// A filtered, paginated listing of findings, ordered by severity (highest first), then
/// first seen (newest first), then id (highest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FindingQuery {
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only objects in this namespace (cluster-scoped objects have none and never match).
    pub namespace: Option<String>,
    /// Only this severity and above.
    pub min_severity: Option<Severity>,
    /// Only this check id (`pod.crash-loop`), or every check under a prefix ending in `.`
    /// (`pod.`).
    pub check: Option<String>,
    /// Only root causes (findings that are not a symptom of another).
    pub root_only: bool,
    /// Open, cleared or all occurrences.
    pub state: FindingState,
    /// Page size: 0 means [`crate::DEFAULT_LIMIT`] (100); at most [`crate::MAX_LIMIT`] (1000).
    pub limit: u32,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for FindingQuery {
    fn default() -> Self {
        FindingQuery {
            cluster: None,
            namespace: None,
            min_severity: None,
            check: None,
            root_only: false,
            state: FindingState::Open,
            limit: cursor::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// `severity_rank`: info 0, low 1, medium 2, high 3, critical 4.
pub(crate) fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

/// Rows per multi-row INSERT: 13 binds each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters per statement.
const INSERT_CHUNK: usize = 1000;
/// Rows per `UPDATE ... FROM (VALUES ...)` (6 binds each) and ids per `IN (...)`.
const UPDATE_CHUNK: usize = 1000;

/// Columns of a finding row as stored (cleared rows, `RETURNING`).
const COLUMNS: &str = "id, cluster, first_seen, last_seen, cleared_at, finding, severity_rank";
/// The same for `FROM findings f LEFT JOIN cluster_scans s`: an open occurrence was last seen
/// by its cluster's latest scan.
const JOINED_COLUMNS: &str = "f.id, f.cluster, f.first_seen, \
     CASE WHEN f.cleared_at IS NULL THEN COALESCE(s.last_scan_at, f.last_seen) \
     ELSE f.last_seen END AS last_seen, f.cleared_at, f.finding, f.severity_rank";
const JOINED_FROM: &str = " FROM findings f LEFT JOIN cluster_scans s ON s.cluster = f.cluster";
const CURSOR_TAG: &str = "f1";

/// A finding of the current scan, serialized once.
struct Prepared<'a> {
    finding: &'a Finding,
    json: String,
    hash: String,
}

/// A finding occurrence as [`Store::findings_json`] lists it: the finding's JSON exactly as
/// stored, not parsed. It serializes to the same JSON as [`StoredFinding`]; an API page of
/// findings is mostly their evidence, and parsing it only to print it again was a quarter of
/// the server's time per page.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFindingJson {
    /// As [`StoredFinding::id`].
    pub id: i64,
    /// As [`StoredFinding::cluster`].
    pub cluster: String,
    /// As [`StoredFinding::first_seen`].
    pub first_seen: Timestamp,
    /// As [`StoredFinding::last_seen`].
    pub last_seen: Timestamp,
    /// As [`StoredFinding::cleared_at`].
    pub cleared_at: Option<Timestamp>,
    /// A JSON [`Finding`] (checked to be JSON, not parsed into one).
    pub finding: Box<serde_json::value::RawValue>,
    /// For the cursor.
    #[serde(skip)]
    severity_rank: i64,
}

/// What a findings listing can decode its rows into.
trait Listed: Sized {
    fn from_row(row: &impl RowExt) -> Result<Self>;
    /// The listing order's key: severity rank, first seen, id.
    fn key(&self) -> [i64; 3];
}

impl Listed for StoredFinding {
    fn from_row(row: &impl RowExt) -> Result<Self> {
        decode(row)
    }
    fn key(&self) -> [i64; 3] {
        [
            severity_rank(self.finding.severity),
            micros(self.first_seen),
            self.id,
        ]
    }
}

impl Listed for StoredFindingJson {
    fn from_row(row: &impl RowExt) -> Result<Self> {
        let id = row.i64("id")?;
        let finding = serde_json::value::RawValue::from_string(row.string("finding")?)
            .map_err(|e| Error::Corrupt(format!("finding {id}: {e}")))?;
        Ok(StoredFindingJson {
            id,
            cluster: row.string("cluster")?,
            first_seen: row.ts("first_seen")?,
            last_seen: row.ts("last_seen")?,
            cleared_at: row.opt_ts("cleared_at")?,
            finding,
            severity_rank: row.i64("severity_rank")?,
        })
    }
    fn key(&self) -> [i64; 3] {
        [self.severity_rank, micros(self.first_seen), self.id]
    }
}

fn decode(row: &impl RowExt) -> Result<StoredFinding> {
    StoredFindingJson::from_row(row)?.parse()
}

impl StoredFindingJson {
    /// The same occurrence with its finding parsed.
    pub fn parse(self) -> Result<StoredFinding> {
        let finding = serde_json::from_str(self.finding.get())
            .map_err(|e| Error::Corrupt(format!("finding {}: {e}", self.id)))?;
        Ok(StoredFinding {
            id: self.id,
            cluster: self.cluster,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            cleared_at: self.cleared_at,
            finding,
        })
    }
}

fn listing_cursor<T: Listed>(item: &T) -> String {
    cursor::encode(CURSOR_TAG, &item.key())
}

/// A transaction-scoped PostgreSQL advisory lock key for `name` (the first 8 bytes of its
/// SHA-256).
pub(crate) fn lock_key(name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Whether a scan that inserted `inserted` rows into a cluster that had `open_before` open
/// ones grew it enough (at least 1,000 rows and a fifth) to refresh planner statistics now.
fn refresh_statistics(inserted: usize, open_before: usize) -> bool {
    inserted >= 1000 && inserted * 5 >= open_before + inserted
}

impl Store {
    /// Records the complete set of findings of one scan of `cluster` at time `at`:
    ///
    /// - a finding (keyed by cluster + `fingerprint`) with no open occurrence is inserted,
    ///   open, with `first_seen = last_seen = at` — a finding that had cleared and comes back
    ///   starts a new occurrence (new id);
    /// - an open occurrence reported again is seen at `at` (read from the cluster's latest
    ///   scan, not rewritten per row), and gets the finding's latest content when it changed;
    /// - an open occurrence not reported any more gets `cleared_at = at`.
    ///
    /// Findings repeating a fingerprint within `findings` count once (the first). A scan
    /// older than the cluster's latest recorded scan is stale — around a hand-over of a
    /// cluster's claim ([`Store::hold_claim`]) between server replicas, or a diagnose run
    /// recorded beside the watch, scans may reach the store out of order — and is left out ([`ScanDiff::stale`]): recording it would reopen what a later scan cleared
    /// and move the cluster's "last seen" back. Recording the same scan again changes
    /// nothing. Everything happens in one transaction with multi-row statements; concurrent
    /// scans of the same cluster are serialized (also across server replicas on PostgreSQL).
    pub async fn record_scan(
        &self,
        cluster: &str,
        findings: &[Finding],
        at: Timestamp,
    ) -> Result<ScanDiff> {
        let at = truncate(at)?;
        let at_us = micros(at);
        let mut seen = HashSet::with_capacity(findings.len());
        let mut current = Vec::with_capacity(findings.len());
        for finding in findings {
            if seen.insert(finding.fingerprint.as_str()) {
                let json = serde_json::to_string(finding)?;
                let hash = sha256_hex(json.as_bytes());
                current.push(Prepared {
                    finding,
                    json,
                    hash,
                });
            }
        }
        let postgres = self.backend() == "postgres";

        with_tx!(self, tx, pool => {
            if postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock_key(&format!("kaptain.scan:{cluster}")))
                    .execute(&mut *tx)
                    .await?;
            }
            let latest = sqlx::query(
                "SELECT last_scan_at, open_count FROM cluster_scans WHERE cluster = $1",
            )
            .bind(cluster)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| Ok::<_, Error>((row.i64("last_scan_at")?, row.i64("open_count")?)))
            .transpose()?;
            if let Some((last, open)) = latest
                && last > at_us
            {
                tx.rollback().await?;
                return Ok(ScanDiff {
                    open: u64::try_from(open).unwrap_or(0),
                    stale: true,
                    ..ScanDiff::default()
                });
            }
            let previous_scan = latest.map(|(last, _)| last);
            let rows = sqlx::query(
                "SELECT id, fingerprint, content_hash FROM findings \
                 WHERE cluster = $1 AND cleared_at IS NULL",
            )
            .bind(cluster)
            .fetch_all(&mut *tx)
            .await?;
            let mut open: HashMap<String, (i64, String)> = HashMap::with_capacity(rows.len());
            for row in &rows {
                open.insert(
                    row.string("fingerprint")?,
                    (row.i64("id")?, row.string("content_hash")?),
                );
            }
            let open_before = rows.len();
            drop(rows);

            let mut to_insert = Vec::new();
            let mut to_update = Vec::new();
            let mut to_rekey = Vec::new();
            let mut merged_ids = Vec::new();
            for p in &current {
                match open.remove(&p.finding.fingerprint) {
                    None => {
                        // A finding grouped under its workload goes on from the open
                        // findings of its pods, if there are any (e.g. after an upgrade).
                        let mut from: Vec<i64> = p
                            .finding
                            .instances
                            .iter()
                            .filter_map(|i| open.remove(&i.fingerprint).map(|(id, _)| id))
                            .collect();
                        from.sort_unstable();
                        if from.is_empty() {
                            to_insert.push(p);
                        } else {
                            to_rekey.push((from.remove(0), p));
                            merged_ids.extend(from);
                        }
                    }
                    Some((id, hash)) if hash != p.hash => to_update.push((id, p)),
                    Some(_) => {}
                }
            }
            merged_ids.sort_unstable();
            let mut cleared_ids: Vec<i64> = open.into_values().map(|(id, _)| id).collect();
            cleared_ids.sort_unstable();

            let mut ids: HashMap<String, i64> = HashMap::with_capacity(to_insert.len());
            for chunk in to_insert.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<Backend>::new(
                    "INSERT INTO findings (cluster, fingerprint, check_id, severity, \
                     severity_rank, namespace, kind, name, is_root, first_seen, last_seen, \
                     content_hash, finding) ",
                );
                qb.push_values(chunk, |mut b, p| {
                    let f = p.finding;
                    b.push_bind(cluster.to_owned())
                        .push_bind(f.fingerprint.clone())
                        .push_bind(f.id.clone())
                        .push_bind(f.severity.as_str())
                        .push_bind(severity_rank(f.severity))
                        .push_bind(f.object.namespace.clone())
                        .push_bind(f.object.kind.clone())
                        .push_bind(f.object.name.clone())
                        .push_bind(f.root_cause)
                        .push_bind(at_us)
                        .push_bind(at_us)
                        .push_bind(p.hash.clone())
                        .push_bind(p.json.clone());
                });
                qb.push(" RETURNING id, fingerprint");
                for row in qb.build().fetch_all(&mut *tx).await? {
                    ids.insert(row.string("fingerprint")?, row.i64("id")?);
                }
            }

            for chunk in to_update.chunks(UPDATE_CHUNK) {
                let mut qb = QueryBuilder::<Backend>::new(
                    "UPDATE findings SET finding = v.column2, content_hash = v.column3, \
                     severity = v.column4, severity_rank = v.column5, is_root = v.column6 \
                     FROM (",
                );
                qb.push_values(chunk, |mut b, (id, p)| {
                    let f = p.finding;
                    b.push_bind(*id)
                        .push_bind(p.json.clone())
                        .push_bind(p.hash.clone())
                        .push_bind(f.severity.as_str())
                        .push_bind(severity_rank(f.severity))
                        .push_bind(f.root_cause);
                });
                qb.push(") AS v WHERE findings.id = v.column1");
                qb.build().execute(&mut *tx).await?;
            }

            for chunk in merged_ids.chunks(UPDATE_CHUNK) {
                let mut qb = QueryBuilder::<Backend>::new("UPDATE findings SET cleared_at = ");
                qb.push_bind(at_us).push(" WHERE id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut *tx).await?;
            }
            for (id, p) in &to_rekey {
                let f = p.finding;
                sqlx::query(
                    "UPDATE findings SET fingerprint = $1, check_id = $2, severity = $3, \
                     severity_rank = $4, namespace = $5, kind = $6, name = $7, is_root = $8, \
                     content_hash = $9, finding = $10 WHERE id = $11",
                )
                .bind(f.fingerprint.clone())
                .bind(f.id.clone())
                .bind(f.severity.as_str())
                .bind(severity_rank(f.severity))
                .bind(f.object.namespace.clone())
                .bind(f.object.kind.clone())
                .bind(f.object.name.clone())
                .bind(f.root_cause)
                .bind(p.hash.clone())
                .bind(p.json.clone())
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            }

            let mut cleared = Vec::with_capacity(cleared_ids.len());
            for chunk in cleared_ids.chunks(UPDATE_CHUNK) {
                // Last seen by the previous scan (kept as stored when there is no record of it).
                let mut qb = QueryBuilder::<Backend>::new("UPDATE findings SET cleared_at = ");
                qb.push_bind(at_us)
                    .push(", last_seen = COALESCE(")
                    .push_bind(previous_scan)
                    .push(", last_seen) WHERE id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(") RETURNING ").push(COLUMNS);
                for row in qb.build().fetch_all(&mut *tx).await? {
                    cleared.push(decode(&row)?);
                }
            }
            cleared.sort_by_key(|f| f.id);

            let open = (open_before + to_insert.len() - cleared.len() - merged_ids.len()) as u64;
            sqlx::query(
                "INSERT INTO cluster_scans (cluster, last_scan_at, open_count) \
                 VALUES ($1, $2, $3) ON CONFLICT (cluster) DO UPDATE SET \
                 last_scan_at = excluded.last_scan_at, open_count = excluded.open_count",
            )
            .bind(cluster)
            .bind(at_us)
            .bind(open as i64)
            .execute(&mut *tx)
            .await?;

            tx.commit().await?;
            if postgres && refresh_statistics(to_insert.len(), open_before) {
                // A fresh table, or one that just grew a lot, has no (or stale) planner
                // statistics until autovacuum comes by; meanwhile PostgreSQL may sort a whole
                // cluster's findings for every page instead of walking the listing index.
                sqlx::query("ANALYZE findings").execute(pool).await?;
            }

            let mut appeared = Vec::with_capacity(to_insert.len());
            for p in to_insert {
                let id = ids.get(&p.finding.fingerprint).copied().ok_or_else(|| {
                    Error::Corrupt(format!(
                        "insert of finding {} returned no id",
                        p.finding.fingerprint
                    ))
                })?;
                appeared.push(StoredFinding {
                    id,
                    cluster: cluster.to_owned(),
                    first_seen: at,
                    last_seen: at,
                    cleared_at: None,
                    finding: p.finding.clone(),
                });
            }
            Ok(ScanDiff {
                appeared,
                cleared,
                changed: (to_update.len() + to_rekey.len()) as u64,
                open,
                stale: false,
                merged: merged_ids.len() as u64,
            })
        })
    }

    /// One page of findings matching `q` (see [`FindingQuery`] for the order).
    pub async fn findings(&self, q: &FindingQuery) -> Result<Page<StoredFinding>> {
        self.list(q).await
    }

    /// [`Store::findings`] with each finding's JSON as stored, for callers that only pass it
    /// on (the REST API).
    pub async fn findings_json(&self, q: &FindingQuery) -> Result<Page<StoredFindingJson>> {
        self.list(q).await
    }

    async fn list<T: Listed>(&self, q: &FindingQuery) -> Result<Page<T>> {
        let limit = cursor::effective_limit(q.limit);
        let after = q
            .cursor
            .as_deref()
            .map(|c| cursor::decode::<3>(CURSOR_TAG, c))
            .transpose()?;
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(JOINED_COLUMNS).push(JOINED_FROM).push(" WHERE 1 = 1");
            if let Some(cluster) = &q.cluster {
                qb.push(" AND f.cluster = ").push_bind(cluster.clone());
            }
            if let Some(ns) = &q.namespace {
                qb.push(" AND f.namespace = ").push_bind(ns.clone());
            }
            if let Some(min) = q.min_severity {
                qb.push(" AND f.severity_rank >= ")
                    .push_bind(severity_rank(min));
            }
            if let Some(check) = &q.check {
                if check.ends_with('.') {
                    let len = i32::try_from(check.chars().count()).map_err(|_| {
                        Error::InvalidArgument("check prefix too long".into())
                    })?;
                    qb.push(" AND substr(f.check_id, 1, ")
                        .push_bind(len)
                        .push(") = ")
                        .push_bind(check.clone());
                } else {
                    qb.push(" AND f.check_id = ").push_bind(check.clone());
                }
            }
            if q.root_only {
                qb.push(" AND f.is_root = ").push_bind(true);
            }
            match q.state {
                FindingState::Open => {
                    qb.push(" AND f.cleared_at IS NULL");
                }
                FindingState::Cleared => {
                    qb.push(" AND f.cleared_at IS NOT NULL");
                }
                FindingState::All => {}
            }
            if let Some([rank, first_seen, id]) = after {
                qb.push(" AND (f.severity_rank, f.first_seen, f.id) < (")
                    .push_bind(rank)
                    .push(", ")
                    .push_bind(first_seen)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            qb.push(" ORDER BY f.severity_rank DESC, f.first_seen DESC, f.id DESC LIMIT ")
                .push_bind(i64::from(limit) + 1);
            let rows = qb.build().fetch_all(pool).await?;
            let items = rows.iter().map(T::from_row).collect::<Result<Vec<_>>>()?;
            Ok(cursor::page(items, limit, listing_cursor))
        })
    }

    /// The finding occurrence with this id.
    pub async fn finding(&self, id: i64) -> Result<Option<StoredFinding>> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(JOINED_COLUMNS)
                .push(JOINED_FROM)
                .push(" WHERE f.id = ")
                .push_bind(id);
            let row = qb.build().fetch_optional(pool).await?;
            row.as_ref().map(decode).transpose()
        })
    }
}
