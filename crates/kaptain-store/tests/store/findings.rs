//! Findings history: scan semantics, pagination, filters, statistics.

use std::collections::HashSet;

use kaptain_model::{Finding, Severity};
use kaptain_store::{FindingQuery, FindingState, SeverityCounts, StoredFinding};

use crate::common::{Backend, TestResult, at, finding, fingerprints, symptom};

fn all_states(cluster: &str) -> FindingQuery {
    FindingQuery {
        cluster: Some(cluster.into()),
        state: FindingState::All,
        limit: 1000,
        ..FindingQuery::default()
    }
}

pub async fn scan_appears_clears_and_reappears(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let a = finding("pod.crash-loop", Some("shop"), "a", Severity::High);
    let bb = finding("pod.crash-loop", Some("shop"), "b", Severity::Medium);
    let c = finding(
        "service.no-endpoints",
        Some("shop"),
        "c",
        Severity::Critical,
    );

    let d1 = store
        .record_scan("prod", &[a.clone(), bb.clone()], at(0))
        .await?;
    assert_eq!(fingerprints(&d1.appeared), fingerprints_of(&[&a, &bb]));
    assert!(d1.cleared.is_empty());
    assert_eq!(d1.open, 2);
    assert!(
        d1.appeared
            .iter()
            .all(|f| f.first_seen == at(0) && f.is_open())
    );
    let first_a = d1
        .appeared
        .iter()
        .find(|f| f.finding.fingerprint == a.fingerprint)
        .ok_or("a appeared")?
        .clone();
    assert_eq!(first_a.finding, a, "stored as given");

    let d2 = store
        .record_scan("prod", &[bb.clone(), c.clone()], at(60))
        .await?;
    assert_eq!(fingerprints(&d2.appeared), fingerprints_of(&[&c]));
    assert_eq!(fingerprints(&d2.cleared), fingerprints_of(&[&a]));
    let cleared_a = &d2.cleared[0];
    assert_eq!(cleared_a.id, first_a.id);
    assert_eq!(cleared_a.cleared_at, Some(at(60)));
    assert_eq!(cleared_a.last_seen, at(0), "last seen by the scan before");
    assert_eq!(d2.open, 2);
    let stored_b = store
        .findings(&FindingQuery {
            cluster: Some("prod".into()),
            check: Some("pod.crash-loop".into()),
            ..FindingQuery::default()
        })
        .await?;
    assert_eq!(stored_b.items.len(), 1);
    assert_eq!(stored_b.items[0].first_seen, at(0));
    assert_eq!(stored_b.items[0].last_seen, at(60));

    let d3 = store
        .record_scan("prod", &[a.clone(), bb.clone(), c.clone()], at(120))
        .await?;
    assert_eq!(fingerprints(&d3.appeared), fingerprints_of(&[&a]));
    assert!(d3.cleared.is_empty());
    let again_a = &d3.appeared[0];
    assert_ne!(again_a.id, first_a.id, "a new occurrence");
    assert_eq!(again_a.first_seen, at(120));

    // Another cluster with the same finding is tracked on its own.
    let other = store
        .record_scan("staging", std::slice::from_ref(&a), at(130))
        .await?;
    assert_eq!(other.appeared.len(), 1);
    assert!(other.cleared.is_empty());

    let all = store.findings(&all_states("prod")).await?;
    assert_eq!(all.items.len(), 4, "two occurrences of a, b, c");
    let cleared = store
        .findings(&FindingQuery {
            state: FindingState::Cleared,
            ..all_states("prod")
        })
        .await?;
    assert_eq!(cleared.items.len(), 1);
    assert_eq!(cleared.items[0].id, first_a.id);
    let open = store
        .findings(&FindingQuery {
            state: FindingState::Open,
            ..all_states("prod")
        })
        .await?;
    assert_eq!(open.items.len(), 3);

    let old = store.finding(first_a.id).await?.ok_or("old a")?;
    assert_eq!(old.cleared_at, Some(at(60)));
    assert!(!old.is_open());
    assert_eq!(store.finding(i64::MAX).await?, None);

    // An unchanged rescan moves last_seen of every open occurrence, and nothing else.
    let d = store
        .record_scan("prod", &[a.clone(), bb.clone(), c.clone()], at(150))
        .await?;
    assert!(d.appeared.is_empty() && d.cleared.is_empty() && d.changed == 0);
    let open = store
        .findings(&FindingQuery {
            state: FindingState::Open,
            ..all_states("prod")
        })
        .await?;
    assert!(
        open.items.iter().all(|f| f.last_seen == at(150)),
        "{open:?}"
    );
    let old_a = store.finding(first_a.id).await?.ok_or("old a")?;
    assert_eq!(
        old_a.last_seen,
        at(0),
        "a cleared occurrence keeps its last sighting"
    );
    let scans = store.cluster_scans().await?;
    let summary: Vec<(&str, jiff::Timestamp, u64)> = scans
        .iter()
        .map(|s| (s.cluster.as_str(), s.last_scan_at, s.open))
        .collect();
    assert_eq!(summary, [("prod", at(150), 3), ("staging", at(130), 1)]);

    let d4 = store.record_scan("prod", &[], at(180)).await?;
    assert_eq!(d4.cleared.len(), 3);
    assert_eq!(d4.open, 0);
    assert!(d4.cleared.iter().all(|f| f.cleared_at == Some(at(180))));
    assert!(d4.cleared.iter().all(|f| f.last_seen == at(150)), "{d4:?}");
    assert_eq!(store.cluster_scans().await?[0].open, 0);
    let staging = store.findings(&all_states("staging")).await?;
    assert!(staging.items[0].is_open(), "other cluster untouched");
    Ok(())
}

