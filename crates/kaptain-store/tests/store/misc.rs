//! Runs, tokens, settings, reopening; SQLite-only checks of the file on disk and of URLs.

use jiff::{SignedDuration, Timestamp};
use kaptain_model::Severity;
use kaptain_store::{Error, Role, RunStatus, Scope, SecretKey, Store, TOKEN_PREFIX};
use serde_json::json;

use crate::common::{Backend, TestResult, at, finding};

pub async fn runs_lifecycle(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let r = store.create_run("prod", "alice").await?;
    assert_eq!((r.status, r.progress), (RunStatus::Queued, 0.0));
    assert_eq!(
        (r.started_at, r.finished_at, r.summary.clone()),
        (None, None, None)
    );

    let r = store
        .update_run(r.id, RunStatus::Running, 0.25, Some("listing pods"), None)
        .await?;
    assert_eq!(r.status, RunStatus::Running);
    assert_eq!(r.progress, 0.25);
    assert_eq!(r.message.as_deref(), Some("listing pods"));
    let started = r.started_at.ok_or("started_at")?;
    assert!(r.finished_at.is_none());

    let r = store
        .update_run(r.id, RunStatus::Running, 7.0, None, None)
        .await?;
    assert_eq!(r.progress, 1.0, "clamped");
    assert_eq!(r.message.as_deref(), Some("listing pods"), "kept");
    assert_eq!(r.started_at, Some(started), "first start kept");

    let summary = json!({"findings": 12, "root_causes": 3});
    let done = store
        .update_run(
            r.id,
            RunStatus::Succeeded,
            1.0,
            Some("done"),
            Some(&summary),
        )
        .await?;
    assert_eq!(done.summary, Some(summary.clone()));
    assert!(done.finished_at.is_some());
    assert_eq!(store.run(r.id).await?, Some(done.clone()));

    let again = store
        .update_run(r.id, RunStatus::Running, 0.5, None, None)
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert!(matches!(
        store
            .update_run(i64::MAX, RunStatus::Running, 0.5, None, None)
            .await,
        Err(Error::NotFound { what: "run", .. })
    ));
    assert!(matches!(
        store
            .update_run(r.id, RunStatus::Failed, f32::NAN, None, None)
            .await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(store.run(i64::MAX).await?, None);

    let failed = store.create_run("dev", "bob").await?;
    let failed = store
        .update_run(
            failed.id,
            RunStatus::Failed,
            0.0,
            Some("cluster unreachable"),
            None,
        )
        .await?;
    assert!(failed.finished_at.is_some() && failed.started_at.is_some());

    for i in 0..5 {
        store.create_run("prod", &format!("u{i}")).await?;
    }
    // prod: 6 runs, newest first, in pages of 4.
    let p1 = store.runs(Some("prod"), 4, None).await?;
    assert_eq!(p1.items.len(), 4);
    let p2 = store
        .runs(Some("prod"), 4, p1.next_cursor.as_deref())
        .await?;
    assert_eq!(p2.items.len(), 2);
    assert_eq!(p2.next_cursor, None);
    let ids: Vec<i64> = p1.items.iter().chain(&p2.items).map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
    assert!(ids.contains(&done.id));
    assert_eq!(store.runs(None, 0, None).await?.items.len(), 7);
    assert!(matches!(
        store.runs(None, 10, Some("bogus")).await,
        Err(Error::InvalidCursor)
    ));
    Ok(())
}

pub async fn token_lifecycle(b: &Backend) -> TestResult {
    let store = b.open().await?;
    let scopes = vec![Scope::cluster("prod"), Scope::namespace("dev", "shop")];
    let (info, secret) = store
        .create_token("ci", Role::Operator, scopes.clone(), None, "admin")
        .await?;
    assert!(
        secret.starts_with(TOKEN_PREFIX) && secret.len() == 47,
        "{secret}"
    );
    assert!(secret.starts_with(&info.hint));
    assert_eq!(
        (info.role, info.scopes.clone()),
        (Role::Operator, scopes.clone())
    );
    assert_eq!(info.last_used_at, None);

    let authed = store
        .authenticate_token(&secret)
        .await?
        .ok_or("valid token")?;
    assert_eq!(authed.id, info.id);
    assert!(authed.covers("dev", Some("shop")) && !authed.covers("dev", Some("kube-system")));
    let used = authed.last_used_at.ok_or("last_used_at")?;
    let listed = store.tokens().await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(used), "recorded in the store");
    // A second use within the minute does not write again.
    let again = store.authenticate_token(&secret).await?.ok_or("valid")?;
    assert_eq!(again.last_used_at, Some(used));

    // Wrong, malformed, and almost-right secrets.
    let mut flipped = secret.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped)?;
    for bad in [flipped.as_str(), "", "kpt_", "Bearer x", &secret[..20]] {
        assert_eq!(store.authenticate_token(bad).await?, None, "{bad:?}");
    }

    // Expiry: past rejects, future accepts.
    let (_, expired) = store
        .create_token(
            "old",
            Role::Admin,
            vec![],
            Some(Timestamp::now() - SignedDuration::from_secs(1)),
            "admin",
        )
        .await?;
    assert_eq!(store.authenticate_token(&expired).await?, None);
    let (future_info, future) = store
        .create_token(
            "new",
            Role::Viewer,
            vec![],
            Some(Timestamp::now() + SignedDuration::from_secs(3600)),
            "admin",
        )
        .await?;
    let f = store.authenticate_token(&future).await?.ok_or("future")?;
    assert_eq!(f.expires_at, future_info.expires_at);
    assert!(f.covers("anything", None), "no scopes: everywhere");

    // Revocation.
    let revoked = store.revoke_token(info.id).await?;
    let when = revoked.revoked_at.ok_or("revoked_at")?;
    assert_eq!(store.authenticate_token(&secret).await?, None);
    assert_eq!(store.revoke_token(info.id).await?.revoked_at, Some(when));
    assert!(matches!(
        store.revoke_token(i64::MAX).await,
        Err(Error::NotFound { what: "token", .. })
    ));
    assert!(
        store.authenticate_token(&future).await?.is_some(),
        "others unaffected"
    );
    assert_eq!(store.tokens().await?.len(), 3);

    assert!(matches!(
        store
            .create_token(" ", Role::Viewer, vec![], None, "a")
            .await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        store
            .create_token("x", Role::Viewer, vec![Scope::cluster("")], None, "a")
            .await,
        Err(Error::InvalidArgument(_))
    ));
    Ok(())
}

