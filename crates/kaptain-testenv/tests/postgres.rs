//! The throw-away PostgreSQL server: starts, serves databases, and leaves nothing behind —
//! neither after `Drop` nor when the test binary aborts.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kaptain_testenv::Postgres;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Whether `pid` runs (zombies count as gone) with a command name starting like `name`.
fn running(pid: u32, name: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    state != Some('Z') && comm.starts_with(name)
}

/// The postmaster and its children (checkpointer, walwriter, backends, ...).
fn server_processes(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|c| stat[c + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(postmaster) {
            pids.push(pid);
        }
    }
    pids
}

fn wait_gone(pids: &[u32], dir: &Path, within: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| running(*p, "postgres"))
            .collect();
        if alive.is_empty() && !dir.exists() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(format!(
                "after {within:?}: still running {alive:?}; dir {} exists: {}",
                dir.display(),
                dir.exists()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_fresh_databases_and_drop_leaves_nothing() -> TestResult {
    let pg = Postgres::start()?;
    eprintln!(
        "PostgreSQL ready in {:?} at {}",
        pg.startup_time(),
        pg.url()
    );
    assert!(pg.url().ends_with("/kaptain"), "{}", pg.url());
    TcpStream::connect(("127.0.0.1", pg.port()))?;
    assert!(
        pg.socket_dir()
            .join(format!(".s.PGSQL.{}", pg.port()))
            .exists()
    );
    let a = pg.fresh_database()?;
    let b = pg.fresh_database()?;
    assert_ne!(a, b);
    // The same name twice is refused by the server, which proves the first was created.
    let err = pg
        .create_database("dup_name")
        .and_then(|_| pg.create_database("dup_name"));
    assert!(err.is_err(), "second createdb of one name must fail");
    assert!(pg.create_database("bad;name").is_err());

    let pids = server_processes(pg.pid());
    assert!(pids.len() > 1, "postmaster and its helpers: {pids:?}");
    let dir = pg.dir().to_path_buf();
    drop(pg);
    wait_gone(&pids, &dir, Duration::ZERO)?;
    Ok(())
}

const ABORT_HELPER_ENV: &str = "KAPTAIN_TESTENV_PG_ABORT_HELPER";

/// Not a test on its own: re-executed by `no_orphans_when_the_test_binary_aborts`, it starts
/// a server, prints its processes and aborts.
#[test]
fn pg_abort_helper() -> TestResult {
    if std::env::var_os(ABORT_HELPER_ENV).is_none() {
        return Ok(());
    }
    let pg = Postgres::start()?;
    let mut out = std::io::stdout().lock();
    for pid in server_processes(pg.pid()) {
        writeln!(out, "\n@@ PID {pid}")?;
    }
    writeln!(out, "\n@@ DIR {}", pg.dir().display())?;
    out.flush()?;
    std::process::abort();
}

#[test]
fn no_orphans_when_the_test_binary_aborts() -> TestResult {
    let exe = std::env::current_exe()?;
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -c 0; exec \"$0\" \"$@\""])
        .arg(exe)
        .args([
            "--exact",
            "pg_abort_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ABORT_HELPER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut pids = Vec::new();
    let mut dir = None;
    for line in stdout.lines() {
        let line = line?;
        let Some(at) = line.find("@@ ") else { continue };
        let words: Vec<&str> = line[at + 3..].split_whitespace().collect();
        match words.as_slice() {
            ["PID", pid] => pids.push(pid.parse::<u32>()?),
            ["DIR", path] => dir = Some(PathBuf::from(path)),
            _ => {}
        }
    }
    let status = child.wait()?;
    let helper_stderr = stderr_reader.join().unwrap_or_default();
    let dir =
        dir.ok_or_else(|| format!("helper printed no DIR ({status}); stderr:\n{helper_stderr}"))?;
    assert!(!status.success(), "helper should have aborted: {status}");
    assert!(pids.len() > 1, "postmaster and its helpers: {pids:?}");
    let took = wait_gone(&pids, &dir, Duration::from_secs(60))?;
    eprintln!(
        "after abort: {} processes gone and {} removed within {took:?}",
        pids.len(),
        dir.display()
    );
    Ok(())
}
