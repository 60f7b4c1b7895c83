//! `kaptain token create|list|revoke`: the server's API tokens, straight in its store.

use jiff::{SignedDuration, Timestamp};
use kaptain_store::{Role, Scope, Store, TokenInfo};

use crate::cli::{EXIT_ERROR, TokenArgs, TokenCommand};

pub fn run(a: TokenArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(inner(&a)) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> u8 {
    eprintln!("kaptain token: {message}");
    EXIT_ERROR
}

async fn inner(a: &TokenArgs) -> Result<String, String> {
    let url = a
        .database_url
        .clone()
        .unwrap_or_else(kaptain_store::default_database_url);
    let store = Store::open(&url).await.map_err(|e| e.to_string())?;
    let out = match &a.command {
        TokenCommand::Create {
            name,
            role,
            scopes,
            expires_in,
        } => {
            let role: Role = role
                .parse()
                .map_err(|e: kaptain_store::Error| e.to_string())?;
            let scopes = scopes
                .iter()
                .map(|s| parse_scope(s))
                .collect::<Result<Vec<_>, _>>()?;
            let expires_at = match expires_in {
                Some(d) => Some(expiry(d)?),
                None => None,
            };
            let actor = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let (info, secret) = store
                .create_token(name, role, scopes, expires_at, &actor)
                .await
                .map_err(|e| e.to_string())?;
            format!(
                "Created token {} ({}, role {}). Its secret, shown only now:\n{secret}\n",
                info.id, info.name, info.role
            )
        }
        TokenCommand::List => table(&store.tokens().await.map_err(|e| e.to_string())?),
        TokenCommand::Revoke { id } => {
            let t = store.revoke_token(*id).await.map_err(|e| e.to_string())?;
            format!("Revoked token {} ({}).\n", t.id, t.name)
        }
    };
    store.close().await;
    Ok(out)
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    match s.split_once('/') {
        Some((c, ns)) if !c.is_empty() && !ns.is_empty() => Ok(Scope::namespace(c, ns)),
        None if !s.is_empty() => Ok(Scope::cluster(s)),
        _ => Err(format!(
            "--scope {s:?}: expected CLUSTER or CLUSTER/NAMESPACE"
        )),
    }
}

fn expiry(d: &str) -> Result<Timestamp, String> {
    let bad = || format!("--expires-in {d:?}: expected a number and a unit (30m, 12h, 30d)");
    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Timestamp::now()
        .checked_add(SignedDuration::from_secs(secs))
        .map_err(|_| bad())
}

fn table(tokens: &[TokenInfo]) -> String {
    let mut out = String::from("ID  NAME  ROLE  SCOPES  HINT  EXPIRES  LAST USED  STATE\n");
    let now = Timestamp::now();
    for t in tokens {
        let scopes = if t.scopes.is_empty() {
            "*".to_owned()
        } else {
            t.scopes
                .iter()
                .map(|s| match &s.namespace {
                    Some(ns) => format!("{}/{ns}", s.cluster),
                    None => s.cluster.clone(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let opt = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{}  {}  {}  {}  {}  {}  {}  {}\n",
            t.id,
            t.name,
            t.role,
            scopes,
            t.hint,
            opt(t.expires_at),
            opt(t.last_used_at),
            if t.is_active(now) {
                "active"
            } else {
                "revoked/expired"
            }
        ));
    }
    out
}
