//! `kaptain serve`: the REST API and web console (crates/kaptain-server).

use kaptain_engine::live::ClusterSource;
use kaptain_server::auth::OidcConfig;
use kaptain_server::listen::TlsFiles;
use kaptain_server::serve::ServeOptions;

use crate::cli::{EXIT_ERROR, ServeArgs};

pub fn run(a: ServeArgs) -> u8 {
    crate::operator_cmd::init_logs(&a.log, a.log_format);
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(kaptain_server::serve::serve(opts)) {
        Ok(()) => 0,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> u8 {
    eprintln!("kaptain serve: {message}");
    EXIT_ERROR
}

fn options(a: &ServeArgs) -> Result<ServeOptions, String> {
    let clusters = if a.in_cluster {
        vec![ClusterSource::InCluster]
    } else {
        ClusterSource::select(a.kubeconfig.clone(), &a.contexts, a.all_contexts)
            .map_err(|e| e.to_string())?
    };
    let database_url = a
        .database_url
        .clone()
        .unwrap_or_else(kaptain_store::default_database_url);
    let secret_key_file = a
        .secret_key_file
        .clone()
        .unwrap_or_else(|| kaptain_store::default_database_path().with_file_name("secret.key"));
    let oidc = match (&a.oidc_issuer, &a.oidc_audience, &a.oidc_jwks_url) {
        (Some(issuer), Some(audience), Some(jwks)) => {
            let mut c = OidcConfig::new(issuer, audience, jwks);
            c.role_claim = a.oidc_role_claim.clone();
            c.allow_http_jwks = a.oidc_allow_http_jwks;
            c.default_role = a
                .oidc_default_role
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: kaptain_store::Error| format!("--oidc-default-role: {e}"))?;
            Some(c)
        }
        (None, _, _) => None,
        _ => return Err("--oidc-issuer needs --oidc-audience and --oidc-jwks-url".into()),
    };
    Ok(ServeOptions {
        listen: a.listen,
        clusters,
        database_url,
        secret_key_file,
        no_auth: a.no_auth,
        oidc,
        operator_namespace: a.operator_namespace.clone(),
        workers: a.workers,
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        auth_throttle: a.auth_throttle,
    })
}
