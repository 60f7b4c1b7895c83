//! The LLM faces of the binary with no LLM configured: `diagnose --explain` says so and exits
//! 2; `ask` answers as before; `kaptain chat` answers each stdin line with the rule reader.
//! (With a model, the same paths are tested in-process against a scripted provider.)

#[path = "support/bin.rs"]
mod bin;
use bin::{broken_shop as example, text};

/// The binary with a fresh HOME and config dir and no LLM variables.
fn kaptain(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    bin::kaptain(args, stdin.unwrap_or(""), |_, _| {})
}

#[test]
fn explain_without_a_model_is_one_line_and_exit_2() {
    let ex = example();
    let out = kaptain(
        &[
            "diagnose",
            "--from",
            ex.to_str().expect("path"),
            "--explain",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("kaptain: error: no LLM is configured"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing is scanned or printed first");
}

#[test]
fn without_a_model_the_report_has_no_explanation_field() {
    let ex = example();
    let out = kaptain(
        &[
            "diagnose",
            "--from",
            ex.to_str().expect("path"),
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stdout).contains("\"explanation\""));
}

#[test]
fn ask_without_a_model_still_answers_with_the_rule_reader() {
    let ex = example();
    let out = kaptain(
        &[
            "ask",
            "why is checkout slow since this morning in shop?",
            "--from",
            ex.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.contains("checkout-config"), "{o}");
    assert!(!o.contains("Tools called"), "{o}");
}

#[test]
fn chat_reads_stdin_until_quit_without_a_terminal() {
    let ex = example();
    let out = kaptain(
        &["chat", "--from", ex.to_str().expect("path")],
        Some(
            "why is checkout failing in shop?\n\nwhat is wrong in payments?\n/quit\nwhat is wrong?\n",
        ),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.contains("checkout-config"), "{o}");
    assert!(o.contains("ledger"), "{o}");
    // Two answers (the empty line is skipped; nothing after /quit).
    assert_eq!(o.matches("In the CLI:").count(), 2, "{o}");
    assert!(!o.contains("> "), "no prompt without a terminal");
}
