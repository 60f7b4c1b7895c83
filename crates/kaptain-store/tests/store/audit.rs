//! The audit log: chain, queries, concurrency, triggers, and tampering detected.

use std::collections::HashSet;

use jiff::Timestamp;
use kaptain_store::{AuditQuery, GENESIS_HASH, NewAudit, Store};
use serde_json::json;

use crate::common::{Backend, TestResult};

fn entry(actor: &str, action: &str, n: usize) -> NewAudit {
    NewAudit {
        actor: actor.into(),
        action: action.into(),
        target: format!("HealingAction/shop/a{n}"),
        cluster: Some(if n.is_multiple_of(2) { "prod" } else { "dev" }.into()),
        details: json!({"n": n, "reason": "because", "nested": {"z": 1, "a": [1, 2]}}),
        outcome: "success".into(),
    }
}

async fn append_n(store: &Store, n: usize) -> Result<(), kaptain_store::Error> {
    for i in 1..=n {
        store
            .append_audit(entry("alice", "healing.approve", i))
            .await?;
    }
    Ok(())
}

pub async fn chain_links_and_queries(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let empty = store.verify_audit().await?;
    assert!(empty.ok);
    assert_eq!((empty.records, empty.head), (0, None));

    let before = Timestamp::now();
    let r1 = store
        .append_audit(entry("alice", "token.create", 0))
        .await?;
    assert_eq!(r1.seq, 1);
    assert_eq!(r1.prev_hash, GENESIS_HASH);
    assert_eq!(r1.hash.len(), 64);
    assert!(r1.ts + jiff::SignedDuration::from_micros(1) > before);
    assert_eq!(r1.details["nested"]["a"], json!([1, 2]));
    let r2 = store
        .append_audit(NewAudit {
            cluster: None,
            details: json!(null),
            outcome: "denied".into(),
            ..entry("bob", "run.start", 1)
        })
        .await?;
    assert_eq!((r2.seq, r2.prev_hash.as_str()), (2, r1.hash.as_str()));
    for i in 2..25usize {
        store
            .append_audit(entry(
                if i.is_multiple_of(3) { "bob" } else { "alice" },
                "healing.approve",
                i,
            ))
            .await?;
    }
    let v = store.verify_audit().await?;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.records, 25);
    let head = store.audit_head().await?.ok_or("head")?;
    assert_eq!(v.head, Some(head.clone()));
    assert_eq!(head.0, 25);

    // Newest first, paginated, filtered.
    let mut q = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    let mut seqs = Vec::new();
    loop {
        let page = store.audit(&q).await?;
        seqs.extend(page.items.iter().map(|r| r.seq));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=25).rev().collect::<Vec<u64>>());
    let stored_r2 = store
        .audit(&AuditQuery {
            actor: Some("bob".into()),
            action: Some("run.start".into()),
            ..AuditQuery::default()
        })
        .await?;
    assert_eq!(stored_r2.items, vec![r2.clone()], "stored as returned");
    let bobs = store
        .audit(&AuditQuery {
            actor: Some("bob".into()),
            ..AuditQuery::default()
        })
        .await?;
    assert_eq!(
        bobs.items.len(),
        1 + (2..25usize).filter(|i| i.is_multiple_of(3)).count()
    );
    let prod = store
        .audit(&AuditQuery {
            cluster: Some("prod".into()),
            ..AuditQuery::default()
        })
        .await?;
    assert!(
        prod.items
            .iter()
            .all(|r| r.cluster.as_deref() == Some("prod"))
    );
    assert!(!prod.items.is_empty());
    let future = store
        .audit(&AuditQuery {
            since: Some(Timestamp::now() + jiff::SignedDuration::from_secs(3600)),
            ..AuditQuery::default()
        })
        .await?;
    assert!(future.items.is_empty());
    let until_r2 = store
        .audit(&AuditQuery {
            until: Some(r2.ts),
            ..AuditQuery::default()
        })
        .await?;
    assert!(until_r2.items.iter().all(|r| r.ts < r2.ts));
    assert!(until_r2.items.iter().any(|r| r.seq == 1) || r1.ts == r2.ts);
    Ok(())
}

