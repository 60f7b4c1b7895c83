//! Aggregates over the findings history: time to resolve, and open findings over time.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::db::{RowExt, from_micros, micros, with_pool};
use crate::error::{Error, Result};

/// How long findings stayed open before they cleared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MttrStats {
    /// Occurrences that cleared in the period.
    pub cleared: u64,
    /// Mean seconds from first seen to cleared (`None` when nothing cleared).
    pub mean_secs: Option<f64>,
    /// Median seconds from first seen to cleared (`None` when nothing cleared).
    pub median_secs: Option<f64>,
    /// The same per check id, by check id.
    pub by_check: Vec<CheckMttr>,
}

/// [`MttrStats`] of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckMttr {
    /// The check's id (`pod.crash-loop`).
    pub check_id: String,
    /// Its occurrences that cleared in the period.
    pub cleared: u64,
    /// Mean seconds open.
    pub mean_secs: f64,
    /// Median seconds open.
    pub median_secs: f64,
}

/// Open findings per severity at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeverityCounts {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Info findings.
    pub info: u64,
}

impl SeverityCounts {
    fn slot(&mut self, rank: i64) -> Option<&mut u64> {
        match rank {
            4 => Some(&mut self.critical),
            3 => Some(&mut self.high),
            2 => Some(&mut self.medium),
            1 => Some(&mut self.low),
            0 => Some(&mut self.info),
            _ => None,
        }
    }

    /// All severities together.
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// One point of the console's "findings by severity over time" chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeverityBucket {
    /// Start of the bucket (inclusive).
    pub start: Timestamp,
    /// End of the bucket (exclusive); the last bucket may end after the requested period.
    pub end: Timestamp,
    /// Findings open at the end of the bucket — for the last bucket, at the end of the
    /// requested period.
    pub counts: SeverityCounts,
}

/// The latest scan of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterScan {
    /// The cluster's name.
    pub cluster: String,
    /// When its latest scan was recorded (the `at` given to [`Store::record_scan`]).
    pub last_scan_at: Timestamp,
    /// Findings open after that scan.
    pub open: u64,
}

/// At most this many buckets per chart.
pub const MAX_BUCKETS: u64 = 10_000;

fn mean_and_median(sorted: &[i64]) -> (f64, f64) {
    let n = sorted.len();
    let secs = |us: i64| us as f64 / 1e6;
    let mean = sorted.iter().map(|&us| secs(us)).sum::<f64>() / n as f64;
    let median = if n % 2 == 1 {
        secs(sorted[n / 2])
    } else {
        (secs(sorted[n / 2 - 1]) + secs(sorted[n / 2])) / 2.0
    };
    (mean, median)
}

