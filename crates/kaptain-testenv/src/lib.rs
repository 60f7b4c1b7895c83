//! A real Kubernetes control plane for Kaptain's integration tests.
//!
//! [`ControlPlane::start`] runs etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler (v1.20.2, built once by `scripts/provision-k8s.sh`; see
//! `shared/TESTENV.md`) on free loopback ports with a private temp dir, and waits until the API
//! is usable. [`ControlPlane::shared`] gives one lazily started control plane per test binary.
//! [`ControlPlane::add_nodes`] creates static Ready `Node` objects so that the scheduler binds
//! pods, but nothing runs them; [`ControlPlane::start_kubelet`] / [`ControlPlane::shared_kubelet`]
//! start the simulated kubelet ([`SimKubelet`]), which registers live nodes and runs the pods
//! bound to them the way a real kubelet would (see the crate README for its annotations).
//! [`apply_yaml`] applies multi-document manifests; [`eventually`] polls a condition until it
//! holds or a timeout passes. [`Postgres::start`] / [`Postgres::shared`]
//! run a throw-away PostgreSQL server (Debian's binaries, `initdb` in a temp dir, a free
//! loopback port) for the store's tests.
//!
//! No process outlives the test binary: every process is started through
//! `setpriv --pdeathsig SIGKILL` from one long-lived spawner thread, so the kernel kills them
//! when the test binary exits, panics out, aborts or is killed; `Drop` stops them (SIGTERM, then
//! SIGKILL) and removes the temp dir. A small watchdog shell removes the temp dir of a control
//! plane that is never dropped (the shared one) once the test binary is gone.
//!
//! Users (static token file, `--authorization-mode=RBAC`):
//!
//! | token          | user     | groups           |
//! |----------------|----------|------------------|
//! | `admintoken`   | `admin`  | `system:masters` |
//! | `viewertoken`  | `viewer` | (none)           |
//! | `nobodytoken`  | `nobody` | (none)           |
//!
//! Environment: `KUBEBUILDER_ASSETS` / `KAPTAIN_K8S_BIN` / `KAPTAIN_K8S_CACHE` choose the
//! binaries; `KAPTAIN_TESTENV_KEEP=1` keeps every temp dir (logs, etcd data) for inspection.

mod apply;
mod binaries;
mod error;
mod nodes;
mod postgres;
mod sim;
mod spawner;
mod wait;

use std::fs::{self, File};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use apply::apply_yaml;
pub use error::{Error, Result};
pub use postgres::{PG_DATABASE, PG_START_TIMEOUT, PG_USER, Postgres};
pub use sim::{BACKOFF_SCALE_ENV, KubeletConfig, SimKubelet};
pub use wait::{BoxError, Check, POLL_INTERVAL, WaitError, eventually};

use binaries::Binaries;
use error::IoContext;

/// Token of the `admin` user (group `system:masters`).
pub const ADMIN_TOKEN: &str = "admintoken";
/// Token of the `viewer` user (no groups, no bindings until a test creates some).
pub const VIEWER_TOKEN: &str = "viewertoken";
/// Token of the `nobody` user (no groups, no bindings).
pub const NOBODY_TOKEN: &str = "nobodytoken";

/// Name of the admin kubeconfig's context (other users get `kaptain-test-<user>`).
pub const CONTEXT: &str = "kaptain-test";

/// How long [`ControlPlane::start`] waits for the API to become usable.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// (token, user, uid, groups) as written to `tokens.csv`.
const USERS: &[(&str, &str, &str, &str)] = &[
    (ADMIN_TOKEN, "admin", "admin", "system:masters"),
    (VIEWER_TOKEN, "viewer", "viewer", ""),
    (NOBODY_TOKEN, "nobody", "nobody", ""),
];

const DIR_PREFIX: &str = "kaptain-testenv-";
const KEEP_MARKER: &str = "KEEP";
const KEEP_ENV: &str = "KAPTAIN_TESTENV_KEEP";

/// Removes the temp dir once the test binary is gone (its stdin, the write end of a pipe we
/// hold, reaches EOF), unless told `done` (already cleaned up) or `keep`.
const WATCHDOG_SCRIPT: &str = r#"trap '' INT TERM HUP
IFS= read -r line
case "$line" in done|keep) exit 0 ;; esac
sleep 1
rm -rf -- "$1"
"#;

struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// A running etcd + kube-apiserver (+ kube-controller-manager + kube-scheduler).
///
/// Dropping it stops the processes and removes its temp dir; the dir is kept when the drop
/// happens during a panic (a failing test) or with `KAPTAIN_TESTENV_KEEP=1`.
pub struct ControlPlane {
    dir: PathBuf,
    server_url: String,
    kubeconfig: PathBuf,
    processes: Vec<Process>,
    has_controllers: bool,
    watchdog: Option<(Child, Option<ChildStdin>)>,
    next_node: AtomicUsize,
    keep: bool,
    startup: Duration,
    shared_sim: tokio::sync::OnceCell<std::result::Result<SimKubelet, String>>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server_url", &self.server_url)
            .field("dir", &self.dir)
            .field("processes", &self.pids())
            .field("has_controllers", &self.has_controllers)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts a new control plane and waits (up to [`START_TIMEOUT`]) until `/readyz` is ok,
    /// the `default` namespace exists and a (dry-run) Pod can be created there, and — when the
    /// controller manager runs — the `default` ServiceAccount has been created.
    ///
    /// Blocking; safe to call from inside a tokio runtime (the work runs on its own thread).
    pub fn start() -> Result<Self> {
        std::thread::Builder::new()
            .name("kaptain-testenv-start".into())
            .spawn(start_blocking)
            .context(|| "starting the start-up thread".into())?
            .join()
            .map_err(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown panic".into());
                Error::StartPanicked(message)
            })?
    }

    /// One control plane per test binary, started on first use and shared by all its tests.
    /// It is never dropped: its processes die with the test binary (PDEATHSIG) and a watchdog
    /// removes its temp dir. Tests sharing it should use their own namespaces and node labels.
    ///
    /// # Panics
    /// When the control plane cannot be started (every caller panics with the same message).
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<std::result::Result<ControlPlane, String>> = OnceLock::new();
        match SHARED.get_or_init(|| ControlPlane::start().map_err(|e| e.to_string())) {
            Ok(cp) => cp,
            Err(e) => panic!("kaptain-testenv: the shared control plane did not start: {e}"),
        }
    }

    /// `https://127.0.0.1:<port>` of the kube-apiserver.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The admin kubeconfig (token auth, `insecure-skip-tls-verify`, context `kaptain-test`,
    /// namespace `default`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The admin's bearer token.
    pub fn admin_token(&self) -> &str {
        ADMIN_TOKEN
    }

    /// Whether kube-controller-manager and kube-scheduler run (they may be missing when
    /// `KUBEBUILDER_ASSETS` provides only etcd and kube-apiserver).
    pub fn has_controllers(&self) -> bool {
        self.has_controllers
    }

    /// Directory holding `etcd.log`, `kube-apiserver.log`, `kube-controller-manager.log` and
    /// `kube-scheduler.log`.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The control plane's private temp dir (logs, etcd data, keys, kubeconfigs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `(name, pid)` of every process started, in start order.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.processes
            .iter()
            .map(|p| (p.name, p.child.id()))
            .collect()
    }

    /// Time from [`ControlPlane::start`] being called to the control plane being usable.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Keeps the temp dir (logs, etcd data) when this control plane is dropped.
    pub fn keep_on_drop(&mut self) {
        self.keep = true;
    }

    /// A client for the admin user, built from [`ControlPlane::kubeconfig_path`]. Create one per
    /// tokio runtime (each `#[tokio::test]` has its own).
    pub async fn client(&self) -> Result<kube::Client> {
        client_from(&self.kubeconfig).await
    }

    /// A client authenticated with `user_token` (see [`ControlPlane::kubeconfig_for`]).
    pub async fn client_for(&self, user_token: &str) -> Result<kube::Client> {
        client_from(&self.kubeconfig_for(user_token)?).await
    }

    /// Writes (or rewrites) a kubeconfig for the user with `user_token` and returns its path.
    /// Known tokens get context `kaptain-test-<user>` (`kaptain-test-viewer`, ...); the admin
    /// token returns [`ControlPlane::kubeconfig_path`]. Unknown tokens are allowed (requests
    /// with them are unauthenticated) and get context `kaptain-test-token-<token>`.
    pub fn kubeconfig_for(&self, user_token: &str) -> Result<PathBuf> {
        if user_token == ADMIN_TOKEN {
            return Ok(self.kubeconfig.clone());
        }
        let user = match USERS.iter().find(|u| u.0 == user_token) {
            Some(u) => u.1.to_owned(),
            None => {
                if user_token.is_empty()
                    || !user_token
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                {
                    return Err(Error::Invalid(format!(
                        "token {user_token:?}: use ASCII letters, digits, '-', '_' or '.'"
                    )));
                }
                format!("token-{user_token}")
            }
        };
        let path = self.dir.join(format!("kubeconfig-{user}"));
        let context = format!("{CONTEXT}-{user}");
        write_kubeconfig(&path, &self.server_url, &context, &user, user_token)?;
        Ok(path)
    }

    fn spawn(&mut self, name: &'static str, binary: &Path, args: &[String]) -> Result<()> {
        let log = self.log_dir().join(format!("{name}.log"));
        let file = File::create(&log).context(|| format!("creating {}", log.display()))?;
        let stderr = file
            .try_clone()
            .context(|| format!("duplicating {}", log.display()))?;
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "SIGKILL", "--"])
            .arg(binary)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr);
        let child = spawner::spawn(command)?;
        tracing::debug!(name, pid = child.id(), log = %log.display(), "started");
        self.processes.push(Process { name, child, log });
        Ok(())
    }

    /// Fails when a started process has exited.
    fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.processes {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(Error::ProcessExited {
                    name: p.name.to_owned(),
                    status: status.to_string(),
                    log_dir: self.dir.join("logs"),
                    log_tail: tail(&p.log, 40),
                });
            }
        }
        Ok(())
    }

    fn timeout(&self, waited: Duration, what: &str, last_error: String) -> Error {
        Error::Timeout {
            waited,
            what: what.to_owned(),
            last_error,
            log_dir: self.log_dir(),
            apiserver_log_tail: tail(&self.log_dir().join("kube-apiserver.log"), 40),
        }
    }

    /// Polls `probe` every 100 ms until it succeeds, a process dies or `deadline` passes.
    async fn poll(
        &mut self,
        began: Instant,
        deadline: Instant,
        what: &str,
        mut probe: impl AsyncFnMut() -> std::result::Result<(), String>,
    ) -> Result<()> {
        loop {
            self.check_alive()?;
            let last_error = match tokio::time::timeout(Duration::from_secs(5), probe()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => "request timed out after 5 s".into(),
            };
            if Instant::now() >= deadline {
                return Err(self.timeout(began.elapsed(), what, last_error));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn boot(&mut self, bins: &Binaries, began: Instant) -> Result<()> {
        let dir = self.dir.clone();
        let logs = self.log_dir();
        fs::create_dir_all(&logs).context(|| format!("creating {}", logs.display()))?;
        if std::env::var_os(KEEP_ENV).is_some() {
            mark_kept(&dir);
        } else {
            self.watchdog = Some(start_watchdog(&dir)?);
        }

        let [etcd_port, peer_port, api_port] = free_ports()?;
        self.server_url = format!("https://127.0.0.1:{api_port}");

        let sa_key = dir.join("sa.key");
        let sa_pub = dir.join("sa.pub");
        run_tool(
            Command::new("openssl")
                .arg("genrsa")
                .arg("-out")
                .arg(&sa_key)
                .arg("2048"),
        )?;
        run_tool(
            Command::new("openssl")
                .arg("rsa")
                .arg("-in")
                .arg(&sa_key)
                .arg("-pubout")
                .arg("-out")
                .arg(&sa_pub),
        )?;
        let tokens = dir.join("tokens.csv");
        let csv: String = USERS
            .iter()
            .map(|(token, user, uid, groups)| {
                if groups.is_empty() {
                    format!("{token},{user},{uid}\n")
                } else {
                    format!("{token},{user},{uid},\"{groups}\"\n")
                }
            })
            .collect();
        fs::write(&tokens, csv).context(|| format!("writing {}", tokens.display()))?;
        write_kubeconfig(
            &self.kubeconfig,
            &self.server_url,
            CONTEXT,
            "admin",
            ADMIN_TOKEN,
        )?;

        let p = |path: &Path| path.display().to_string();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        self.spawn(
            "etcd",
            &bins.etcd,
            &[
                format!("--data-dir={}", p(&dir.join("etcd"))),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=default={peer_url}"),
            ],
        )?;
        self.spawn(
            "kube-apiserver",
            &bins.apiserver,
            &[
                format!("--etcd-servers={etcd_url}"),
                format!("--secure-port={api_port}"),
                "--bind-address=127.0.0.1".into(),
                format!("--cert-dir={}", p(&dir.join("certs"))),
                format!("--token-auth-file={}", p(&tokens)),
                format!("--service-account-key-file={}", p(&sa_pub)),
                format!("--service-account-signing-key-file={}", p(&sa_key)),
                "--service-account-issuer=https://kubernetes.default.svc".into(),
                "--authorization-mode=RBAC".into(),
                "--service-cluster-ip-range=10.0.0.0/16".into(),
                "--allow-privileged=true".into(),
                // The token controller is off, so the ServiceAccount admission plugin would
                // reject every Pod ("No API token found").
                "--disable-admission-plugins=ServiceAccount".into(),
                // Simulated nodes serve logs on 127.0.0.1 (their InternalIP); their Hostname
                // address does not resolve.
                "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
            ],
        )?;

        let deadline = began + START_TIMEOUT;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context(|| "building a tokio runtime".into())?;
        let kubeconfig = self.kubeconfig.clone();
        let client = runtime.block_on(client_from(&kubeconfig))?;

        runtime.block_on(self.poll(began, deadline, "GET /readyz", async || {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => Ok(()),
                Ok(body) => Err(format!("/readyz answered {body:?}")),
                Err(e) => Err(e.to_string()),
            }
        }))?;
        tracing::debug!(elapsed = ?began.elapsed(), "kube-apiserver ready");

        // The controller manager gives up if the apiserver is not healthy within 10 s, so it
        // and the scheduler start only now.
        let kubeconfig_arg = format!("--kubeconfig={}", p(&self.kubeconfig));
        if let Some(cm) = &bins.controller_manager {
            self.spawn(
                "kube-controller-manager",
                cm,
                &[
                    kubeconfig_arg.clone(),
                    "--leader-elect=false".into(),
                    format!("--service-account-private-key-file={}", p(&sa_key)),
                    "--use-service-account-credentials=false".into(),
                    "--controllers=*,-serviceaccount-token".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--secure-port=0".into(),
                    "--port=0".into(),
                    // No kubelet renews node status: keep nodes marked Ready by add_nodes
                    // Ready instead of going Unknown (and tainted) after 40 s.
                    "--node-monitor-grace-period=1h".into(),
                    // The default 20 requests/s make a 1,000-replica Deployment take a minute.
                    "--kube-api-qps=500".into(),
                    "--kube-api-burst=1000".into(),
                    "--pod-eviction-timeout=1h".into(),
                ],
            )?;
        }
        if let Some(scheduler) = &bins.scheduler {
            self.spawn(
                "kube-scheduler",
                scheduler,
                &[
                    kubeconfig_arg,
                    "--leader-elect=false".into(),
                    "--kube-api-qps=500".into(),
                    "--kube-api-burst=1000".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--secure-port=0".into(),
                    "--port=0".into(),
                ],
            )?;
        }
        self.has_controllers = bins.controller_manager.is_some() && bins.scheduler.is_some();

        let namespaces: Api<Namespace> = Api::all(client.clone());
        runtime.block_on(self.poll(began, deadline, "namespace default", async || {
            match namespaces.get_opt("default").await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err("namespace default does not exist yet".into()),
                Err(e) => Err(e.to_string()),
            }
        }))?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let probe_pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kaptain-testenv-probe"},
            "spec": {"containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.2"}]},
        }))?;
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        runtime.block_on(
            self.poll(began, deadline, "dry-run Pod creation", async || {
                pods.create(&dry_run, &probe_pod)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
        )?;
        if bins.controller_manager.is_some() {
            let service_accounts: Api<ServiceAccount> = Api::namespaced(client, "default");
            runtime.block_on(self.poll(
                began,
                deadline,
                "the controller manager creating ServiceAccount default/default",
                async || match service_accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("ServiceAccount default/default does not exist yet".into()),
                    Err(e) => Err(e.to_string()),
                },
            ))?;
        }
        self.startup = began.elapsed();
        tracing::info!(
            server = %self.server_url,
            dir = %self.dir.display(),
            startup = ?self.startup,
            has_controllers = self.has_controllers,
            "kaptain-testenv control plane ready"
        );
        Ok(())
    }

    /// Stops the processes: SIGTERM to all but etcd (the apiserver's graceful shutdown needs
    /// etcd), up to 3 s to exit, then SIGTERM to etcd, up to 2 s; SIGKILL to whatever is left.
    fn stop_processes(&mut self) {
        self.terminate(|name| name != "etcd", Duration::from_secs(3));
        self.terminate(|_| true, Duration::from_secs(2));
        for p in self.processes.iter_mut().rev() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// SIGTERM to the live processes `which` selects; waits up to `grace` for them to exit.
    fn terminate(&mut self, which: impl Fn(&str) -> bool, grace: Duration) {
        let mut live = Vec::new();
        for p in &mut self.processes {
            if which(p.name) && matches!(p.child.try_wait(), Ok(None)) {
                live.push(p.child.id().to_string());
            }
        }
        if live.is_empty() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .args(&live)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline
            && self
                .processes
                .iter_mut()
                .any(|p| which(p.name) && matches!(p.child.try_wait(), Ok(None)))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_shared_kubelet();
        self.stop_processes();
        let keep = self.keep || std::thread::panicking() || std::env::var_os(KEEP_ENV).is_some();
        if keep {
            mark_kept(&self.dir);
            eprintln!(
                "kaptain-testenv: kept {} (logs in {})",
                self.dir.display(),
                self.log_dir().display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove temp dir");
        }
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(if keep { b"keep\n" } else { b"done\n" });
            }
            let _ = watchdog.wait();
        }
    }
}