fn fingerprints_of(fs: &[&Finding]) -> Vec<String> {
    let mut v: Vec<String> = fs.iter().map(|f| f.fingerprint.clone()).collect();
    v.sort();
    v
}

/// After an upgrade that groups per-pod findings under their workload, the history goes on:
/// the group takes over the earliest pod finding's row (id and first-seen kept), the other
/// pods' rows close without being reported as cleared, and nothing else reopens.
pub async fn grouped_findings_go_on_from_their_pods_findings(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let pods: Vec<Finding> = ["api-1", "api-2", "api-3"]
        .iter()
        .map(|n| finding("pod.oom-killed", Some("shop"), n, Severity::High))
        .collect();
    let other = finding("pod.evicted", Some("shop"), "batch-1", Severity::Low);
    let d1 = store
        .record_scan("prod", &[pods[1].clone(), other.clone()], at(0))
        .await?;
    assert_eq!(d1.open, 2);
    let d2 = store
        .record_scan(
            "prod",
            &[
                pods[1].clone(),
                pods[0].clone(),
                pods[2].clone(),
                other.clone(),
            ],
            at(60),
        )
        .await?;
    assert_eq!(d2.appeared.len(), 2);
    let first = store.findings(&all_states("prod")).await?;
    let id_of = |fp: &str| {
        first
            .items
            .iter()
            .find(|f| f.finding.fingerprint == fp)
            .map(|f| f.id)
    };
    let earliest = id_of(&pods[1].fingerprint).ok_or("api-2 stored")?;

    let deploy = kaptain_model::ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
    let group = Finding {
        fingerprint: kaptain_model::fingerprint("pod.oom-killed", &deploy, "api"),
        instances: pods
            .iter()
            .map(|p| kaptain_model::Instance {
                object: p.object.clone(),
                fingerprint: p.fingerprint.clone(),
            })
            .collect(),
        object: deploy,
        ..pods[0].clone()
    };
    let d3 = store
        .record_scan("prod", &[group.clone(), other.clone()], at(120))
        .await?;
    assert!(d3.appeared.is_empty(), "nothing reopens: {:?}", d3.appeared);
    assert!(d3.cleared.is_empty(), "nothing cleared: {:?}", d3.cleared);
    assert_eq!(d3.merged, 2);
    assert_eq!(d3.changed, 1);
    assert_eq!(d3.open, 2);

    let open = store
        .findings(&FindingQuery {
            cluster: Some("prod".into()),
            check: Some("pod.oom-killed".into()),
            ..FindingQuery::default()
        })
        .await?;
    assert_eq!(open.items.len(), 1, "one open finding for the workload");
    let g = &open.items[0];
    assert_eq!(
        g.id, earliest,
        "the earliest pod finding's occurrence goes on"
    );
    assert_eq!(g.first_seen, at(0));
    assert_eq!(g.last_seen, at(120));
    assert_eq!(g.finding, group);
    assert_eq!(g.finding.object.kind, "Deployment");

    // The next scan is an ordinary one: the group is open, the same content.
    let d4 = store
        .record_scan("prod", &[group.clone(), other.clone()], at(180))
        .await?;
    assert!(d4.appeared.is_empty() && d4.cleared.is_empty());
    assert_eq!((d4.changed, d4.merged, d4.open), (0, 0, 2));
    Ok(())
}

