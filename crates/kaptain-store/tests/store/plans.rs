//! The schema lets each backend answer a page of open findings (the API's default listing)
//! by walking an index in listing order — no sort of every open finding per page (SQLite once
//! took the index on `cleared_at` and sorted all of them: ~20 ms a page at 10,000 findings).

use kaptain_model::Severity;
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

use super::TestResult;
use super::common::{Backend, Kind, at, finding};

const SELECT: &str = "SELECT f.id, f.finding FROM findings f \
     LEFT JOIN cluster_scans s ON s.cluster = f.cluster WHERE f.cleared_at IS NULL";
const ORDER: &str = " ORDER BY f.severity_rank DESC, f.first_seen DESC, f.id DESC LIMIT 101";

/// The backend's plan for `sql`, one line per step.
async fn plan(b: &Backend, sql: &str) -> Result<String, sqlx::Error> {
    let lines: Vec<String> = match b.kind {
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&b.url).await?;
            let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&mut c)
                .await?;
            c.close().await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>("detail"))
                .collect::<Result<_, _>>()?
        }
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&b.url).await?;
            let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN {sql}")))
                .fetch_all(&mut c)
                .await?;
            c.close().await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?
        }
    };
    Ok(lines.join("\n"))
}

pub async fn open_findings_are_listed_from_an_index_in_order(b: &Backend) -> TestResult {
    let store = b.open().await?;
    // Enough rows for PostgreSQL's statistics (the store analyzes after a large scan) to
    // prefer an index over a sort; some cleared, so open and cleared rows are mixed.
    let scan = |from: usize, to: usize| {
        (from..to)
            .map(|i| {
                let severity = Severity::ALL[i % Severity::ALL.len()];
                finding("pod.crash-loop", Some("shop"), &format!("p{i}"), severity)
            })
            .collect::<Vec<_>>()
    };
    store.record_scan("prod", &scan(0, 3000), at(0)).await?;
    store.record_scan("prod", &scan(500, 3000), at(60)).await?;
    store.record_scan("dev", &scan(0, 1000), at(60)).await?;
    store.close().await;

    let cases = [
        (String::new(), "findings_open_order"),
        (
            " AND f.cluster = 'prod'".to_owned(),
            "findings_open_cluster_order",
        ),
        (
            " AND f.cluster = 'prod' AND (f.severity_rank, f.first_seen, f.id) < (3, 0, 0)"
                .to_owned(),
            "findings_open_cluster_order",
        ),
    ];
    for (filter, index) in cases {
        let sql = format!("{SELECT}{filter}{ORDER}");
        let plan = plan(b, &sql).await?;
        assert!(plan.contains(index), "{sql}\nnot using {index}:\n{plan}");
        let sorts = match b.kind {
            Kind::Sqlite => plan.contains("TEMP B-TREE"),
            Kind::Postgres => plan.lines().any(|l| l.trim_start().starts_with("Sort")),
        };
        assert!(!sorts, "{sql}\nsorts the open findings:\n{plan}");
    }
    Ok(())
}