fn start_blocking() -> Result<ControlPlane> {
    let began = Instant::now();
    gc_stale_dirs();
    let bins = binaries::locate()?;
    run_tool(Command::new("setpriv").arg("--version")).map_err(|e| Error::Tool {
        program: "setpriv".into(),
        message: format!("required to tie processes to the test binary (util-linux): {e}"),
    })?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .context(|| "creating a temp dir".into())?
        .keep();
    let mut cp = ControlPlane {
        kubeconfig: dir.join("kubeconfig"),
        dir,
        server_url: String::new(),
        processes: Vec::new(),
        has_controllers: false,
        watchdog: None,
        next_node: AtomicUsize::new(0),
        keep: false,
        startup: Duration::ZERO,
        shared_sim: tokio::sync::OnceCell::new(),
    };
    match cp.boot(&bins, began) {
        Ok(()) => Ok(cp),
        Err(e) => {
            // Keep the logs the error points at; `cp` is dropped here, stopping everything.
            cp.keep = matches!(e, Error::ProcessExited { .. } | Error::Timeout { .. });
            Err(e)
        }
    }
}

async fn client_from(kubeconfig: &Path) -> Result<kube::Client> {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

/// Writes a single-context token kubeconfig (JSON, which every YAML reader accepts),
/// atomically so that concurrent tests never read half a file.
fn write_kubeconfig(
    path: &Path,
    server: &str,
    context: &str,
    user: &str,
    token: &str,
) -> Result<()> {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "insecure-skip-tls-verify": true}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": CONTEXT, "user": user, "namespace": "default"}}],
        "current-context": context,
    });
    let text = serde_json::to_string_pretty(&config)?;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{n}"));
    fs::write(&tmp, text).context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Three distinct free loopback ports (held together while picking, then released).
fn free_ports() -> Result<[u16; 3]> {
    let bind = || TcpListener::bind("127.0.0.1:0").context(|| "binding 127.0.0.1:0".into());
    let listeners = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .context(|| "reading a listener's address".into())?
            .port();
    }
    Ok(ports)
}

fn run_tool(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Tool {
            program: program.clone(),
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Tool {
            program,
            message: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

fn start_watchdog(dir: &Path) -> Result<(Child, Option<ChildStdin>)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("kaptain-testenv-watchdog")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context(|| "starting the temp-dir watchdog (sh)".into())?;
    let stdin = child.stdin.take();
    Ok((child, stdin))
}

fn mark_kept(dir: &Path) {
    let _ = fs::write(dir.join(KEEP_MARKER), b"kept for inspection\n");
}

/// Removes temp dirs of control planes whose test binary is gone and that were not kept on
/// purpose (kept ones go after a day), in case their watchdog could not do it.
fn gc_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(24 * 3600));
        if old || !path.join(KEEP_MARKER).exists() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
