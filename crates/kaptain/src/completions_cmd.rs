//! `kaptain completions SHELL|man`: shell completions (clap_complete) and the man page
//! (clap_mangen), generated from the same definition as `--help`. The committed copies under
//! `docs/completions/` and `docs/man/` are checked for drift by `tests/generated.rs`;
//! `scripts/gen-completions.sh` writes them anew.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionTarget, EXIT_CLEAN, EXIT_ERROR};

pub fn run(target: CompletionTarget) -> u8 {
    let mut out = Vec::new();
    if let Err(e) = render(target, &mut out) {
        eprintln!("kaptain completions: {e}");
        return EXIT_ERROR;
    }
    match std::io::stdout().write_all(&out) {
        Ok(()) => EXIT_CLEAN,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_CLEAN,
        Err(e) => {
            eprintln!("kaptain completions: {e}");
            EXIT_ERROR
        }
    }
}

/// The completions for `target`, or the man page.
pub fn render(target: CompletionTarget, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    let shell = match target {
        CompletionTarget::Bash => Shell::Bash,
        CompletionTarget::Zsh => Shell::Zsh,
        CompletionTarget::Fish => Shell::Fish,
        CompletionTarget::Elvish => Shell::Elvish,
        CompletionTarget::Powershell => Shell::PowerShell,
        CompletionTarget::Man => return clap_mangen::Man::new(cmd).render(out),
    };
    clap_complete::generate(shell, &mut cmd, "kaptain", out);
    Ok(())
}
