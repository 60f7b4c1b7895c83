//! `kaptain serve --in-cluster` and `kaptain diagnose` (which falls back to the in-cluster
//! service account when there is no kubeconfig) the way they run in a pod: the real binary in
//! a private mount namespace (`unshare -m`) where a tmpfs holds
//! /var/run/secrets/kubernetes.io/serviceaccount with a real ServiceAccount token (TokenRequest
//! API), the cluster CA and the namespace, and `KUBERNETES_SERVICE_HOST`/`_PORT` point at the
//! test control plane. The ServiceAccount is bound to the built-in `view` ClusterRole, which
//! may not read Secrets: Kaptain must say so and must not take unreadable Secrets for missing
//! ones. Nothing is left on the host: the tmpfs lives and dies with the namespace.
//!
//! Needs root (or CAP_SYS_ADMIN) and util-linux `unshare`; without them the tests fail and say
//! so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kaptain_testenv::{ControlPlane, apply_yaml, eventually};
use kube::api::{Api, ListParams, PostParams};
use serde_json::Value;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A generous deadline for anything to happen; no test measures against it.
const DEADLINE: Duration = Duration::from_secs(180);

const NAMESPACE: &str = "incluster";
const SERVICE_ACCOUNT: &str = "kaptain";

/// The workload: a Deployment reading a ConfigMap that does not exist (a finding the
/// ServiceAccount can see) and one reading a Secret that does exist (which `view` may not read:
/// no finding may claim it is missing).
fn manifests() -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {SERVICE_ACCOUNT}, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: kaptain-incluster-view}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects: [{{kind: ServiceAccount, name: {SERVICE_ACCOUNT}, namespace: {NAMESPACE}}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: db-password, namespace: {NAMESPACE}}}
stringData: {{password: hunter2}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
      - name: api
        image: shop/api:1.0
        envFrom: [{{configMapRef: {{name: api-config}}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: db-client, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: db-client}}}}
  template:
    metadata: {{labels: {{app: db-client}}}}
    spec:
      containers:
      - name: main
        image: shop/db-client:1.0
        envFrom: [{{secretRef: {{name: db-password}}}}]
"#
    )
}

/// Mounts a tmpfs on /var/run/secrets (or on /var/run when the host has no
/// /var/run/secrets: a mount point must exist, and creating one would touch the host), puts
/// the service account directory `$1` at /var/run/secrets/kubernetes.io/serviceaccount and
/// runs the rest of the arguments. Only ever run inside `unshare -m` (private propagation).
const POD_SCRIPT: &str = r#"set -e
sa="$1"; shift
if [ -d /var/run/secrets ]; then base=/var/run/secrets; else base=/var/run; fi
mount -t tmpfs -o mode=0755 kaptain-incluster-test "$base"
mkdir -p /var/run/secrets/kubernetes.io/serviceaccount
mount --bind "$sa" /var/run/secrets/kubernetes.io/serviceaccount
exec "$@"
"#;

const SA_DIR: &str = "/var/run/secrets";

/// The control plane with the workload applied, its pods created, and a service account
/// directory (token, ca.crt, namespace) for the ServiceAccount. Once per test binary.
struct Pod0 {
    cp: &'static ControlPlane,
    sa_dir: PathBuf,
}

async fn setup() -> Result<&'static Pod0, Error> {
    static SETUP: tokio::sync::OnceCell<Pod0> = tokio::sync::OnceCell::const_new();
    SETUP
        .get_or_try_init(|| async {
            check_unshare()?;
            let cp = tokio::task::spawn_blocking(ControlPlane::shared).await?;
            let client = cp.client().await?;
            apply_yaml(&client, &manifests()).await?;
            let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
            eventually(
                "the controllers to create both Deployments' pods",
                DEADLINE,
                || {
                    let pods = pods.clone();
                    async move {
                        let list = pods.list(&ListParams::default()).await.ok()?;
                        let has = |app: &str| {
                            list.items.iter().any(|p| {
                                p.metadata
                                    .labels
                                    .as_ref()
                                    .is_some_and(|l| l.get("app").is_some_and(|a| a == app))
                            })
                        };
                        (has("api") && has("db-client")).then_some(())
                    }
                },
            )
            .await?;

            // A real token for the ServiceAccount, as the kubelet would project it.
            let accounts: Api<ServiceAccount> = Api::namespaced(client, NAMESPACE);
            let request: TokenRequest = serde_json::from_value(serde_json::json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            }))?;
            let answer = accounts
                .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
                .await?;
            let token = answer.status.ok_or("the TokenRequest has no status")?.token;

            // In the control plane's temp dir, which goes when the test binary does.
            let sa_dir = cp.dir().join("incluster-serviceaccount");
            std::fs::create_dir_all(&sa_dir)?;
            // No trailing newline, as in a pod.
            std::fs::write(sa_dir.join("token"), token)?;
            std::fs::write(sa_dir.join("namespace"), NAMESPACE)?;
            std::fs::write(sa_dir.join("ca.crt"), cluster_ca(cp)?)?;
            Ok(Pod0 { cp, sa_dir })
        })
        .await
}

