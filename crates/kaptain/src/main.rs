//! `kaptain`: root-cause diagnosis for Kubernetes. This file only wires: argument parsing
//! lives in `cli`, each command in its own module, and the work in the library crates.

mod checks_cmd;
mod cli;
mod diagnose;
mod output;
mod parse_only;
mod snapshot_cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse();
    let code = match args.command {
        cli::Command::Diagnose(a) => diagnose::run(a),
        cli::Command::Snapshot(a) => snapshot_cmd::run(a),
        cli::Command::Checks(a) => checks_cmd::run(a),
        cli::Command::ParseOnly { paths } => parse_only::run(&paths),
    };
    ExitCode::from(code)
}
