//! `kaptain`: root-cause diagnosis for Kubernetes. This file only wires: argument parsing
//! lives in `cli`, each command in its own module, and the work in the library crates.

mod ask_act;
mod ask_cmd;
mod audit_cmd;
mod checks_cmd;
mod cli;
mod completions_cmd;
mod diagnose;
mod explain_cmd;
mod heal_cmd;
mod investigate_cmd;
mod llm_cmd;
mod llm_setup;
mod mcp_cmd;
mod operator_cmd;
mod output;
mod parse_only;
mod serve_cmd;
mod snapshot_cmd;
mod token_cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse();
    let code = match args.command {
        cli::Command::Ask(a) => ask_cmd::run(a),
        cli::Command::Chat(a) => investigate_cmd::chat(a),
        cli::Command::Diagnose(a) => diagnose::run(a),
        cli::Command::Snapshot(a) => snapshot_cmd::run(a),
        cli::Command::Checks(a) => checks_cmd::run(a),
        cli::Command::Operator(a) => operator_cmd::run(a),
        cli::Command::Heal(a) => heal_cmd::run(a),
        cli::Command::Audit(a) => audit_cmd::run(a),
        cli::Command::Serve(a) => serve_cmd::run(a),
        cli::Command::Token(a) => token_cmd::run(a),
        cli::Command::Mcp(a) => mcp_cmd::run(a),
        cli::Command::Llm(a) => llm_cmd::run(a),
        cli::Command::Completions { shell } => completions_cmd::run(shell),
        cli::Command::ParseOnly { paths } => parse_only::run(&paths),
    };
    ExitCode::from(code)
}