pub async fn scan_updates_changed_content_and_ignores_duplicates(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let a = finding("pod.oom", Some("shop"), "a", Severity::Medium);
    let id = store
        .record_scan("prod", std::slice::from_ref(&a), at(0))
        .await?
        .appeared[0]
        .id;

    let mut changed = a.clone();
    changed.severity = Severity::Critical;
    changed.message = "restarted 12 times".into();
    let d = store
        .record_scan("prod", std::slice::from_ref(&changed), at(10))
        .await?;
    assert!(d.appeared.is_empty() && d.cleared.is_empty());
    assert_eq!(d.changed, 1);
    let stored = store.finding(id).await?.ok_or("a")?;
    assert_eq!(stored.finding, changed);
    assert_eq!((stored.first_seen, stored.last_seen), (at(0), at(10)));
    let critical = store
        .findings(&FindingQuery {
            min_severity: Some(Severity::Critical),
            ..FindingQuery::default()
        })
        .await?;
    assert_eq!(
        critical.items.len(),
        1,
        "indexed severity follows the content"
    );

    let d = store
        .record_scan("prod", &[changed.clone(), changed.clone()], at(20))
        .await?;
    assert_eq!((d.appeared.len(), d.changed, d.open), (0, 0, 1));

    let bb = finding("pod.oom", Some("shop"), "b", Severity::Low);
    let mut bb_later = bb.clone();
    bb_later.message = "a later copy in the same scan".into();
    let d = store
        .record_scan("prod", &[changed, bb.clone(), bb_later], at(30))
        .await?;
    assert_eq!(d.appeared.len(), 1, "one occurrence per fingerprint");
    assert_eq!(d.appeared[0].finding, bb, "the first copy wins");
    assert_eq!(d.open, 2);
    Ok(())
}

/// The listing order: severity desc, first seen desc, id desc.
fn order_key(
    f: &StoredFinding,
) -> (
    std::cmp::Reverse<Severity>,
    std::cmp::Reverse<jiff::Timestamp>,
    std::cmp::Reverse<i64>,
) {
    (
        std::cmp::Reverse(f.finding.severity),
        std::cmp::Reverse(f.first_seen),
        std::cmp::Reverse(f.id),
    )
}

async fn collect_pages(
    store: &kaptain_store::Store,
    mut q: FindingQuery,
) -> Result<(Vec<StoredFinding>, usize), Box<dyn std::error::Error + Send + Sync>> {
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.findings(&q).await?;
        // The API's listing passes the stored JSON through: the same page, byte for byte
        // once parsed, with the same cursor.
        let raw = store.findings_json(&q).await?;
        assert_eq!(
            serde_json::to_value(&raw)?,
            serde_json::to_value(&page)?,
            "findings_json differs from findings for {q:?}"
        );
        pages += 1;
        assert!(page.items.len() <= q.limit as usize);
        items.extend(page.items);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok((items, pages)),
        }
    }
}

