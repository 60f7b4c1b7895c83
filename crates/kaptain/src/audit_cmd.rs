//! `kaptain audit verify`: checks the hash chain of the server's audit log.

use kaptain_store::{AuditVerification, Store, StoreOptions};

use crate::cli::{AuditArgs, AuditCommand, AuditFormat, AuditVerifyArgs, EXIT_ERROR};

/// Exit code when the chain is broken.
const EXIT_BROKEN: u8 = 1;

pub fn run(args: AuditArgs) -> u8 {
    match args.command {
        AuditCommand::Verify(a) => verify(a),
    }
}

fn verify(args: AuditVerifyArgs) -> u8 {
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(kaptain_store::default_database_url);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return error(&format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        // Only read: never create a store where there is none.
        let store = Store::open_with(StoreOptions {
            create_if_missing: false,
            max_connections: Some(1),
            ..StoreOptions::new(&url)
        })
        .await?;
        let verification = store.verify_audit().await;
        store.close().await;
        verification
    });
    match result {
        Ok(v) => report(&v, args.output),
        Err(e) => error(&e.to_string()),
    }
}

fn report(v: &AuditVerification, format: AuditFormat) -> u8 {
    match format {
        AuditFormat::Table => match &v.first_bad {
            None => println!("audit chain OK: {} records", v.records),
            Some((seq, reason)) => println!("audit chain BROKEN at record {seq}: {reason}"),
        },
        AuditFormat::Json => {
            let json = serde_json::json!({
                "ok": v.ok,
                "records": v.records,
                "first_bad": v.first_bad.as_ref().map(|(seq, reason)| {
                    serde_json::json!({"seq": seq, "reason": reason})
                }),
                "head": v.head.as_ref().map(|(seq, hash)| {
                    serde_json::json!({"seq": seq, "hash": hash})
                }),
            });
            match serde_json::to_string_pretty(&json) {
                Ok(text) => println!("{text}"),
                Err(e) => return error(&e.to_string()),
            }
        }
    }
    if v.ok { 0 } else { EXIT_BROKEN }
}

/// One line on stderr, exit code 2.
fn error(message: &str) -> u8 {
    let one_line: Vec<&str> = message.split_whitespace().collect();
    eprintln!("kaptain audit verify: {}", one_line.join(" "));
    EXIT_ERROR
}