pub async fn concurrent_appends_keep_one_linear_chain(b: &Backend) -> TestResult {
    // Two stores (two pools, like two replicas), many tasks each.
    let s1 = b.open_with(None, 8).await?;
    let s2 = b.open_with(None, 8).await?;
    let (tasks, per_task) = (40usize, 10usize);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = if t.is_multiple_of(2) {
            s1.clone()
        } else {
            s2.clone()
        };
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..per_task {
                let r = store
                    .append_audit(entry(&format!("task{t}"), "x.y", t * per_task + i))
                    .await?;
                seqs.push(r.seq);
            }
            Ok::<_, kaptain_store::Error>(seqs)
        }));
    }
    let mut returned = HashSet::new();
    for h in handles {
        for seq in h.await?? {
            assert!(returned.insert(seq), "seq {seq} handed out twice");
        }
    }
    let n = (tasks * per_task) as u64;
    assert_eq!(returned, (1..=n).collect::<HashSet<u64>>());

    let v = s2.verify_audit().await?;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.records, n);
    // Walk the chain by hand too: seqs 1..N, each prev_hash the previous hash.
    let mut q = AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    };
    let mut all = Vec::new();
    loop {
        let page = s1.audit(&q).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    all.reverse();
    assert_eq!(all.len() as u64, n);
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.prev_hash, prev, "record {}", r.seq);
        prev = r.hash.clone();
    }
    Ok(())
}

pub async fn triggers_reject_update_and_delete(b: &Backend) -> TestResult {
    let store = b.open().await?;
    append_n(&store, 3).await?;
    let update = b
        .raw("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .await;
    assert!(update.is_err(), "UPDATE must be rejected");
    assert!(
        update
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("append-only")
    );
    assert!(b.raw("DELETE FROM audit_log WHERE seq = 3").await.is_err());
    if b.kind == crate::common::Kind::Postgres {
        assert!(b.raw("TRUNCATE audit_log").await.is_err());
    }
    let v = store.verify_audit().await?;
    assert!(v.ok && v.records == 3, "{v:?}");
    Ok(())
}

pub async fn modified_record_is_detected(b: &Backend) -> TestResult {
    let store = b.open().await?;
    append_n(&store, 10).await?;
    b.drop_audit_triggers().await?;
    b.raw(r#"UPDATE audit_log SET details = '{"n":5,"reason":"nothing to see"}' WHERE seq = 5"#)
        .await?;
    let v = store.verify_audit().await?;
    assert!(!v.ok);
    assert_eq!(v.records, 10);
    let (seq, reason) = v.first_bad.ok_or("first_bad")?;
    assert_eq!(seq, 5);
    assert!(reason.contains("modified"), "{reason}");

    // Recomputing the record's own hash is not enough: the next record links to the old one.
    let fresh = b.open().await?;
    b.raw("UPDATE audit_log SET hash = 'f00' WHERE seq = 5")
        .await?;
    let v = fresh.verify_audit().await?;
    assert_eq!(v.first_bad.map(|(s, _)| s), Some(5));
    Ok(())
}

pub async fn deleted_record_is_detected(b: &Backend) -> TestResult {
    let store = b.open().await?;
    append_n(&store, 8).await?;
    b.drop_audit_triggers().await?;
    b.raw("DELETE FROM audit_log WHERE seq = 4").await?;
    let v = store.verify_audit().await?;
    assert!(!v.ok);
    assert_eq!(v.records, 7);
    let (seq, reason) = v.first_bad.ok_or("first_bad")?;
    assert_eq!(seq, 4);
    assert!(reason.contains("missing"), "{reason}");
    Ok(())
}

pub async fn reordered_records_are_detected(b: &Backend) -> TestResult {
    let store = b.open().await?;
    append_n(&store, 8).await?;
    b.drop_audit_triggers().await?;
    b.raw(
        "UPDATE audit_log SET seq = -1 WHERE seq = 3; \
         UPDATE audit_log SET seq = 3 WHERE seq = 6; \
         UPDATE audit_log SET seq = 6 WHERE seq = -1;",
    )
    .await?;
    let v = store.verify_audit().await?;
    assert!(!v.ok);
    assert_eq!(v.records, 8);
    assert_eq!(v.first_bad.as_ref().map(|(s, _)| *s), Some(3), "{v:?}");
    Ok(())
}