pub async fn pagination_covers_every_row_once_in_order(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let severities = Severity::ALL;
    let make = |i: usize| {
        let check = if i.is_multiple_of(3) {
            "service.no-endpoints"
        } else {
            "pod.crash-loop"
        };
        let ns = format!("ns{}", i % 7);
        finding(check, Some(&ns), &format!("p{i}"), severities[i % 5])
    };
    // 1,000 at once (on PostgreSQL this also refreshes planner statistics), 200 more later,
    // then rows 0..50 clear and 1,200..1,250 appear.
    let first: Vec<Finding> = (0..1000).map(make).collect();
    let second: Vec<Finding> = (0..1200).map(make).collect();
    let third: Vec<Finding> = (50..1250).map(make).collect();
    store.record_scan("big", &first, at(0)).await?;
    store.record_scan("big", &second, at(10)).await?;
    let d = store.record_scan("big", &third, at(20)).await?;
    assert_eq!((d.appeared.len(), d.cleared.len()), (50, 50));

    let (all, pages) = collect_pages(
        &store,
        FindingQuery {
            cluster: Some("big".into()),
            state: FindingState::All,
            limit: 100,
            ..FindingQuery::default()
        },
    )
    .await?;
    assert_eq!(all.len(), 1250);
    assert_eq!(pages, 13);
    let ids: HashSet<i64> = all.iter().map(|f| f.id).collect();
    assert_eq!(ids.len(), 1250, "no row twice");
    let mut sorted = all.clone();
    sorted.sort_by_key(order_key);
    assert_eq!(
        all.iter().map(|f| f.id).collect::<Vec<_>>(),
        sorted.iter().map(|f| f.id).collect::<Vec<_>>(),
        "stable order across pages"
    );

    // A filtered walk with an odd page size sees exactly the matching rows.
    let (open_high, _) = collect_pages(
        &store,
        FindingQuery {
            cluster: Some("big".into()),
            min_severity: Some(Severity::High),
            limit: 7,
            ..FindingQuery::default()
        },
    )
    .await?;
    let expected: HashSet<i64> = all
        .iter()
        .filter(|f| f.is_open() && f.finding.severity >= Severity::High)
        .map(|f| f.id)
        .collect();
    assert_eq!(
        open_high.iter().map(|f| f.id).collect::<HashSet<_>>(),
        expected
    );
    assert_eq!(open_high.len(), expected.len());

    // Page sizes: 0 means 100, more than 1000 means 1000.
    let default = store
        .findings(&FindingQuery {
            limit: 0,
            ..all_states("big")
        })
        .await?;
    assert_eq!(default.items.len(), 100);
    let capped = store
        .findings(&FindingQuery {
            limit: 5000,
            ..all_states("big")
        })
        .await?;
    assert_eq!(capped.items.len(), 1000);
    assert!(capped.next_cursor.is_some());

    for bad in ["garbage", "", "ZjE6MQ"] {
        let r = store
            .findings(&FindingQuery {
                cursor: Some(bad.into()),
                ..FindingQuery::default()
            })
            .await;
        assert!(
            matches!(r, Err(kaptain_store::Error::InvalidCursor)),
            "{bad}: {r:?}"
        );
    }
    let run_cursor = {
        store.create_run("big", "t").await?;
        store.create_run("big", "t").await?;
        store
            .runs(None, 1, None)
            .await?
            .next_cursor
            .ok_or("runs cursor")?
    };
    assert!(matches!(
        store
            .findings(&FindingQuery {
                cursor: Some(run_cursor),
                ..FindingQuery::default()
            })
            .await,
        Err(kaptain_store::Error::InvalidCursor)
    ));
    Ok(())
}