pub async fn settings_secret_and_plain(b: &Backend) -> TestResult {
    let key = SecretKey::generate()?;
    let store = b.open_with(Some(key.clone()), 2).await?;
    store.set_setting("llm.model", "llama3", false).await?;
    store
        .set_setting("llm.api_key", "sk-test-123", true)
        .await?;
    assert_eq!(store.setting("llm.model").await?.as_deref(), Some("llama3"));
    assert_eq!(
        store.setting("llm.api_key").await?.as_deref(),
        Some("sk-test-123")
    );
    assert_eq!(store.setting("missing").await?, None);

    let list = store.settings().await?;
    let view: Vec<(&str, bool)> = list.iter().map(|s| (s.name.as_str(), s.secret)).collect();
    assert_eq!(view, [("llm.api_key", true), ("llm.model", false)]);
    let listed = serde_json::to_string(&list)?;
    assert!(
        !listed.contains("sk-test-123") && !listed.contains("llama3"),
        "{listed}"
    );

    // Overwrite, switch between secret and plain, delete.
    store
        .set_setting("llm.api_key", "sk-test-456", true)
        .await?;
    assert_eq!(
        store.setting("llm.api_key").await?.as_deref(),
        Some("sk-test-456")
    );
    store.set_setting("llm.model", "hidden-model", true).await?;
    assert!(store.settings().await?.iter().all(|s| s.secret));
    assert!(store.delete_setting("llm.model").await?);
    assert!(!store.delete_setting("llm.model").await?);
    assert_eq!(store.setting("llm.model").await?, None);

    // Without the key nothing secret can be read or written; with another key it fails to
    // decrypt; plain settings still work.
    let keyless = b.open().await?;
    assert!(matches!(
        keyless.setting("llm.api_key").await,
        Err(Error::NoSecretKey { .. })
    ));
    assert!(matches!(
        keyless.set_setting("webhook.url", "https://x", true).await,
        Err(Error::NoSecretKey { .. })
    ));
    keyless.set_setting("ui.theme", "dark", false).await?;
    let wrong = b.open_with(Some(SecretKey::generate()?), 1).await?;
    assert!(matches!(
        wrong.setting("llm.api_key").await,
        Err(Error::Decrypt { .. })
    ));
    assert_eq!(wrong.setting("ui.theme").await?.as_deref(), Some("dark"));
    // The original key still decrypts after a reopen.
    let reopened = b.open_with(Some(key), 1).await?;
    assert_eq!(
        reopened.setting("llm.api_key").await?.as_deref(),
        Some("sk-test-456")
    );
    Ok(())
}

