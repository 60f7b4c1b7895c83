//! Benchmarks the REST API's main read, `GET /api/v1/findings?limit=100`, with wrk against the
//! real server — [`Server::build`] served by `axum::serve` as `kaptain serve` does, a real API
//! token on every request (so authentication is measured too) — on a store holding 10,000 open
//! findings of one cluster (plus 500 cleared ones), on SQLite (a temp file) and on a throw-away
//! PostgreSQL (kaptain-testenv), or on the database URLs given (use empty databases):
//!
//! ```sh
//! scripts/bench-api.sh                 # installs wrk if missing, builds, runs this
//! cargo run --release -p kaptain-bench --bin bench_api -- [--duration S] [--rate R] [--connections C] [URL...]
//! ```
//!
//! Per backend it checks that a page really holds 100 findings (and that a request without
//! the token is refused), then prints the closed-loop maximum (requests/s, p50, p99) and a run
//! paced at `--rate` requests/s (default 1,000; the achieved rate is printed) with its p99
//! against the goal of issue #5: p99 under 20 ms at 1,000 requests/s. wrk and the server share
//! the machine. A measurement, not a test: it fails only when a run is invalid (a refused
//! request, an error status, a missing tool).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jiff::{SignedDuration, Timestamp};
use kaptain_engine::live::LiveConfig;
use kaptain_model::{Category, Evidence, Finding, ObjectRef, Remediation, Severity, fingerprint};
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_store::Role;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Open findings stored for the benchmark's cluster.
const OPEN: usize = 10_000;
/// Findings of the first scan that the second one no longer reports (cleared history).
const CLEARED: usize = 500;
const CLUSTER: &str = "bench";
const ROUTE: &str = "/api/v1/findings?limit=100";
/// Issue #5's goal.
const GOAL_P99_MS: f64 = 20.0;
const GOAL_RATE: u32 = 1000;
const LUA: &str = include_str!("bench_api.lua");

/// (check id, category, severity, root cause, kind) of the findings a real cluster would have.
const CHECKS: [(&str, Category, Severity, bool, &str); 8] = [
    (
        "pod.crash-loop",
        Category::Reliability,
        Severity::High,
        false,
        "Pod",
    ),
    (
        "pod.image-pull",
        Category::Reliability,
        Severity::High,
        true,
        "Pod",
    ),
    (
        "pod.oom-killed",
        Category::Capacity,
        Severity::Critical,
        true,
        "Pod",
    ),
    (
        "config.missing-configmap",
        Category::Config,
        Severity::Critical,
        true,
        "Pod",
    ),
    (
        "pod.readiness-probe-failing",
        Category::Reliability,
        Severity::Medium,
        false,
        "Pod",
    ),
    (
        "service.no-ready-endpoints",
        Category::Network,
        Severity::High,
        false,
        "Service",
    ),
    (
        "deployment.unavailable",
        Category::Reliability,
        Severity::Medium,
        false,
        "Deployment",
    ),
    (
        "pod.restarts",
        Category::Reliability,
        Severity::Low,
        false,
        "Pod",
    ),
];

#[derive(Debug, Clone)]
struct Config {
    duration: u32,
    rate: u32,
    connections: u32,
    urls: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_api [--duration SECONDS (10)] [--rate REQUESTS_PER_SECOND (1000)] \
         [--connections N (32)] [DATABASE_URL...]"
    );
    std::process::exit(2)
}

fn parse_args() -> Config {
    let mut c = Config {
        duration: 10,
        rate: GOAL_RATE,
        connections: 32,
        urls: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |name: &str| -> u32 {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => n,
                _ => {
                    eprintln!("bench_api: {name} needs a positive number");
                    usage()
                }
            }
        };
        match a.as_str() {
            "--duration" => c.duration = number("--duration"),
            "--rate" => c.rate = number("--rate"),
            "--connections" => c.connections = number("--connections"),
            "-h" | "--help" => usage(),
            url if url.starts_with("sqlite:") || url.starts_with("postgres") => {
                c.urls.push(url.to_owned())
            }
            other => {
                eprintln!("bench_api: unknown argument {other:?}");
                usage()
            }
        }
    }
    c
}