/// The CA that signed the API server's serving certificate: kube-apiserver writes its
/// self-signed pair to `<cert-dir>/apiserver.crt` as the serving certificate followed by its
/// CA. The serving certificate names 127.0.0.1, the address the "pod" is given.
fn cluster_ca(cp: &ControlPlane) -> Result<String, Error> {
    let path = cp.dir().join("certs/apiserver.crt");
    let pem = std::fs::read_to_string(&path)?;
    let certs: Vec<&str> = pem
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .collect();
    match certs.as_slice() {
        [_, ca] => Ok(format!("{}\n", ca.trim())),
        _ => Err(format!(
            "{}: expected the serving certificate and its CA, found {} certificates",
            path.display(),
            certs.len()
        )
        .into()),
    }
}

/// Fails with a clear message when this machine cannot make a private mount namespace.
fn check_unshare() -> Result<(), Error> {
    let out = Command::new("unshare")
        .args(["-m", "--", "sh", "-c", "mount -t tmpfs probe /mnt"])
        .output()
        .map_err(|e| format!("these tests need util-linux `unshare` to fake a pod: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "these tests need `unshare -m` and tmpfs mounts (root or CAP_SYS_ADMIN) to fake a \
             pod: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// `kaptain ARGS` in the fake pod: `sa_dir` mounted as its service account directory, the API server in
/// the environment, no kubeconfig anywhere (`HOME` is an empty dir).
fn in_pod(setup: &Pod0, sa_dir: &Path, home: &Path, args: &[&str]) -> Command {
    let port = setup
        .cp
        .server_url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--pdeathsig",
        "SIGKILL",
        "--",
        "unshare",
        "-m",
        "--",
        "sh",
        "-c",
    ])
    .arg(POD_SCRIPT)
    .arg("kaptain-pod")
    .arg(sa_dir)
    .arg(env!("CARGO_BIN_EXE_kaptain"))
    .args(args)
    .env_remove("KUBECONFIG")
    .env("HOME", home)
    .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    .env("KUBERNETES_SERVICE_PORT", port)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    cmd
}

/// `GET path` on `addr`; the status and JSON body.
fn get(addr: &str, path: &str) -> Result<(u16, Value), Error> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: no end of headers in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: no status in {head:?}"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok((status, serde_json::from_str(&body)?))
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut rest: &str) -> Result<String, Error> {
    let mut out = String::new();
    loop {
        let (size, tail) = rest.split_once("\r\n").ok_or("a chunk without its size")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(tail.get(..size).ok_or("a chunk shorter than its size")?);
        rest = tail.get(size + 2..).ok_or("a chunk without its end")?;
    }
}

/// The skipped entry for `api` in a report's or cluster's `skipped` list.
fn skipped<'a>(v: &'a Value, api: &str) -> Option<&'a Value> {
    v["skipped"].as_array()?.iter().find(|s| s["api"] == api)
}

