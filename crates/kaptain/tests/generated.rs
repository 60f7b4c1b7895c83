//! The committed shell completions and man page are what the CLI generates now
//! (regenerate with `scripts/gen-completions.sh`), and the bash completion works in bash.

use std::path::PathBuf;
use std::process::Command;

fn kaptain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kaptain"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn completions_and_man_page_have_not_drifted() {
    for (target, file) in [
        ("bash", "docs/completions/kaptain.bash"),
        ("zsh", "docs/completions/kaptain.zsh"),
        ("fish", "docs/completions/kaptain.fish"),
        ("man", "docs/man/kaptain.1"),
    ] {
        let out = kaptain()
            .args(["completions", target])
            .output()
            .expect("run kaptain");
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read(repo().join(file)).unwrap_or_default();
        assert!(
            out.stdout == committed,
            "{file} is not what `kaptain completions {target}` prints now: run scripts/gen-completions.sh"
        );
    }
}

#[test]
fn bash_completes_subcommands_and_flags() {
    if Command::new("bash").arg("--version").output().is_err() {
        panic!("bash is needed for this test");
    }
    let script = format!(
        r#"source {}
complete_for() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); _kaptain kaptain "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"; printf '%s\n' "${{COMPREPLY[@]}}"; }}
complete_for kaptain dia
echo ---
complete_for kaptain diagnose --min-s"#,
        repo().join("docs/completions/kaptain.bash").display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("run bash");
    let text = String::from_utf8_lossy(&out.stdout);
    let (subcommands, flags) = text.split_once("---").unwrap_or((&text, ""));
    assert!(
        subcommands.lines().any(|l| l == "diagnose"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(flags.lines().any(|l| l == "--min-severity"), "{text}");
}

#[test]
fn an_unknown_shell_is_a_clear_error() {
    let out = kaptain()
        .args(["completions", "tcsh"])
        .output()
        .expect("run kaptain");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

#[test]
fn the_krew_manifest_names_the_archive_and_its_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stage = dir.path().join("stage");
    std::fs::create_dir(&stage).expect("mkdir");
    std::fs::copy(env!("CARGO_BIN_EXE_kaptain"), stage.join("kaptain")).expect("copy binary");
    std::fs::copy(repo().join("LICENSE"), stage.join("LICENSE")).expect("copy LICENSE");
    let archive = dir.path().join("kaptain-linux-amd64.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .args(["kaptain", "LICENSE"])
        .status()
        .expect("tar");
    assert!(tar.success());
    let out = Command::new("bash")
        .arg(repo().join("scripts/krew-manifest.sh"))
        .args(["v1.2.3"])
        .arg(&archive)
        .args([
            "https://example.org/k.tar.gz",
            "https://example.org/kaptain",
        ])
        .output()
        .expect("run the script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(&out.stdout).expect("the manifest is YAML");
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["spec"]["version"], "v1.2.3");
    let platform = &manifest["spec"]["platforms"][0];
    assert_eq!(platform["bin"], "kubectl-kaptain");
    let sha = Command::new("sha256sum")
        .arg(&archive)
        .output()
        .expect("sha256sum");
    let sha = String::from_utf8_lossy(&sha.stdout);
    assert_eq!(platform["sha256"].as_str(), sha.split_whitespace().next());

    // An archive without the binary is refused with a line naming it.
    let bad = dir.path().join("bad.tar.gz");
    Command::new("tar")
        .arg("-czf")
        .arg(&bad)
        .arg("-C")
        .arg(&stage)
        .arg("LICENSE")
        .status()
        .expect("tar");
    let out = Command::new("bash")
        .arg(repo().join("scripts/krew-manifest.sh"))
        .arg("v1.2.3")
        .arg(&bad)
        .args([
            "https://example.org/k.tar.gz",
            "https://example.org/kaptain",
        ])
        .output()
        .expect("run the script");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no kaptain"));
}
