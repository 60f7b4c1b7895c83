//! Several server replicas recording the same cluster: scans reach the store out of order,
//! and a scan older than the latest recorded one must change nothing.

use kaptain_model::Severity;
use kaptain_store::{FindingQuery, FindingState, StoredFinding};

use crate::common::{Backend, TestResult, at, finding};

fn history(cluster: &str) -> FindingQuery {
    FindingQuery {
        cluster: Some(cluster.into()),
        state: FindingState::All,
        limit: 1000,
        ..FindingQuery::default()
    }
}

/// Times are consistent per occurrence, occurrences of one fingerprint follow each other
/// without overlapping, and at most one is open.
fn check_consistent(items: &[StoredFinding]) {
    let mut by_fp: std::collections::BTreeMap<&str, Vec<&StoredFinding>> = Default::default();
    for f in items {
        assert!(f.first_seen <= f.last_seen, "{f:#?}");
        if let Some(cleared) = f.cleared_at {
            assert!(f.last_seen <= cleared, "last seen after it cleared: {f:#?}");
        }
        by_fp.entry(&f.finding.fingerprint).or_default().push(f);
    }
    for (fp, mut occurrences) in by_fp {
        occurrences.sort_by_key(|f| f.id);
        assert!(
            occurrences.iter().filter(|f| f.is_open()).count() <= 1,
            "{fp}: {occurrences:#?}"
        );
        for pair in occurrences.windows(2) {
            let cleared = pair[0].cleared_at.ok_or("an earlier occurrence is open");
            assert!(
                cleared.is_ok_and(|c| c <= pair[1].first_seen),
                "{fp}: overlapping occurrences: {pair:#?}"
            );
        }
    }
}

pub async fn stale_scans_change_nothing(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let a = finding("pod.crash-loop", Some("shop"), "a", Severity::High);
    let bb = finding("pod.crash-loop", Some("shop"), "b", Severity::High);

    let d = store
        .record_scan("prod", std::slice::from_ref(&a), at(60))
        .await?;
    assert_eq!(d.appeared.len(), 1);
    assert!(!d.stale);
    let first = d.appeared[0].clone();

    // An older scan (another replica's, late): it would clear a and add b.
    let d = store
        .record_scan("prod", std::slice::from_ref(&bb), at(30))
        .await?;
    assert!(d.stale, "{d:?}");
    assert!(d.appeared.is_empty() && d.cleared.is_empty(), "{d:?}");
    assert_eq!(d.open, 1);
    let scans = store.cluster_scans().await?;
    assert_eq!(scans[0].last_scan_at, at(60), "the latest scan stays");
    let page = store.findings(&history("prod")).await?;
    assert_eq!(page.items.len(), 1, "{:#?}", page.items);
    assert_eq!(page.items[0].id, first.id);
    assert!(page.items[0].is_open());

    // The same scan again (a retry): recorded, and nothing changes.
    let d = store
        .record_scan("prod", std::slice::from_ref(&a), at(60))
        .await?;
    assert!(!d.stale);
    assert!(d.appeared.is_empty() && d.cleared.is_empty() && d.changed == 0);
    assert_eq!(d.open, 1);

    // a clears at 90; a late scan of 75 that still has it does not reopen it.
    let d = store.record_scan("prod", &[], at(90)).await?;
    assert_eq!(d.cleared.len(), 1);
    let d = store
        .record_scan("prod", std::slice::from_ref(&a), at(75))
        .await?;
    assert!(d.stale && d.appeared.is_empty(), "{d:?}");
    assert_eq!(d.open, 0);
    let page = store.findings(&history("prod")).await?;
    assert_eq!(page.items.len(), 1, "closed once: {:#?}", page.items);
    let only = &page.items[0];
    assert_eq!(only.cleared_at, Some(at(90)));
    assert_eq!(only.last_seen, at(60));
    check_consistent(&page.items);

    // Other clusters have their own order.
    let d = store
        .record_scan("staging", std::slice::from_ref(&a), at(10))
        .await?;
    assert!(!d.stale && d.appeared.len() == 1);
    Ok(())
}

pub async fn replicas_recording_out_of_order_keep_a_consistent_history(b: &Backend) -> TestResult {
    // Two stores (two pools, like two replicas), four tasks each; every task records its
    // scans in time order, but the tasks race each other for the store.
    let s1 = b.open_with(None, 4).await?;
    let s2 = b.open_with(None, 4).await?;
    let pool: Vec<_> = (0..60)
        .map(|i| {
            finding(
                "pod.crash-loop",
                Some("shop"),
                &format!("p{i}"),
                Severity::High,
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for t in 0..8i64 {
        let store = if t % 2 == 0 { s1.clone() } else { s2.clone() };
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut stale = 0;
            for round in 0..10i64 {
                // Findings come and go from round to round.
                let subset: Vec<_> = pool
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (*i as i64 + round) % 4 != 0)
                    .map(|(_, f)| f.clone())
                    .collect();
                let d = store
                    .record_scan("shared", &subset, at(round * 8 + t))
                    .await?;
                stale += usize::from(d.stale);
            }
            Ok::<_, kaptain_store::Error>(stale)
        }));
    }
    for task in tasks {
        task.await??;
    }
    let page = s1.findings(&history("shared")).await?;
    assert!(page.next_cursor.is_none());
    check_consistent(&page.items);
    let scans = s2.cluster_scans().await?;
    assert_eq!(scans[0].last_scan_at, at(9 * 8 + 7), "the latest scan wins");
    // What is open is what the latest scan reported.
    let latest: Vec<&str> = pool
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as i64 + 9) % 4 != 0)
        .map(|(_, f)| f.fingerprint.as_str())
        .collect();
    let mut open: Vec<&str> = page
        .items
        .iter()
        .filter(|f| f.is_open())
        .map(|f| f.finding.fingerprint.as_str())
        .collect();
    open.sort_unstable();
    let mut latest = latest;
    latest.sort_unstable();
    assert_eq!(open, latest);
    Ok(())
}

pub async fn fresh_database_opened_by_several_at_once(b: &Backend) -> TestResult {
    // Replicas (or `kaptain serve` and `kaptain token create`) starting together on a new
    // database: every one migrates or waits for the other, none fails.
    let opened = futures::future::join_all((0..4).map(|_| b.open_with(None, 2))).await;
    let mut stores = Vec::new();
    for (i, s) in opened.into_iter().enumerate() {
        stores.push(s.map_err(|e| format!("store {i} did not open: {e}"))?);
    }
    let a = finding("pod.crash-loop", Some("shop"), "a", Severity::High);
    let d = stores[0]
        .record_scan("prod", std::slice::from_ref(&a), at(0))
        .await?;
    assert_eq!(d.appeared.len(), 1);
    for s in &stores {
        let page = s.findings(&history("prod")).await?;
        assert_eq!(page.items.len(), 1);
    }
    Ok(())
}