pub async fn filters_select_the_right_rows(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let cm = finding(
        "config.missing-configmap",
        Some("shop"),
        "cm",
        Severity::Critical,
    );
    let crash = symptom("pod.crash-loop", Some("shop"), "api", &cm);
    let pull = finding("pod.image-pull", Some("web"), "front", Severity::Medium);
    let pdb = finding(
        "poddisruptionbudget.blocks",
        Some("shop"),
        "pdb",
        Severity::Low,
    );
    let node = finding("node.not-ready", None, "n1", Severity::High);
    store
        .record_scan(
            "prod",
            &[
                cm.clone(),
                crash.clone(),
                pull.clone(),
                pdb.clone(),
                node.clone(),
            ],
            at(0),
        )
        .await?;
    store
        .record_scan("dev", std::slice::from_ref(&pull), at(0))
        .await?;

    let names = |q: FindingQuery| {
        let store = store.clone();
        async move {
            let page = store.findings(&q).await?;
            let mut v: Vec<String> = page
                .items
                .iter()
                .map(|f| format!("{}:{}", f.cluster, f.finding.object.name))
                .collect();
            v.sort();
            Ok::<_, kaptain_store::Error>(v)
        }
    };
    let q = FindingQuery::default;
    assert_eq!(names(q()).await?.len(), 6);
    assert_eq!(
        names(FindingQuery {
            cluster: Some("dev".into()),
            ..q()
        })
        .await?,
        ["dev:front"]
    );
    assert_eq!(
        names(FindingQuery {
            cluster: Some("prod".into()),
            namespace: Some("shop".into()),
            ..q()
        })
        .await?,
        ["prod:api", "prod:cm", "prod:pdb"]
    );
    assert_eq!(
        names(FindingQuery {
            cluster: Some("prod".into()),
            min_severity: Some(Severity::High),
            ..q()
        })
        .await?,
        ["prod:api", "prod:cm", "prod:n1"]
    );
    assert_eq!(
        names(FindingQuery {
            check: Some("pod.crash-loop".into()),
            ..q()
        })
        .await?,
        ["prod:api"]
    );
    assert_eq!(
        names(FindingQuery {
            check: Some("pod.".into()),
            cluster: Some("prod".into()),
            ..q()
        })
        .await?,
        ["prod:api", "prod:front"],
        "a prefix ending in '.' does not match poddisruptionbudget.*"
    );
    assert!(
        names(FindingQuery {
            check: Some("pod".into()),
            ..q()
        })
        .await?
        .is_empty(),
        "without the dot it is an exact id"
    );
    assert_eq!(
        names(FindingQuery {
            cluster: Some("prod".into()),
            root_only: true,
            ..q()
        })
        .await?,
        ["prod:cm", "prod:front", "prod:n1", "prod:pdb"]
    );
    let stored_crash = store
        .findings(&FindingQuery {
            check: Some("pod.crash-loop".into()),
            ..q()
        })
        .await?;
    assert_eq!(
        stored_crash.items[0].finding.caused_by,
        vec![cm.fingerprint.clone()]
    );
    assert!(
        names(FindingQuery {
            state: FindingState::Cleared,
            ..q()
        })
        .await?
        .is_empty()
    );
    Ok(())
}

pub async fn concurrent_scans_of_one_cluster_stay_consistent(b: &Backend) -> TestResult {
    // Two stores (two pools, like two server replicas) and several tasks each.
    let s1 = b.open_with(None, 4).await?;
    let s2 = b.open_with(None, 4).await?;
    let pool: Vec<Finding> = (0..200)
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
    for t in 0..8usize {
        let store = if t.is_multiple_of(2) {
            s1.clone()
        } else {
            s2.clone()
        };
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..5usize {
                let subset: Vec<Finding> = pool
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (i + t + round) % 3 != 0)
                    .map(|(_, f)| f.clone())
                    .collect();
                store
                    .record_scan("shared", &subset, at((round * 10 + t) as i64))
                    .await?;
            }
            Ok::<_, kaptain_store::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let last: Vec<Finding> = pool[..50].to_vec();
    let d = s1.record_scan("shared", &last, at(1000)).await?;
    assert_eq!(d.open, 50);
    let open = s2
        .findings(&FindingQuery {
            cluster: Some("shared".into()),
            limit: 1000,
            ..FindingQuery::default()
        })
        .await?;
    let open_fps: Vec<String> = fingerprints(&open.items);
    let mut expected: Vec<String> = last.iter().map(|f| f.fingerprint.clone()).collect();
    expected.sort();
    assert_eq!(
        open_fps, expected,
        "exactly one open occurrence per reported finding"
    );
    Ok(())
}

