//! A throw-away PostgreSQL server for tests.
//!
//! [`Postgres::start`] finds the server binaries (`$KAPTAIN_PG_BIN`, Debian's
//! `/usr/lib/postgresql/<newest>/bin`, then `PATH`; when none has `initdb` and `postgres`, it
//! runs `scripts/provision-postgres.sh`, which installs Debian's `postgresql` package), runs
//! `initdb` in a private temp dir, starts `postgres` on a free loopback port with its unix
//! socket in that dir, waits until it accepts connections and creates the database `kaptain`.
//! Authentication is `trust` for the superuser `postgres`: only for tests.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, `initdb` and `postgres` run
//! as the `postgres` user (created by Debian's package; a system user `kaptain-pg` is created
//! when it is missing) through `setpriv --reuid --regid --init-groups`, with the temp dir
//! owned by that user.
//!
//! No server outlives the test binary: the server is started like the control plane's
//! processes, through `setpriv --pdeathsig SIGKILL` from the spawner thread (setpriv sets the
//! death signal after switching user, so the switch does not clear it); `Drop` asks for a fast
//! shutdown (SIGINT), then kills, and removes the temp dir; the temp-dir watchdog removes the
//! dir of a server that is never dropped (the shared one). Dynamic shared memory lives in the
//! data dir (`dynamic_shared_memory_type=mmap`), so nothing is left in /dev/shm either.

use std::fs::{self, File};
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::{DIR_PREFIX, KEEP_ENV, mark_kept, spawner, start_watchdog, tail};

/// How long [`Postgres::start`] waits for the server to accept connections.
pub const PG_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The database [`Postgres::start`] creates.
pub const PG_DATABASE: &str = "kaptain";

/// The superuser (trust authentication on loopback and the socket).
pub const PG_USER: &str = "postgres";

/// The user the server runs as when the tests run as root.
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

/// A running PostgreSQL server in a temp dir, stopped and removed on drop.
pub struct Postgres {
    dir: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    child: Child,
    log: PathBuf,
    watchdog: Option<(Child, Option<ChildStdin>)>,
    next_db: AtomicUsize,
    keep: bool,
    startup: Duration,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("url", &self.url())
            .field("dir", &self.dir)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Starts a new server with the database [`PG_DATABASE`] and waits (up to
    /// [`PG_START_TIMEOUT`]) until it accepts connections. Blocking.
    pub fn start() -> Result<Self> {
        let began = Instant::now();
        crate::gc_stale_dirs();
        let bin_dir = locate()?;
        let run_as = run_as()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-pg-", std::process::id()))
            .tempdir()
            .context(|| "creating a temp dir".into())?
            .keep();
        let watchdog = if std::env::var_os(KEEP_ENV).is_some() {
            mark_kept(&dir);
            None
        } else {
            Some(start_watchdog(&dir)?)
        };
        if let Some(user) = &run_as {
            std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
                .context(|| format!("chown {} to {}", dir.display(), user.name))?;
        }
        let log = dir.join("postgres.log");
        let data = dir.join("data");

        let initdb_log = dir.join("initdb.log");
        let mut initdb = as_user(&run_as, &bin_dir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log_file(&initdb_log)?)
            .stderr(log_file(&initdb_log)?);
        let status = spawner::spawn(initdb)?
            .wait()
            .context(|| "waiting for initdb".into())?;
        if !status.success() {
            return Err(Error::Postgres(format!(
                "initdb failed ({status}); dir kept: {}\n--- initdb.log ---\n{}",
                dir.display(),
                tail(&initdb_log, 40)
            )));
        }

        let port = free_port()?;
        let mut server = as_user(&run_as, &bin_dir.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .args(["-h", "127.0.0.1", "-k"])
            .arg(&dir)
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "dynamic_shared_memory_type=mmap",
                "-c",
                "log_min_messages=warning",
            ])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log_file(&log)?)
            .stderr(log_file(&log)?);
        let child = spawner::spawn(server)?;
        let mut pg = Postgres {
            dir,
            bin_dir,
            port,
            child,
            log,
            watchdog,
            next_db: AtomicUsize::new(0),
            keep: false,
            startup: Duration::ZERO,
        };
        if let Err(e) = pg.wait_ready(began + PG_START_TIMEOUT) {
            pg.keep = true;
            return Err(e);
        }
        pg.create_database(PG_DATABASE)?;
        pg.startup = began.elapsed();
        tracing::info!(url = %pg.url(), dir = %pg.dir.display(), startup = ?pg.startup, "kaptain-testenv PostgreSQL ready");
        Ok(pg)
    }

    /// One server per test binary, started on first use and shared by all its tests (use
    /// [`Postgres::fresh_database`] to keep tests apart). It is never dropped: it dies with
    /// the test binary (PDEATHSIG) and the watchdog removes its temp dir.
    ///
    /// # Panics
    /// When the server cannot be started (every caller panics with the same message).
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<std::result::Result<Postgres, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Postgres::start().map_err(|e| e.to_string())) {
            Ok(pg) => pg,
            Err(e) => panic!("kaptain-testenv: the shared PostgreSQL did not start: {e}"),
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/kaptain`.
    pub fn url(&self) -> String {
        self.database_url(PG_DATABASE)
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server's private temp dir (data, socket, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time from [`Postgres::start`] being called to the server being usable.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Keeps the temp dir (data, logs) when this server is dropped.
    pub fn keep_on_drop(&mut self) {
        self.keep = true;
    }

    /// Creates database `name` (ASCII letters, digits and `_`) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Invalid(format!(
                "database name {name:?}: use ASCII letters, digits and '_'"
            )));
        }
        let createdb = [self.bin_dir.join("createdb")]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("createdb"));
        let output = Command::new(&createdb)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
            ])
            .arg(name)
            .stdin(Stdio::null())
            .output()
            .context(|| format!("running {}", createdb.display()))?;
        if !output.status.success() {
            return Err(Error::Postgres(format!(
                "createdb {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(self.database_url(name))
    }

    /// Creates a database with a name no other call of this process uses and returns its
    /// URL: one per test keeps tests on a shared server apart.
    pub fn fresh_database(&self) -> Result<String> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("t{}_{n}", std::process::id()))
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<()> {
        let pid_file = self.dir.join("data/postmaster.pid");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::ProcessExited {
                    name: "postgres".into(),
                    status: status.to_string(),
                    log_dir: self.dir.clone(),
                    log_tail: tail(&self.log, 40),
                });
            }
            // Line 8 of postmaster.pid is the server's status; "ready" once it accepts
            // connections.
            let ready = fs::read_to_string(&pid_file)
                .is_ok_and(|text| text.lines().nth(7).is_some_and(|l| l.trim() == "ready"));
            if ready
                && TcpStream::connect_timeout(
                    &([127, 0, 0, 1], self.port).into(),
                    Duration::from_secs(1),
                )
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Postgres(format!(
                    "not accepting connections after {PG_START_TIMEOUT:?}; dir kept: {}\n--- postgres.log ---\n{}",
                    self.dir.display(),
                    tail(&self.log, 40)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGINT: fast shutdown (disconnects clients, no waiting for them).
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(self.child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let keep = self.keep || std::thread::panicking() || std::env::var_os(KEEP_ENV).is_some();
        if keep {
            mark_kept(&self.dir);
            eprintln!(
                "kaptain-testenv: kept PostgreSQL dir {} (log {})",
                self.dir.display(),
                self.log.display()
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

fn log_file(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .context(|| format!("opening {}", path.display()))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context(|| "binding 127.0.0.1:0".into())?;
    Ok(listener
        .local_addr()
        .context(|| "reading a listener's address".into())?
        .port())
}

/// `setpriv --pdeathsig SIGKILL [--reuid U --regid G --init-groups] -- program`.
fn as_user(run_as: &Option<RunAs>, program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command.args(["--pdeathsig", "SIGKILL"]);
    if let Some(user) = run_as {
        command
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--init-groups");
    }
    command.arg("--").arg(program);
    command
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn has_server(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

/// The directory with `initdb` and `postgres`: `$KAPTAIN_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, a `PATH` entry, or what `scripts/provision-postgres.sh`
/// prints after installing Debian's package.
fn locate() -> Result<PathBuf> {
    if let Some(found) = find_installed() {
        return Ok(found);
    }
    let Some(script) = crate::binaries::find_script("provision-postgres.sh") else {
        return Err(Error::BinariesNotFound(
            "PostgreSQL's initdb and postgres: not in $KAPTAIN_PG_BIN, /usr/lib/postgresql/*/bin \
             or PATH, and scripts/provision-postgres.sh was not found to install them"
                .into(),
        ));
    };
    tracing::info!(script = %script.display(), "installing PostgreSQL");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        return Err(Error::Provision {
            script,
            status: output.status.to_string(),
        });
    }
    find_installed().ok_or_else(|| {
        Error::BinariesNotFound(format!(
            "PostgreSQL's initdb and postgres, even after {}",
            script.display()
        ))
    })
}

