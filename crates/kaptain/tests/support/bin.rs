//! Runs the `kaptain` binary as a new user would: a fresh HOME, config and cache dir, and none
//! of the LLM variables of the machine it runs on (tests set what they need through `setup`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `examples/broken-shop`.
pub fn broken_shop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop")
}

/// `kaptain args` with `stdin`; `setup` may add env vars or write into the fresh HOME (its
/// path is given) before the binary starts.
pub fn kaptain(args: &[&str], stdin: &str, setup: impl FnOnce(&mut Command, &Path)) -> Output {
    let home = tempfile::tempdir().expect("temp home");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kaptain"));
    c.args(args)
        .env("NO_COLOR", "1")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env_remove("KAPTAIN_CONFIG")
        .env_remove("KAPTAIN_LLM_PROVIDER")
        .env_remove("KAPTAIN_LLM_MODEL")
        .env_remove("KAPTAIN_LLM_BASE_URL")
        .env_remove("KAPTAIN_LLM_MODEL_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    setup(&mut c, home.path());
    let mut child = c.spawn().expect("run kaptain");
    if let Some(mut s) = child.stdin.take() {
        s.write_all(stdin.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("kaptain finishes")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
