//! Resources: `kaptain://checks` (the check catalog), `kaptain://clusters/{c}/report` (the
//! current report, root causes first) and `kaptain://clusters/{c}/findings/{fingerprint}`
//! (one finding). Reports and findings are read through the registry's tools, so scopes and
//! redaction are the tools' and each read is audited.

use kaptain_engine::tools::Caller;
use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};
use serde_json::{Value, json};

use crate::KaptainMcp;

/// Findings listed as resources per cluster (the report resource holds them all).
const MAX_FINDING_RESOURCES: usize = 200;
const JSON: &str = "application/json";

pub const CHECKS_URI: &str = "kaptain://checks";

fn report_uri(cluster: &str) -> String {
    format!("kaptain://clusters/{cluster}/report")
}

fn finding_uri(cluster: &str, fp: &str) -> String {
    format!("kaptain://clusters/{cluster}/findings/{fp}")
}

pub(crate) async fn list(s: &KaptainMcp, caller: &Caller) -> Vec<Resource> {
    let mut out = vec![
        Resource::new(CHECKS_URI, "checks")
            .with_title("Kaptain's check catalog")
            .with_description("Every check: id, category, default severity, what it finds")
            .with_mime_type(JSON),
    ];
    let clusters: Vec<String> = s
        .host()
        .clusters()
        .into_iter()
        .map(|c| c.name)
        .filter(|c| caller.touches(c))
        .collect();
    for c in clusters {
        out.push(
            Resource::new(report_uri(&c), format!("report-{c}"))
                .with_title(format!("Current report of {c}"))
                .with_description("Findings of the latest analysis, root causes first")
                .with_mime_type(JSON),
        );
        let Some(report) = s.host().report(&c) else {
            continue;
        };
        for f in report
            .findings
            .iter()
            .filter(|f| caller.covers(&c, f.object.namespace.as_deref()))
            .take(MAX_FINDING_RESOURCES)
        {
            out.push(
                Resource::new(
                    finding_uri(&c, &f.fingerprint),
                    format!("finding-{}", f.fingerprint),
                )
                .with_title(format!("{} {}", f.severity, f.title))
                .with_description(format!("{} on {}", f.id, f.object.display()))
                .with_mime_type(JSON),
            );
        }
    }
    out
}

fn catalog() -> Value {
    Value::Array(
        kaptain_analyze::catalog()
            .iter()
            .map(|c| {
                json!({"id": c.info.id, "category": c.info.category.as_str(),
                    "severity": c.info.severity.as_str(), "description": c.info.description})
            })
            .collect(),
    )
}

pub(crate) async fn read(
    s: &KaptainMcp,
    caller: &Caller,
    uri: &str,
) -> Result<ReadResourceResult, McpError> {
    let text = |v: Value| {
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(v.to_string(), uri).with_mime_type(JSON),
        ]))
    };
    if uri == CHECKS_URI {
        return text(catalog());
    }
    let rest = uri
        .strip_prefix("kaptain://clusters/")
        .ok_or_else(|| McpError::resource_not_found(format!("no resource {uri}"), None))?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (tool, args) = match parts.as_slice() {
        [cluster, "report"] => ("diagnose", json!({"cluster": cluster, "limit": 500})),
        [cluster, "findings", fp] => (
            "list_findings",
            json!({"cluster": cluster, "fingerprint": fp, "limit": 1}),
        ),
        _ => {
            return Err(McpError::resource_not_found(
                format!("no resource {uri}"),
                None,
            ));
        }
    };
    match s.call(caller, "resources/read", tool, args).await? {
        Ok(v) if tool == "list_findings" => match v["items"].get(0) {
            Some(f) => text(f.clone()),
            None => Err(McpError::resource_not_found(
                format!("no current finding at {uri}"),
                None,
            )),
        },
        Ok(v) => text(v),
        Err(e) => Err(McpError::resource_not_found(
            format!("{uri}: {}: {e}", e.category()),
            None,
        )),
    }
}
