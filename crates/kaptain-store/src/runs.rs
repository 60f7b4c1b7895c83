//! Diagnose runs started through the API: queued, running with progress, then finished.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::Store;
use crate::cursor::{self, Page};
use crate::db::{RowExt, micros, with_pool};
use crate::error::{Error, Result};

/// Where a run is in its life: `Queued → Running → Succeeded | Failed` (a run may also fail
/// or succeed straight from `Queued`). `Succeeded` and `Failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting to start.
    Queued,
    /// In progress.
    Running,
    /// Finished without error.
    Succeeded,
    /// Finished with an error (see the run's message).
    Failed,
}

impl RunStatus {
    /// The lower-case name, as stored and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// `Succeeded` or `Failed`.
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(RunStatus::Queued),
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            other => Err(Error::InvalidArgument(format!(
                "unknown run status {other:?} (expected queued, running, succeeded or failed)"
            ))),
        }
    }
}

/// One diagnose run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    /// The run's id.
    pub id: i64,
    /// The cluster it diagnoses.
    pub cluster: String,
    /// Who asked for it (a token name, a user).
    pub requested_by: String,
    /// Where it is.
    pub status: RunStatus,
    /// 0.0 to 1.0.
    pub progress: f32,
    /// The latest progress or error message.
    pub message: Option<String>,
    /// The result summary (the server decides its shape), once there is one.
    pub summary: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it first left `Queued`.
    pub started_at: Option<Timestamp>,
    /// When it reached `Succeeded` or `Failed`.
    pub finished_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, cluster, requested_by, status, progress, message, summary, \
                       created_at, updated_at, started_at, finished_at";
const CURSOR_TAG: &str = "r1";

fn decode(row: &impl RowExt) -> Result<Run> {
    let id = row.i64("id")?;
    let summary = row
        .opt_string("summary")?
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| Error::Corrupt(format!("run {id} summary: {e}")))?;
    let status = row
        .string("status")?
        .parse()
        .map_err(|e| Error::Corrupt(format!("run {id}: {e}")))?;
    Ok(Run {
        id,
        cluster: row.string("cluster")?,
        requested_by: row.string("requested_by")?,
        status,
        progress: row.f64("progress")? as f32,
        message: row.opt_string("message")?,
        summary,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        started_at: row.opt_ts("started_at")?,
        finished_at: row.opt_ts("finished_at")?,
    })
}

impl Store {
    /// Creates a `Queued` run of `cluster` with progress 0.
    pub async fn create_run(&self, cluster: &str, requested_by: &str) -> Result<Run> {
        let now = micros(Timestamp::now());
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new(
                "INSERT INTO runs (cluster, requested_by, status, progress, created_at, updated_at) \
                 VALUES (",
            );
            qb.push_bind(cluster.to_owned())
                .push(", ")
                .push_bind(requested_by.to_owned())
                .push(", 'queued', 0.0, ")
                .push_bind(now)
                .push(", ")
                .push_bind(now)
                .push(") RETURNING ")
                .push(COLUMNS);
            let row = qb.build().fetch_one(pool).await?;
            decode(&row)
        })
    }

    /// Moves run `id` to `status` with `progress` (clamped to 0..=1). `message` and `summary`
    /// replace the stored ones when given and keep them when `None`. Sets `started_at` when
    /// the run first leaves `Queued` and `finished_at` when it finishes. A finished run cannot
    /// change any more ([`Error::Conflict`]); an unknown id is [`Error::NotFound`].
    pub async fn update_run(
        &self,
        id: i64,
        status: RunStatus,
        progress: f32,
        message: Option<&str>,
        summary: Option<&serde_json::Value>,
    ) -> Result<Run> {
        if progress.is_nan() {
            return Err(Error::InvalidArgument("run progress is NaN".into()));
        }
        let progress = f64::from(progress.clamp(0.0, 1.0));
        let summary = summary.map(serde_json::to_string).transpose()?;
        let now = micros(Timestamp::now());
        let finished = status.is_finished();
        let updated = with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("UPDATE runs SET status = ");
            qb.push_bind(status.as_str())
                .push(", progress = ")
                .push_bind(progress)
                .push(", message = COALESCE(")
                .push_bind(message.map(str::to_owned))
                .push(", message), summary = COALESCE(")
                .push_bind(summary)
                .push(", summary), updated_at = ")
                .push_bind(now)
                .push(", started_at = COALESCE(started_at, ")
                .push_bind((status != RunStatus::Queued).then_some(now))
                .push("), finished_at = ")
                .push_bind(finished.then_some(now))
                .push(" WHERE id = ")
                .push_bind(id)
                .push(" AND status NOT IN ('succeeded', 'failed') RETURNING ")
                .push(COLUMNS);
            let row = qb.build().fetch_optional(pool).await?;
            row.as_ref().map(decode).transpose()?
        });
        match updated {
            Some(run) => Ok(run),
            None => match self.run(id).await? {
                Some(run) => Err(Error::Conflict(format!(
                    "run {id} has {} and cannot change any more",
                    run.status
                ))),
                None => Err(Error::NotFound { what: "run", id }),
            },
        }
    }

    /// The run with this id.
    pub async fn run(&self, id: i64) -> Result<Option<Run>> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(COLUMNS).push(" FROM runs WHERE id = ").push_bind(id);
            let row = qb.build().fetch_optional(pool).await?;
            row.as_ref().map(decode).transpose()
        })
    }

    /// Runs (of `cluster`, or of every cluster), newest first, `limit` per page (0: 100, at
    /// most 1000).
    pub async fn runs(
        &self,
        cluster: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Run>> {
        let limit = cursor::effective_limit(limit);
        let before = cursor
            .map(|c| cursor::decode::<1>(CURSOR_TAG, c))
            .transpose()?;
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::<Backend>::new("SELECT ");
            qb.push(COLUMNS).push(" FROM runs WHERE 1 = 1");
            if let Some(cluster) = cluster {
                qb.push(" AND cluster = ").push_bind(cluster.to_owned());
            }
            if let Some([id]) = before {
                qb.push(" AND id < ").push_bind(id);
            }
            qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit) + 1);
            let rows = qb.build().fetch_all(pool).await?;
            let items = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
            Ok(cursor::page(items, limit, |r: &Run| {
                cursor::encode(CURSOR_TAG, &[r.id])
            }))
        })
    }
}