pub async fn reopening_keeps_data_and_migrates_once(b: &Backend) -> TestResult {
    let store = b.open().await?;
    assert_eq!(
        store.backend(),
        match b.kind {
            crate::common::Kind::Sqlite => "sqlite",
            crate::common::Kind::Postgres => "postgres",
        }
    );
    store
        .record_scan(
            "prod",
            &[finding("pod.x", Some("n"), "a", Severity::Low)],
            at(0),
        )
        .await?;
    store
        .append_audit(kaptain_store::NewAudit {
            actor: "a".into(),
            action: "b".into(),
            target: "c".into(),
            cluster: None,
            details: json!({}),
            outcome: "success".into(),
        })
        .await?;
    store.close().await;
    // Several opens at once, as replicas starting together.
    let (s1, s2) = tokio::join!(b.open(), b.open());
    let (s1, s2) = (s1?, s2?);
    assert_eq!(
        s1.findings(&Default::default()).await?.items.len(),
        1,
        "data survives"
    );
    assert!(s2.verify_audit().await?.ok);
    Ok(())
}

/// Every byte of the SQLite database (main file, WAL, shared memory).
fn sqlite_bytes(dir: &std::path::Path) -> Result<Vec<u8>, std::io::Error> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        all.extend(std::fs::read(entry?.path())?);
    }
    Ok(all)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn sqlite_file_holds_no_plaintext_secret() -> TestResult {
    let b = Backend::sqlite().await?;
    let dir = b.dir.as_ref().ok_or("dir")?.path().to_path_buf();
    let store = b.open_with(Some(SecretKey::generate()?), 2).await?;
    let secret = "sk-live-7f3a9c1e5b2d4f60";
    let plain = "plain-marker-81d2e4";
    store.set_setting("llm.api_key", secret, true).await?;
    store.set_setting("ui.note", plain, false).await?;
    let (_, token) = store
        .create_token("ci", Role::Admin, vec![], None, "admin")
        .await?;
    // Both while the data may sit in the WAL and after a checkpoint into the main file.
    let live = sqlite_bytes(&dir)?;
    assert!(contains(&live, plain), "the scan finds what is there");
    assert!(!contains(&live, secret), "secret setting in plaintext");
    assert!(!contains(&live, &token), "token secret in plaintext");
    store.close().await;
    b.raw("PRAGMA wal_checkpoint(TRUNCATE);").await?;
    let closed = sqlite_bytes(&dir)?;
    assert!(contains(&closed, plain));
    assert!(!contains(&closed, secret));
    assert!(!contains(&closed, &token));
    Ok(())
}

#[tokio::test]
async fn urls_memory_and_errors() -> TestResult {
    let mem = Store::open("sqlite::memory:").await?;
    assert_eq!(mem.backend(), "sqlite");
    mem.record_scan("c", &[finding("pod.x", None, "a", Severity::High)], at(0))
        .await?;
    mem.append_audit(kaptain_store::NewAudit {
        actor: "a".into(),
        action: "b".into(),
        target: "c".into(),
        cluster: None,
        details: json!({"k": 1}),
        outcome: "success".into(),
    })
    .await?;
    assert_eq!(mem.findings(&Default::default()).await?.items.len(), 1);
    assert!(mem.verify_audit().await?.ok);
    // Two in-memory stores are separate databases.
    let other = Store::open("sqlite::memory:").await?;
    assert!(other.findings(&Default::default()).await?.items.is_empty());

    // Read-only tools can refuse to create a store.
    let dir = tempfile::tempdir()?;
    let absent = dir.path().join("absent.db");
    let refused = Store::open_with(kaptain_store::StoreOptions {
        create_if_missing: false,
        ..kaptain_store::StoreOptions::new(format!("sqlite://{}", absent.display()))
    })
    .await;
    assert!(
        matches!(refused, Err(Error::NoDatabase { .. })),
        "{refused:?}"
    );
    assert!(!absent.exists());

    // A missing directory is created.
    let dir = tempfile::tempdir()?;
    let nested = dir.path().join("a/b/kaptain.db");
    Store::open(&format!("sqlite://{}", nested.display())).await?;
    assert!(nested.is_file());

    let err = Store::open("mysql://root:hunter2@db/k")
        .await
        .err()
        .ok_or("mysql")?;
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("***"), "{text}");
    assert!(Store::open("").await.is_err());
    let unreachable = Store::open_with(kaptain_store::StoreOptions {
        max_connections: Some(1),
        acquire_timeout: Some(std::time::Duration::from_secs(2)),
        ..kaptain_store::StoreOptions::new("postgres://nobody:pw@127.0.0.1:1/none")
    })
    .await;
    let err = unreachable.err().ok_or("port 1 answered")?;
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1:1") && !text.contains(":pw@"),
        "{text}"
    );
    Ok(())
}

#[test]
fn default_url_follows_xdg() {
    let url = kaptain_store::default_database_url();
    assert!(url.starts_with("sqlite://"), "{url}");
    assert!(
        url.ends_with("kaptain/kaptain.db") || url == "sqlite://kaptain.db",
        "{url}"
    );
}