pub async fn mttr_and_severity_chart(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let a = finding("pod.x", Some("n"), "a", Severity::Critical);
    let bb = finding("pod.y", Some("n"), "b", Severity::High);
    let c = finding("svc.z", Some("n"), "c", Severity::Low);
    store
        .record_scan("prod", &[a.clone(), bb.clone(), c.clone()], at(0))
        .await?;
    store
        .record_scan("prod", &[bb.clone(), c.clone()], at(100))
        .await?;
    store
        .record_scan("prod", std::slice::from_ref(&c), at(400))
        .await?;
    store.record_scan("prod", &[], at(1000)).await?;
    // Noise in another cluster, still open.
    store
        .record_scan("dev", std::slice::from_ref(&a), at(0))
        .await?;

    let m = store.mttr(Some("prod"), at(0)).await?;
    assert_eq!(m.cleared, 3);
    assert_eq!(m.mean_secs, Some(500.0));
    assert_eq!(m.median_secs, Some(400.0));
    let per: Vec<(String, u64, f64)> = m
        .by_check
        .iter()
        .map(|c| (c.check_id.clone(), c.cleared, c.median_secs))
        .collect();
    assert_eq!(
        per,
        [
            ("pod.x".to_owned(), 1, 100.0),
            ("pod.y".to_owned(), 1, 400.0),
            ("svc.z".to_owned(), 1, 1000.0)
        ]
    );
    let late = store.mttr(None, at(500)).await?;
    assert_eq!((late.cleared, late.mean_secs), (1, Some(1000.0)));
    let none = store.mttr(Some("dev"), at(0)).await?;
    assert_eq!((none.cleared, none.mean_secs), (0, None));

    let chart = store
        .severity_counts_between(Some("prod"), at(-100), at(1100), 100)
        .await?;
    assert_eq!(chart.len(), 12);
    assert_eq!(chart[0].start, at(-100));
    assert_eq!(chart[0].end, at(0));
    let counts = |critical, high, low| SeverityCounts {
        critical,
        high,
        low,
        ..SeverityCounts::default()
    };
    let expected = [
        counts(1, 1, 1), // sampled at 0: all three appeared
        counts(0, 1, 1), // 100: a cleared
        counts(0, 1, 1),
        counts(0, 1, 1),
        counts(0, 0, 1), // 400: b cleared
        counts(0, 0, 1),
        counts(0, 0, 1),
        counts(0, 0, 1),
        counts(0, 0, 1),
        counts(0, 0, 1),
        counts(0, 0, 0), // 1000: c cleared
        counts(0, 0, 0),
    ];
    assert_eq!(chart.iter().map(|b| b.counts).collect::<Vec<_>>(), expected);
    let everywhere = store
        .severity_counts_between(None, at(-100), at(100), 100)
        .await?;
    assert_eq!(everywhere[0].counts.critical, 2, "prod and dev");
    assert_eq!(everywhere[1].counts.critical, 1, "dev stays open");

    // Until now: the last bucket holds what is open now (dev's a).
    let now = store
        .severity_counts_over_time(None, at(0), 30 * 86_400)
        .await?;
    let last = now.last().ok_or("buckets")?;
    assert_eq!(last.counts.total(), 1);
    assert!(
        store
            .severity_counts_between(None, at(0), at(10), 0)
            .await
            .is_err()
    );
    assert!(
        store
            .severity_counts_between(None, at(0), at(1_000_000), 1)
            .await
            .is_err(),
        "too many buckets"
    );
    assert!(
        store
            .severity_counts_between(None, at(10), at(0), 1)
            .await?
            .is_empty()
    );
    Ok(())
}