/// Finding `i` of the cluster: 8 checks over 40 namespaces; symptoms point at the root cause
/// of the same workload.
fn finding(i: usize, restarts: usize) -> Finding {
    let (check, category, severity, root, kind) = CHECKS[i % CHECKS.len()];
    let ns = format!("team-{:02}", i % 40);
    let name = format!("app-{}-{}", i / 40, i % 7);
    let object = ObjectRef::new(
        if kind == "Deployment" {
            "apps/v1"
        } else {
            "v1"
        },
        kind,
        Some(&ns),
        &name,
    );
    let root_fp = fingerprint(
        "config.missing-configmap",
        &ObjectRef::new("v1", "Pod", Some(&ns), &name),
        "",
    );
    Finding {
        title: format!("{kind} {ns}/{name}: {check}"),
        message: format!(
            "container app restarted {restarts} times; last state Terminated (exit code 1) — \
             the workload is not serving"
        ),
        evidence: vec![
            Evidence::status(format!("restartCount={restarts}")),
            Evidence::event(format!(
                "Back-off restarting failed container app in pod {name}"
            )),
            Evidence::spec("containers[0].envFrom[0].configMapRef.name=app-config"),
        ],
        remediation: Remediation {
            summary: "Create the missing ConfigMap or fix the reference".into(),
            commands: vec![format!("kubectl -n {ns} describe {kind} {name}")],
            patch: None,
        },
        ..Finding::new(check, severity, category, object).caused_by((!root).then_some(root_fp))
    }
}

/// The outcome of one wrk run (times in microseconds).
#[derive(Debug, Default)]
struct Run {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    errors: Vec<(String, u64)>,
    /// CPU seconds spent during the run by this process (the server), by wrk, and by the
    /// database's server processes when known.
    cpu_server: f64,
    cpu_wrk: f64,
    cpu_db: Option<f64>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }
}

/// USER_HZ: the unit of the CPU times in /proc (100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// `(own, waited-for children)` CPU seconds of process `pid` (`self` for this one), from
/// /proc/PID/stat: utime + stime, cutime + cstime.
fn cpu_seconds(pid: &str) -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0.0);
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0);
    (
        (at(11) + at(12)) / TICKS_PER_SECOND,
        (at(13) + at(14)) / TICKS_PER_SECOND,
    )
}

/// CPU seconds of process `pid` and its live children (PostgreSQL's postmaster and its
/// backends).
fn tree_cpu_seconds(pid: u32) -> f64 {
    let mut total = cpu_seconds(&pid.to_string()).0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(child) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            total += cpu_seconds(child).0;
        }
    }
    total
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// Runs wrk (closed loop when `rate` is 0) and parses the script's `BENCH` line.
fn wrk(
    url: &str,
    token: &str,
    script: &std::path::Path,
    connections: u32,
    duration: u32,
    rate: u32,
    db_pid: Option<u32>,
) -> Result<Run, BoxError> {
    let threads = 1;
    let (server0, wrk0) = cpu_seconds("self");
    let db0 = db_pid.map(tree_cpu_seconds);
    let out = Command::new("wrk")
        .env("BENCH_API_RATE", rate.to_string())
        .env("BENCH_API_THREADS", threads.to_string())
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{duration}s"))
        .args(["--timeout", "5s"])
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("running wrk (apt-get install wrk): {e}"))?;
    let (server1, wrk1) = cpu_seconds("self");
    let db1 = db_pid.map(tree_cpu_seconds);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .ok_or_else(|| format!("wrk printed no BENCH line:\n{stdout}"))?;
    let mut run = Run {
        cpu_server: server1 - server0,
        cpu_wrk: wrk1 - wrk0,
        cpu_db: db0.zip(db1).map(|(a, b)| b - a),
        ..Run::default()
    };
    for kv in line.split_whitespace() {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("bad BENCH field {kv:?}"))?;
        let v: u64 = v.parse().map_err(|_| format!("bad BENCH value {kv:?}"))?;
        match k {
            "requests" => run.requests = v,
            "duration_us" => run.duration_us = v,
            "p50_us" => run.p50_us = v,
            "p99_us" => run.p99_us = v,
            "max_us" => run.max_us = v,
            e if e.starts_with("errors_") && v > 0 => run
                .errors
                .push((e.trim_start_matches("errors_").to_owned(), v)),
            _ => {}
        }
    }
    if let Some((_, n)) = run.errors.iter().find(|(k, _)| k == "status") {
        return Err(format!("{n} responses with an error status during the run").into());
    }
    if run.requests == 0 {
        return Err("wrk completed no request".into());
    }
    Ok(run)
}

