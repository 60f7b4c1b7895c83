//! Measures the store with 10,000 findings per scan, on SQLite (a temp file) and on a
//! throw-away PostgreSQL (kaptain-testenv), or on the URLs given as arguments:
//!
//! ```sh
//! cargo run --release -p kaptain-store --example bench_store
//! cargo run --release -p kaptain-store --example bench_store -- postgres://u:p@db/kaptain
//! ```
//!
//! Prints, per backend: the first scan (10,000 inserts), an unchanged rescan, a rescan with
//! 10% changed content, 5% cleared and 5% new, a page of 100 findings (p50/p99 over 500), a
//! token authentication, an audit append and a claim renewal (what the server adds to each
//! recording of a cluster). A measurement, not a test: no thresholds.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kaptain_model::{Category, Evidence, Finding, ObjectRef, Remediation, Severity};
use kaptain_store::{FindingQuery, NewAudit, Role, Store};

const N: usize = 10_000;

fn finding(i: usize, generation: usize) -> Finding {
    let object = ObjectRef::new(
        "v1",
        "Pod",
        Some(&format!("ns{}", i % 50)),
        &format!("pod-{i}"),
    );
    let check = ["pod.crash-loop", "pod.image-pull", "service.no-endpoints"][i % 3];
    Finding {
        title: format!("{check} on pod-{i}"),
        message: format!(
            "container app restarted {generation} times; last exit code 137 (OOMKilled)"
        ),
        evidence: vec![
            Evidence::status(format!("restartCount={generation}")),
            Evidence::event("Back-off restarting failed container app in pod"),
        ],
        root_cause: i.is_multiple_of(4),
        remediation: Remediation {
            summary: "Raise the memory limit or fix the leak".into(),
            commands: vec![format!("kubectl -n ns{} describe pod pod-{i}", i % 50)],
            patch: None,
        },
        ..Finding::new(check, Severity::ALL[i % 5], Category::Reliability, object)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn bench(label: &str, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(url).await?;
    let t0: Timestamp = "2025-01-01T00:00:00Z".parse()?;
    let scan: Vec<Finding> = (0..N).map(|i| finding(i, 1)).collect();

    let start = Instant::now();
    let d = store.record_scan("bench", &scan, t0).await?;
    let first = start.elapsed();
    assert_eq!(d.appeared.len(), N);

    let start = Instant::now();
    let d = store
        .record_scan("bench", &scan, t0 + SignedDuration::from_secs(60))
        .await?;
    let unchanged = start.elapsed();
    assert!(d.appeared.is_empty() && d.cleared.is_empty());

    // 10% changed, 5% gone, 5% new.
    let mixed: Vec<Finding> = (N / 20..N + N / 20)
        .map(|i| finding(i, if i.is_multiple_of(10) { 2 } else { 1 }))
        .collect();
    let start = Instant::now();
    let d = store
        .record_scan("bench", &mixed, t0 + SignedDuration::from_secs(120))
        .await?;
    let churn = start.elapsed();
    println!(
        "{label}: record_scan of {N} findings: first {} (all new), unchanged {}, churn {} ({} new, {} cleared, {} changed)",
        ms(first),
        ms(unchanged),
        ms(churn),
        d.appeared.len(),
        d.cleared.len(),
        d.changed
    );

    let mut times = Vec::new();
    let mut cursor = None;
    for _ in 0..500 {
        let start = Instant::now();
        let page = store
            .findings(&FindingQuery {
                cluster: Some("bench".into()),
                limit: 100,
                cursor: cursor.take(),
                ..FindingQuery::default()
            })
            .await?;
        times.push(start.elapsed());
        cursor = page.next_cursor;
    }
    times.sort();
    println!(
        "{label}: findings page of 100: p50 {}, p99 {}",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100])
    );

    let (_, secret) = store
        .create_token("bench", Role::Viewer, vec![], None, "bench")
        .await?;
    let start = Instant::now();
    for _ in 0..200 {
        store.authenticate_token(&secret).await?;
    }
    let auth = start.elapsed() / 200;
    let start = Instant::now();
    for i in 0..200 {
        store
            .append_audit(NewAudit {
                actor: "bench".into(),
                action: "bench.append".into(),
                target: format!("thing/{i}"),
                cluster: Some("bench".into()),
                details: serde_json::json!({"i": i}),
                outcome: "success".into(),
            })
            .await?;
    }
    let append = start.elapsed() / 200;
    let start = Instant::now();
    for i in 0..200 {
        let now = t0 + SignedDuration::from_secs(i);
        store
            .hold_claim("findings/bench", "bench", now, Duration::from_secs(180))
            .await?;
    }
    let claim = start.elapsed() / 200;
    let start = Instant::now();
    let v = store.verify_audit().await?;
    println!(
        "{label}: authenticate_token {}, append_audit {}, hold_claim (a renewal) {}, verify_audit of {} records {}",
        ms(auth),
        ms(append),
        ms(claim),
        v.records,
        ms(start.elapsed())
    );
    store.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    if !urls.is_empty() {
        for url in &urls {
            let label = url.split(':').next().unwrap_or("db").to_owned();
            bench(&label, url).await?;
        }
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench("sqlite", &sqlite).await?;
    let pg = tokio::task::spawn_blocking(kaptain_testenv::Postgres::start).await??;
    bench("postgres", &pg.url()).await?;
    Ok(())
}
