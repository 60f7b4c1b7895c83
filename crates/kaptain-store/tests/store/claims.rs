//! Leases: one holder at a time, renewed by its holder, taken over once expired, released on
//! demand; replicas racing for one claim get it exactly once.

use std::time::Duration;

use kaptain_store::{Claim, Error};

use crate::common::{Backend, TestResult, at};

const TTL: Duration = Duration::from_secs(60);

pub async fn lease_acquire_renew_expire_takeover(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let name = "findings/prod";
    assert_eq!(store.claim(name).await?, None);

    // Free: A takes it.
    assert!(store.hold_claim(name, "a", at(0), TTL).await?);
    let taken = Claim {
        name: name.into(),
        holder: "a".into(),
        acquired_at: at(0),
        expires_at: at(60),
    };
    assert_eq!(store.claim(name).await?, Some(taken.clone()));
    assert!(taken.is_held_at(at(59)) && !taken.is_held_at(at(60)));

    // Held by A: B is refused and changes nothing.
    assert!(!store.hold_claim(name, "b", at(30), TTL).await?);
    assert_eq!(store.claim(name).await?, Some(taken));

    // A renews: it expires later, and A has held it since it took it.
    assert!(store.hold_claim(name, "a", at(40), TTL).await?);
    let renewed = store.claim(name).await?.ok_or("no claim")?;
    assert_eq!((renewed.holder.as_str(), renewed.acquired_at), ("a", at(0)));
    assert_eq!(renewed.expires_at, at(100));

    // Still A's just before it expires; B takes it over once it has.
    assert!(!store.hold_claim(name, "b", at(99), TTL).await?);
    assert!(store.hold_claim(name, "b", at(100), TTL).await?);
    let over = store.claim(name).await?.ok_or("no claim")?;
    assert_eq!(
        (over.holder.as_str(), over.acquired_at, over.expires_at),
        ("b", at(100), at(160))
    );
    // A comes back: refused.
    assert!(!store.hold_claim(name, "a", at(101), TTL).await?);

    // Another claim is independent.
    assert!(store.hold_claim("findings/dev", "a", at(101), TTL).await?);
    assert_eq!(
        store.claim("findings/dev").await?.map(|l| l.holder),
        Some("a".to_owned())
    );

    // Only the holder releases; then anyone may take it at once.
    assert!(!store.release_claim(name, "a").await?);
    assert!(store.release_claim(name, "b").await?);
    assert_eq!(store.claim(name).await?, None);
    assert!(!store.release_claim(name, "b").await?);
    assert!(store.hold_claim(name, "a", at(102), TTL).await?);
    assert_eq!(
        store.claim("findings/dev").await?.map(|l| l.holder),
        Some("a".to_owned()),
        "releasing one claim left another alone"
    );

    // A claim needs a time to live.
    assert!(matches!(
        store.hold_claim(name, "a", at(103), Duration::ZERO).await,
        Err(Error::InvalidArgument(_))
    ));
    Ok(())
}

/// Replicas (stores with pools of their own) asking for the same free claim at once: exactly
/// one gets it, every round; when it has expired, exactly one of the others takes it over.
pub async fn lease_racing_replicas_get_it_once(b: &Backend) -> TestResult {
    const REPLICAS: usize = 6;
    const ROUNDS: usize = 10;
    let mut stores = Vec::new();
    for _ in 0..REPLICAS {
        stores.push(b.open_with(None, 2).await?);
    }
    for round in 0..ROUNDS {
        let name = format!("findings/race-{round}");
        let mut previous = None;
        for (start, label) in [(0, "free"), (60, "expired")] {
            let mut tasks = Vec::new();
            // The holder itself would simply renew: the others race for the takeover.
            for (i, store) in stores.iter().enumerate() {
                if previous == Some(i) {
                    continue;
                }
                let (store, name) = (store.clone(), name.clone());
                tasks.push(tokio::spawn(async move {
                    store
                        .hold_claim(&name, &format!("replica-{i}"), at(start), TTL)
                        .await
                        .map(|held| held.then_some(i))
                }));
            }
            let mut winners = Vec::new();
            for t in tasks {
                winners.extend(t.await??);
            }
            assert_eq!(winners.len(), 1, "round {round}, {label}: {winners:?}");
            let claim = stores[0].claim(&name).await?.ok_or("no claim")?;
            assert_eq!(claim.holder, format!("replica-{}", winners[0]));
            assert_eq!(claim.acquired_at, at(start));
            previous = Some(winners[0]);
        }
    }
    Ok(())
}