/// GET `path` on the server with an optional bearer token: status and body.
async fn get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<(hyper::StatusCode, Bytes), BoxError> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = client.request(req.body(Empty::new())?).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Fails unless the page holds 100 findings of the cluster with a next cursor, and a request
/// without the token is 401.
async fn check_page(addr: SocketAddr, token: &str) -> Result<(), BoxError> {
    let (status, body) = get(addr, ROUTE, Some(token)).await?;
    if status != hyper::StatusCode::OK {
        return Err(format!("GET {ROUTE}: {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    let page: serde_json::Value = serde_json::from_slice(&body)?;
    let items = page["items"].as_array().map(Vec::len).unwrap_or(0);
    let of_cluster = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["cluster"] == CLUSTER)
        .count();
    if items != 100 || of_cluster != 100 || !page["next_cursor"].is_string() {
        return Err(format!(
            "GET {ROUTE} answered {items} findings ({of_cluster} of cluster {CLUSTER}), next_cursor {}: expected 100 and a cursor",
            page["next_cursor"]
        )
        .into());
    }
    let (status, _) = get(addr, ROUTE, None).await?;
    if status != hyper::StatusCode::UNAUTHORIZED {
        return Err(format!("GET {ROUTE} without a token: {status}, expected 401").into());
    }
    Ok(())
}

struct Outcome {
    label: String,
    max: Run,
    paced: Run,
}

/// Benchmarks the database at `url`; `db_pid`: its server's process, to count its CPU.
async fn bench(
    label: &str,
    url: &str,
    db_pid: Option<u32>,
    cfg: &Config,
) -> Result<Outcome, BoxError> {
    let dir = tempfile::tempdir()?;
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse()?,
        clusters: Vec::new(),
        database_url: url.to_owned(),
        secret_key_file: dir.path().join("secret.key"),
        no_auth: false,
        oidc: None,
        operator_namespace: "kaptain-system".into(),
        workers: 1,
        tls: None,
        auth_throttle: Default::default(),
    };
    let server = Server::build(&opts, LiveConfig::default()).await?;
    let store = server.state.store.clone();

    // Two scans a minute apart: 10,500 findings, of which the last 10,000 stay open.
    let started = Instant::now();
    let t0: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let first: Vec<Finding> = (0..OPEN).map(|i| finding(i, 3)).collect();
    store.record_scan(CLUSTER, &first, t0).await?;
    let second: Vec<Finding> = (CLEARED..OPEN + CLEARED).map(|i| finding(i, 4)).collect();
    let diff = store
        .record_scan(CLUSTER, &second, t0 + SignedDuration::from_secs(60))
        .await?;
    if diff.open != OPEN as u64 || diff.cleared.len() != CLEARED {
        return Err(format!(
            "the store holds {} open and {} cleared findings, expected {OPEN} and {CLEARED}",
            diff.open,
            diff.cleared.len()
        )
        .into());
    }
    let recorded = started.elapsed();
    let (_, token) = store
        .create_token("bench", Role::Viewer, Vec::new(), None, "bench_api")
        .await?;

    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(
        axum::serve(listener, server.router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    check_page(addr, &token).await?;
    println!(
        "{label}: {OPEN} open + {CLEARED} cleared findings of cluster {CLUSTER} recorded in {:.1} s; \
         GET {ROUTE} answers 100 findings and a cursor, 401 without the token",
        recorded.as_secs_f64()
    );

    let script = dir.path().join("bench_api.lua");
    std::fs::write(&script, LUA)?;
    let target = format!("http://{addr}{ROUTE}");
    let (conns, duration) = (cfg.connections, cfg.duration);
    // wrk blocks: run it off the runtime that serves.
    let run = |target: &str, conns: u32, duration: u32, rate: u32| {
        let (target, token, script) = (target.to_owned(), token.clone(), script.clone());
        tokio::task::spawn_blocking(move || {
            wrk(&target, &token, &script, conns, duration, rate, db_pid)
        })
    };
    run(&target, conns, 2, 0).await??; // warm-up: connections, caches
    let max = run(&target, conns, duration, 0).await??;
    print_run(label, &format!("max ({conns} connections)"), &max);
    // The same requests without the findings: what authentication and HTTP alone cost.
    let whoami = run(&format!("http://{addr}/api/v1/whoami"), conns, duration, 0).await??;
    print_run(
        label,
        &format!("reference GET /api/v1/whoami, max ({conns} connections)"),
        &whoami,
    );
    let paced_conns = conns.max(cfg.rate / 50);
    let paced = run(&target, paced_conns, duration, cfg.rate).await??;
    print_run(
        label,
        &format!("paced at {} req/s ({paced_conns} connections)", cfg.rate),
        &paced,
    );
    println!(
        "{label}: goal p99 < {GOAL_P99_MS} ms at {} req/s: {}",
        cfg.rate,
        verdict(&paced, cfg.rate)
    );

    let _ = stop.send(());
    serving.await??;
    store.close().await;
    Ok(Outcome {
        label: label.to_owned(),
        max,
        paced,
    })
}

fn print_run(label: &str, what: &str, r: &Run) {
    let errors = if r.errors.is_empty() {
        String::new()
    } else {
        format!(
            ", socket errors: {}",
            r.errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let per_request = |cpu: f64| cpu * 1000.0 / r.requests.max(1) as f64;
    let db = r
        .cpu_db
        .map(|c| format!(" + database {:.2}", per_request(c)))
        .unwrap_or_default();
    println!(
        "{label}: {what}, {:.1} s: {:.0} req/s, p50 {}, p99 {}, max {}{errors}; \
         CPU per request: server {:.2} ms{db} + wrk {:.2} ms",
        r.duration_us as f64 / 1e6,
        r.rps(),
        ms(r.p50_us),
        ms(r.p99_us),
        ms(r.max_us),
        per_request(r.cpu_server),
        per_request(r.cpu_wrk),
    );
}

fn verdict(paced: &Run, rate: u32) -> String {
    let p99 = paced.p99_us as f64 / 1000.0;
    let achieved = paced.rps() >= f64::from(rate) * 0.95;
    match (p99 < GOAL_P99_MS, achieved) {
        (true, true) => format!("met (p99 {p99:.2} ms at {:.0} req/s)", paced.rps()),
        (false, _) => format!("MISSED (p99 {p99:.2} ms)"),
        (true, false) => format!(
            "NOT REACHED: only {:.0} req/s achieved (p99 {p99:.2} ms)",
            paced.rps()
        ),
    }
}

#[tokio::main]
async fn main() {
    let cfg = parse_args();
    if let Err(e) = run(&cfg).await {
        eprintln!("bench_api: {e}");
        std::process::exit(1);
    }
}

async fn run(cfg: &Config) -> Result<(), BoxError> {
    let mut outcomes = Vec::new();
    if cfg.urls.is_empty() {
        let dir = tempfile::tempdir()?;
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        outcomes.push(bench("sqlite", &sqlite, None, cfg).await?);
        let pg = tokio::task::spawn_blocking(kaptain_testenv::Postgres::start).await??;
        outcomes.push(bench("postgres", &pg.url(), Some(pg.pid()), cfg).await?);
    } else {
        for url in &cfg.urls {
            let label = url.split(':').next().unwrap_or("db").to_owned();
            outcomes.push(bench(&label, url, None, cfg).await?);
        }
    }
    // What else ran on the machine matters as much as the figures: say so.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    println!(
        "\nGET {ROUTE}, {OPEN} open findings, {} CPUs shared by wrk, the server and the \
         database (load average after the runs: {load}):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10}   {:>12} {:>10} {:>10}",
        "backend", "max req/s", "p50", "p99", "paced req/s", "p50", "p99"
    );
    for o in &outcomes {
        println!(
            "{:<10} {:>10.0} {:>10} {:>10}   {:>12.0} {:>10} {:>10}",
            o.label,
            o.max.rps(),
            ms(o.max.p50_us),
            ms(o.max.p99_us),
            o.paced.rps(),
            ms(o.paced.p50_us),
            ms(o.paced.p99_us)
        );
    }
    Ok(())
}
