//! `kaptain audit verify` on a real SQLite store: intact, tampered, missing, bad URL, and the
//! default location; several processes opening (and migrating) a new store at once.

use std::path::Path;
use std::process::{Command, Output};

use kaptain_store::{NewAudit, Store};
use sqlx::Connection as _;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn kaptain(args: &[&str], xdg_data_home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaptain"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", xdg_data_home)
        .env_remove("KAPTAIN_DATABASE_URL")
        .output()
        .expect("run kaptain")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A store at `path` with `n` audit records.
async fn store_with_records(path: &Path, n: usize) -> Result<String, kaptain_store::Error> {
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await?;
    for i in 1..=n {
        store
            .append_audit(NewAudit {
                actor: "alice".into(),
                action: "healing.approve".into(),
                target: format!("HealingAction/shop/a{i}"),
                cluster: Some("prod".into()),
                details: serde_json::json!({"i": i}),
                outcome: "success".into(),
            })
            .await?;
    }
    store.close().await;
    Ok(url)
}

/// Rewrites record `seq`'s details behind the store's back (dropping the trigger first, as
/// an attacker with write access to the file could).
async fn tamper(url: &str, seq: i64) -> Result<(), sqlx::Error> {
    let mut c = sqlx::SqliteConnection::connect(url).await?;
    sqlx::raw_sql("DROP TRIGGER audit_log_no_update")
        .execute(&mut c)
        .await?;
    sqlx::query("UPDATE audit_log SET details = '{\"i\":0}' WHERE seq = $1")
        .bind(seq)
        .execute(&mut c)
        .await?;
    c.close().await
}

#[tokio::test]
async fn verify_reports_ok_then_broken() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = store_with_records(&dir.path().join("k.db"), 5).await?;

    let out = kaptain(&["audit", "verify", "--database-url", &url], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "audit chain OK: 5 records\n");

    let out = kaptain(
        &["audit", "verify", "--database-url", &url, "-o", "json"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], 5);
    assert_eq!(v["head"]["seq"], 5);
    assert_eq!(v["head"]["hash"].as_str().map(str::len), Some(64));

    tamper(&url, 3).await?;
    let out = kaptain(&["audit", "verify", "--database-url", &url], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("audit chain BROKEN at record 3: "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1);

    let out = kaptain(
        &["audit", "verify", "--database-url", &url, "-o", "json"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad"]["seq"], 3);
    assert!(
        v["first_bad"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("modified"))
    );
    Ok(())
}

#[tokio::test]
async fn verify_uses_the_default_store_location() -> TestResult {
    let data = tempfile::tempdir()?;
    store_with_records(&data.path().join("kaptain/kaptain.db"), 2).await?;
    let out = kaptain(&["audit", "verify"], data.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "audit chain OK: 2 records\n");
    Ok(())
}

#[test]
fn errors_are_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing-here.db");
    let out = kaptain(
        &[
            "audit",
            "verify",
            "--database-url",
            &format!("sqlite://{}", missing.display()),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nothing-here.db"), "{stderr}");
    assert!(!missing.exists(), "verify must not create a store");

    let out = kaptain(
        &[
            "audit",
            "verify",
            "--database-url",
            "mysql://root:hunter2@db/x",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("unsupported scheme") && !stderr.contains("hunter2"),
        "{stderr}"
    );

    // No store at the default location either.
    let out = kaptain(&["audit", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("kaptain.db"));
}

#[tokio::test]
async fn several_processes_open_a_new_store_at_once() -> TestResult {
    // `kaptain token create` run by several processes at the same moment on a database file
    // that does not exist yet: each migrates it or finds it migrated; none fails.
    const PROCESSES: usize = 6;
    for round in 0..5 {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let children = (0..PROCESSES)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_kaptain"))
                    .args(["token", "create", "--name", &format!("t{i}")])
                    .args(["--database-url", &url])
                    .env("NO_COLOR", "1")
                    .env("XDG_DATA_HOME", dir.path())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
            })
            .collect::<Result<Vec<_>, _>>()?;
        for child in children {
            let out = child.wait_with_output()?;
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                text(&out.stderr)
            );
        }
        let store = Store::open(&url).await?;
        assert_eq!(store.tokens().await?.len(), PROCESSES, "round {round}");
        store.close().await;
    }
    Ok(())
}