/// Findings with `id` on objects named `name` in [`NAMESPACE`].
fn findings<'a>(report: &'a Value, id: &str, name: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|f| {
                    f["id"] == id
                        && f["object"]["name"] == name
                        && f["object"]["namespace"] == NAMESPACE
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What `view` may not do must show as a skipped kind, with the API server's reason naming
/// the ServiceAccount; what it may read is not skipped; the unreadable Secret is not taken for
/// a missing one.
fn assert_rbac_honoured(v: &Value, report: &Value, what: &str) {
    let user = format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}");
    let secret =
        skipped(v, "v1 Secret").unwrap_or_else(|| panic!("{what}: Secrets not skipped: {v}"));
    let reason = secret["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("forbidden") && reason.contains(&user),
        "{what}: the Secret skip should say who was forbidden: {secret}"
    );
    for readable in ["v1 ConfigMap", "v1 Pod", "apps/v1 Deployment"] {
        assert!(
            skipped(v, readable).is_none(),
            "{what}: {readable} is readable for `view` but skipped: {v}"
        );
    }
    assert!(
        findings(report, "config.missing-secret", "db-password").is_empty(),
        "{what}: an unreadable Secret reported as missing: {report}"
    );
}

fn host_has_secrets_dir() -> bool {
    Path::new(SA_DIR).exists()
}

/// `kaptain serve --in-cluster` running in the fake pod with `sa_dir` as its service account.
struct Serve {
    child: Child,
    addr: String,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    /// Starts the server and waits until it says where it listens (its "serving: console
    /// http://ADDR/console" line); the rest of its log is kept for failure messages.
    fn start(setup: &Pod0, sa_dir: &Path, dir: &Path) -> Result<Serve, Error> {
        let db = format!("sqlite://{}", dir.join("kaptain.db").display());
        let key = dir.join("secret.key");
        let key = key.to_str().ok_or("a non-UTF-8 temp dir")?;
        let mut child = in_pod(
            setup,
            sa_dir,
            dir,
            &[
                "serve",
                "--in-cluster",
                "--no-auth",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &db,
                "--secret-key-file",
                key,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let (tx, rx) = mpsc::channel();
        let log = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split("console http://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                {
                    let _ = tx.send(addr.to_owned());
                }
                lines.push(line);
            }
            lines.join("\n")
        });
        let mut serve = Serve {
            child,
            addr: String::new(),
            log: Some(log),
        };
        match rx.recv_timeout(DEADLINE) {
            Ok(a) => serve.addr = a,
            Err(_) => {
                let log = serve.stop();
                return Err(format!("kaptain serve never said where it listens:\n{log}").into());
            }
        }
        Ok(serve)
    }

    /// The in-cluster cluster's page once `done` says so.
    async fn cluster_when(&mut self, what: &str, done: fn(&Value) -> bool) -> Result<Value, Error> {
        let addr = self.addr.clone();
        let found = eventually(what, DEADLINE, || {
            let addr = addr.clone();
            async move {
                let (status, v) = get(&addr, "/api/v1/clusters/in-cluster").ok()?;
                (status == 200 && done(&v)).then_some(v)
            }
        })
        .await;
        match found {
            Ok(v) => Ok(v),
            Err(e) => {
                let last = get(&self.addr, "/api/v1/clusters/in-cluster");
                let log = self.stop();
                Err(format!("{e}; last answer {last:?}; server log:\n{log}").into())
            }
        }
    }

    /// Kills the server; its log.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log
            .take()
            .and_then(|l| l.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_in_cluster_in_a_pod_watches_with_the_service_account() -> Result<(), Error> {
    let had_secrets_dir = host_has_secrets_dir();
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let mut serve = Serve::start(setup, &setup.sa_dir, dir.path())?;
    let addr = serve.addr.clone();
    let cluster = serve
        .cluster_when("the in-cluster cluster to be ready", |v| {
            v["status"]["state"] == "ready"
        })
        .await?;
    assert_eq!(cluster["source"], "in-cluster service account", "{cluster}");
    assert_eq!(cluster["server_version"], "v1.20.2", "{cluster}");

    let report = eventually(
        "the missing ConfigMap finding through the API",
        DEADLINE,
        || {
            let addr = addr.clone();
            async move {
                let (status, r) = get(&addr, "/api/v1/clusters/in-cluster/report").ok()?;
                (status == 200
                    && !findings(&r, "config.missing-configmap", "api-config").is_empty())
                .then_some(r)
            }
        },
    )
    .await?;
    let found = findings(&report, "config.missing-configmap", "api-config");
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0]["root_cause"], true, "{}", found[0]);
    // The cluster's page (read after the report) and the report agree on what was skipped.
    let (_, cluster) = get(&addr, "/api/v1/clusters/in-cluster")?;
    assert_rbac_honoured(&cluster, &report, "serve: the cluster page");
    assert_rbac_honoured(&report, &report, "serve: the report");

    serve.stop();
    assert_eq!(
        host_has_secrets_dir(),
        had_secrets_dir,
        "{SA_DIR} on the host changed: the fake pod leaked its mount"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_in_a_pod_without_a_kubeconfig_uses_the_service_account() -> Result<(), Error> {
    let had_secrets_dir = host_has_secrets_dir();
    let setup = setup().await?;
    let home = tempfile::tempdir()?;
    let now = (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(15)).to_string();
    let args = ["diagnose", "-n", NAMESPACE, "-o", "json", "--now", &now];
    let mut cmd = in_pod(setup, &setup.sa_dir, home.path(), &args);
    let out: Output = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("diagnose printed no JSON report ({e}); stderr: {stderr}"))?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings mean exit 1; stderr: {stderr}"
    );
    assert_eq!(report["source"]["kind"], "live", "{report}");
    assert_eq!(report["source"]["server_version"], "v1.20.2", "{report}");
    let found = findings(&report, "config.missing-configmap", "api-config");
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0]["root_cause"], true, "{}", found[0]);
    assert_rbac_honoured(&report, &report, "diagnose");
    assert_eq!(
        host_has_secrets_dir(),
        had_secrets_dir,
        "{SA_DIR} on the host changed: the fake pod leaked its mount"
    );
    Ok(())
}