impl Store {
    /// Every cluster that was ever scanned, with its latest scan time and open findings, by
    /// name.
    pub async fn cluster_scans(&self) -> Result<Vec<ClusterScan>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT cluster, last_scan_at, open_count FROM cluster_scans ORDER BY cluster",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(ClusterScan {
                        cluster: r.string("cluster")?,
                        last_scan_at: r.ts("last_scan_at")?,
                        open: u64::try_from(r.i64("open_count")?).unwrap_or(0),
                    })
                })
                .collect()
        })
    }

    /// Time to resolve: occurrences (of `cluster`, or of every cluster) that cleared at or
    /// after `since`, with mean and median seconds from first seen to cleared, overall and per
    /// check id.
    pub async fn mttr(&self, cluster: Option<&str>, since: Timestamp) -> Result<MttrStats> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT check_id, cleared_at - first_seen AS open_us FROM findings \
                 WHERE cleared_at IS NOT NULL AND cleared_at >= $1 \
                 AND ($2 IS NULL OR cluster = $2)",
            )
            .bind(micros(since))
            .bind(cluster)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.string("check_id")?, r.i64("open_us")?)))
                .collect::<Result<_>>()?
        });
        if rows.is_empty() {
            return Ok(MttrStats::default());
        }
        let mut all: Vec<i64> = rows.iter().map(|(_, us)| *us).collect();
        all.sort_unstable();
        let (mean, median) = mean_and_median(&all);
        let mut per_check: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (check, us) in rows {
            per_check.entry(check).or_default().push(us);
        }
        let by_check = per_check
            .into_iter()
            .map(|(check_id, mut times)| {
                times.sort_unstable();
                let (mean_secs, median_secs) = mean_and_median(&times);
                CheckMttr {
                    check_id,
                    cleared: times.len() as u64,
                    mean_secs,
                    median_secs,
                }
            })
            .collect();
        Ok(MttrStats {
            cleared: all.len() as u64,
            mean_secs: Some(mean),
            median_secs: Some(median),
            by_check,
        })
    }

    /// Open findings per severity from `since` until now, in buckets of `bucket_secs`
    /// (see [`Store::severity_counts_between`]).
    pub async fn severity_counts_over_time(
        &self,
        cluster: Option<&str>,
        since: Timestamp,
        bucket_secs: u64,
    ) -> Result<Vec<SeverityBucket>> {
        self.severity_counts_between(cluster, since, Timestamp::now(), bucket_secs)
            .await
    }

    /// Open findings per severity in `[since, until)`, sampled at the end of each bucket of
    /// `bucket_secs` (the last bucket at `until`): an occurrence counts when it was first
    /// seen at or before the sample time and had not cleared by then. Each occurrence counts
    /// with its latest severity.
    ///
    /// Three aggregate queries (open at `since`; appearances and clearances per bucket and
    /// severity), so the cost grows with the number of buckets, not of findings transferred.
    /// At most [`MAX_BUCKETS`] buckets.
    pub async fn severity_counts_between(
        &self,
        cluster: Option<&str>,
        since: Timestamp,
        until: Timestamp,
        bucket_secs: u64,
    ) -> Result<Vec<SeverityBucket>> {
        if bucket_secs == 0 {
            return Err(Error::InvalidArgument("bucket width must be > 0 s".into()));
        }
        let (since_us, until_us) = (micros(since), micros(until));
        if until_us <= since_us {
            return Ok(Vec::new());
        }
        let width_us = i64::try_from(bucket_secs)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000))
            .ok_or_else(|| Error::InvalidArgument("bucket width too large".into()))?;
        let span = until_us - since_us;
        let buckets = span.div_euclid(width_us) + i64::from(span % width_us != 0);
        if buckets as u64 > MAX_BUCKETS {
            return Err(Error::InvalidArgument(format!(
                "{buckets} buckets of {bucket_secs} s; at most {MAX_BUCKETS}"
            )));
        }
        // (rank, count) open at `since`; (rank, bucket, count) appearing / clearing.
        let (base, appeared, cleared) = with_pool!(self, pool => {
            let base = sqlx::query(
                "SELECT severity_rank, COUNT(*) AS n FROM findings \
                 WHERE first_seen <= $1 AND (cleared_at IS NULL OR cleared_at > $1) \
                 AND ($2 IS NULL OR cluster = $2) GROUP BY severity_rank",
            )
            .bind(since_us)
            .bind(cluster)
            .fetch_all(pool)
            .await?;
            let appeared = sqlx::query(
                "SELECT severity_rank, (first_seen - $1 - 1) / $2 AS bucket, COUNT(*) AS n \
                 FROM findings WHERE first_seen > $1 AND first_seen <= $3 \
                 AND ($4 IS NULL OR cluster = $4) GROUP BY 1, 2",
            )
            .bind(since_us)
            .bind(width_us)
            .bind(until_us)
            .bind(cluster)
            .fetch_all(pool)
            .await?;
            let cleared = sqlx::query(
                "SELECT severity_rank, (cleared_at - $1 - 1) / $2 AS bucket, COUNT(*) AS n \
                 FROM findings WHERE cleared_at > $1 AND cleared_at <= $3 \
                 AND ($4 IS NULL OR cluster = $4) GROUP BY 1, 2",
            )
            .bind(since_us)
            .bind(width_us)
            .bind(until_us)
            .bind(cluster)
            .fetch_all(pool)
            .await?;
            let triples = |rows: Vec<<Backend as sqlx::Database>::Row>| -> Result<Vec<(i64, i64, i64)>> {
                rows.iter()
                    .map(|r| Ok((r.i64("severity_rank")?, r.i64("bucket")?, r.i64("n")?)))
                    .collect()
            };
            let base = base
                .iter()
                .map(|r| Ok((r.i64("severity_rank")?, r.i64("n")?)))
                .collect::<Result<Vec<_>>>()?;
            (base, triples(appeared)?, triples(cleared)?)
        });

        let n = buckets as usize;
        // delta[bucket][rank]
        let mut delta = vec![[0i64; 5]; n];
        let mut apply = |events: &[(i64, i64, i64)], sign: i64| {
            for &(rank, bucket, count) in events {
                if let (Ok(b), Ok(r)) = (usize::try_from(bucket), usize::try_from(rank))
                    && b < n
                    && r < 5
                {
                    delta[b][r] += sign * count;
                }
            }
        };
        apply(&appeared, 1);
        apply(&cleared, -1);
        let mut running = [0i64; 5];
        for (rank, count) in base {
            if let Ok(r) = usize::try_from(rank)
                && r < 5
            {
                running[r] += count;
            }
        }
        let mut out = Vec::with_capacity(n);
        for (i, d) in delta.iter().enumerate() {
            for r in 0..5 {
                running[r] += d[r];
            }
            let start_us = since_us + i as i64 * width_us;
            let mut counts = SeverityCounts::default();
            for (r, value) in running.iter().enumerate() {
                if let Some(slot) = counts.slot(r as i64) {
                    *slot = u64::try_from(*value).unwrap_or(0);
                }
            }
            out.push(SeverityBucket {
                start: from_micros(start_us)?,
                end: from_micros(start_us + width_us)?,
                counts,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_median_of_odd_and_even_counts() {
        assert_eq!(
            mean_and_median(&[1_000_000, 2_000_000, 6_000_000]),
            (3.0, 2.0)
        );
        assert_eq!(mean_and_median(&[1_000_000, 3_000_000]), (2.0, 2.0));
    }
}