fn find_installed() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KAPTAIN_PG_BIN").map(PathBuf::from)
        && has_server(&dir)
    {
        return Some(dir);
    }
    let mut debian: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    let initdb = std::env::split_paths(&path).find(|d| is_executable(&d.join("initdb")))?;
    let postgres = std::env::split_paths(&path).find(|d| is_executable(&d.join("postgres")))?;
    // Keep both from one installation when the PATH has a postgres symlink elsewhere.
    let postgres = fs::canonicalize(postgres.join("postgres")).ok()?;
    let dir = postgres.parent()?.to_path_buf();
    if has_server(&dir) {
        Some(dir)
    } else {
        has_server(&initdb).then_some(initdb)
    }
}

/// `None` when not root; else the unprivileged user to run PostgreSQL as.
fn run_as() -> Result<Option<RunAs>> {
    let euid = fs::metadata("/proc/self")
        .context(|| "reading /proc/self".into())?
        .uid();
    if euid != 0 {
        return Ok(None);
    }
    for name in ["postgres", "kaptain-pg"] {
        if let Some(user) = lookup_user(name) {
            return Ok(Some(user));
        }
    }
    // Neither exists: create a system user (parallel test binaries may race; re-check).
    let output = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "kaptain-pg",
        ])
        .stdin(Stdio::null())
        .output()
        .context(|| "running useradd".into())?;
    lookup_user("kaptain-pg")
        .map(Some)
        .ok_or_else(|| Error::Tool {
            program: "useradd".into(),
            message: format!(
                "cannot create the user kaptain-pg to run PostgreSQL as (it refuses root): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .args([flag, name])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some(RunAs {
        name: name.to_owned(),
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_debian_binaries_on_this_machine() {
        // The provisioning script installs them; without it this test fails (as it should).
        let dir = locate().expect("PostgreSQL binaries");
        assert!(has_server(&dir), "{}", dir.display());
    }
}