/// A copy of the good service account directory in `dir`, broken by `break_it`.
fn broken_copy(setup: &Pod0, dir: &Path, break_it: Break) -> Result<PathBuf, Error> {
    let sa_dir = dir.join("serviceaccount");
    std::fs::create_dir(&sa_dir)?;
    for file in ["token", "ca.crt", "namespace"] {
        std::fs::copy(setup.sa_dir.join(file), sa_dir.join(file))?;
    }
    break_it(&sa_dir)?;
    Ok(sa_dir)
}

type Break = fn(&Path) -> std::io::Result<()>;

/// A service account directory that is broken: the server says which file is wrong, on one
/// line, and keeps retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_in_a_pod_names_the_service_account_file_that_is_wrong() -> Result<(), Error> {
    let setup = setup().await?;
    let cases: [(&str, Break, &str); 3] = [
        (
            "no namespace file",
            |d| std::fs::remove_file(d.join("namespace")),
            "serviceaccount/namespace: ",
        ),
        (
            "no token",
            |d| std::fs::remove_file(d.join("token")),
            "serviceaccount/token: ",
        ),
        (
            "a token ending in a newline",
            |d| {
                let token = std::fs::read_to_string(d.join("token"))?;
                std::fs::write(d.join("token"), format!("{token}\n"))
            },
            "serviceaccount/token: the token starts or ends with whitespace",
        ),
    ];
    for (case, break_it, expected) in cases {
        let dir = tempfile::tempdir()?;
        let sa_dir = broken_copy(setup, dir.path(), break_it)?;
        let mut serve = Serve::start(setup, &sa_dir, dir.path())?;
        let cluster = serve
            .cluster_when(case, |v| v["status"]["attempts"].as_u64() >= Some(2))
            .await?;
        serve.stop();
        assert_eq!(
            cluster["status"]["state"], "unreachable",
            "{case}: {cluster}"
        );
        let error = cluster["status"]["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("no in-cluster configuration: /var/run/secrets/kubernetes.io/")
                && error.contains(expected)
                && !error.contains('\n'),
            "{case}: the error should name the file and what is wrong, on one line: {error}"
        );
    }
    Ok(())
}

/// Without a kubeconfig, in a pod whose service account has no token: one line saying so,
/// exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_in_a_pod_with_a_broken_service_account_says_why() -> Result<(), Error> {
    let setup = setup().await?;
    let home = tempfile::tempdir()?;
    let sa_dir = broken_copy(setup, home.path(), |d| {
        std::fs::remove_file(d.join("token"))
    })?;
    let mut cmd = in_pod(setup, &sa_dir, home.path(), &["diagnose", "-A"]);
    let out: Output = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("cannot load kubeconfig")
            && stderr.contains("/var/run/secrets/kubernetes.io/serviceaccount/token: "),
        "the error should say there is no kubeconfig and which service account file is \
         missing: {stderr}"
    );
    Ok(())
}
