//! Reading a `kaptain.report/v1` JSON report and comparing it with a scenario's expectation.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::expected::Scenario;

pub(crate) fn findings(r: &Value) -> &[Value] {
    r["findings"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub(crate) fn is_root(f: &Value) -> bool {
    f["root_cause"] == true
}

pub(crate) fn in_namespace(f: &Value, ns: &str) -> bool {
    f["object"]["namespace"] == ns
}

/// `id Kind/ns/name`, how a finding is named in messages and root-cause sets.
pub(crate) fn label(f: &Value) -> String {
    let o = &f["object"];
    format!(
        "{} {}/{}{}",
        f["id"].as_str().unwrap_or("?"),
        o["kind"].as_str().unwrap_or("?"),
        o["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        o["name"].as_str().unwrap_or("?")
    )
}

/// The root causes that belong to this scenario: those on objects in its namespace, and the
/// cluster-scoped ones it lists.
pub(crate) fn scenario_roots<'a>(r: &'a Value, s: &Scenario) -> Vec<&'a Value> {
    findings(r)
        .iter()
        .filter(|f| is_root(f))
        .filter(|f| {
            in_namespace(f, &s.name)
                || (f["object"]["namespace"].is_null()
                    && s.expected.root_causes.iter().any(|m| m.matches(f, &s.name)))
        })
        .collect()
}

pub(crate) fn root_set(r: &Value, s: &Scenario) -> BTreeSet<String> {
    scenario_roots(r, s).into_iter().map(label).collect()
}

/// The root causes a finding traces back to through `caused_by` (itself if it is one).
pub(crate) fn roots_of<'a>(r: &'a Value, f: &'a Value) -> Vec<&'a Value> {
    let by_fp: HashMap<&str, &Value> = findings(r)
        .iter()
        .filter_map(|f| f["fingerprint"].as_str().map(|fp| (fp, f)))
        .collect();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![f];
    while let Some(n) = stack.pop() {
        let fp = n["fingerprint"].as_str().unwrap_or("");
        if !seen.insert(fp) {
            continue;
        }
        let causes = n["caused_by"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if causes.is_empty() {
            out.push(n);
        }
        for c in causes {
            if let Some(x) = c.as_str().and_then(|c| by_fp.get(c)) {
                stack.push(x);
            }
        }
    }
    out
}

/// The report in a few lines: every finding with its root flag, causes and title.
pub(crate) fn summarize(r: &Value) -> String {
    let by_fp: HashMap<&str, String> = findings(r)
        .iter()
        .filter_map(|f| f["fingerprint"].as_str().map(|fp| (fp, label(f))))
        .collect();
    let mut out = String::new();
    for f in findings(r) {
        let causes: Vec<String> = f["caused_by"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|c| {
                c.as_str()
                    .and_then(|c| by_fp.get(c))
                    .cloned()
                    .unwrap_or_else(|| format!("{c} (not in report)"))
            })
            .collect();
        out.push_str(&format!(
            "  [{}] {}{}{}\n      {}\n",
            f["severity"].as_str().unwrap_or("?"),
            label(f),
            if is_root(f) { "  ROOT" } else { "" },
            if causes.is_empty() {
                String::new()
            } else {
                format!("  <- {}", causes.join(", "))
            },
            f["title"].as_str().unwrap_or("")
        ));
    }
    if out.is_empty() {
        out.push_str("  (no findings)\n");
    }
    if let Some(sk) = r["skipped"].as_array().filter(|s| !s.is_empty()) {
        let apis: Vec<&str> = sk.iter().filter_map(|s| s["api"].as_str()).collect();
        out.push_str(&format!("  skipped: {}\n", apis.join(", ")));
    }
    out
}

/// Everything wrong with a report against the expectation (empty when it holds).
pub(crate) fn mismatches(r: &Value, s: &Scenario) -> Vec<String> {
    let ns = s.name.as_str();
    let exp = &s.expected;
    let mut errs = Vec::new();
    let roots = scenario_roots(r, s);
    for f in &roots {
        if !exp.root_causes.iter().any(|m| m.matches(f, ns)) {
            errs.push(format!("unexpected root cause: {}", label(f)));
        }
    }
    for m in &exp.root_causes {
        // One root cause per broken thing: the pods of one workload are one finding.
        let same: Vec<String> = roots
            .iter()
            .filter(|f| m.matches(f, ns))
            .map(|f| label(f))
            .collect();
        if same.len() > 1 {
            errs.push(format!(
                "{} root causes for {}, expected one: {}",
                same.len(),
                m.display(),
                same.join(", ")
            ));
        }
        for f in roots.iter().filter(|f| m.matches(f, ns)) {
            if f["id"].as_str().is_some_and(|id| id.starts_with("pod."))
                && f["object"]["kind"] != "Pod"
                && f["instances"].as_array().is_none_or(Vec::is_empty)
            {
                errs.push(format!("{} names no pod among its instances", label(f)));
            }
        }
        if !roots.iter().any(|f| m.matches(f, ns)) {
            let present: Vec<String> = findings(r)
                .iter()
                .filter(|f| m.matches(f, ns))
                .map(label)
                .collect();
            errs.push(if present.is_empty() {
                format!("missing root cause: {}", m.display())
            } else {
                format!(
                    "expected root cause {} is present but not a root cause ({})",
                    m.display(),
                    present.join(", ")
                )
            });
        }
    }
    for sym in &exp.symptoms {
        let m = sym.matcher();
        let found: Vec<&Value> = findings(r).iter().filter(|f| m.matches(f, ns)).collect();
        if found.is_empty() {
            errs.push(format!("missing symptom: {}", m.display()));
        }
        for f in found {
            if is_root(f) {
                errs.push(format!(
                    "symptom {} is a root cause (expected it to trace back to {})",
                    label(f),
                    sym.root
                ));
                continue;
            }
            let rs = roots_of(r, f);
            if !rs.iter().any(|x| x["id"] == sym.root.as_str()) {
                let names: Vec<String> = rs.iter().map(|x| label(x)).collect();
                errs.push(format!(
                    "symptom {} traces back to [{}], not to {}",
                    label(f),
                    names.join(", "),
                    sym.root
                ));
            }
        }
    }
    for m in &exp.absent {
        for f in findings(r).iter().filter(|f| m.matches(f, ns)) {
            errs.push(format!(
                "{} must not be reported: {}",
                label(f),
                f["title"].as_str().unwrap_or("")
            ));
        }
    }
    // Nothing in the namespace may trace back to a root cause the scenario does not expect
    // (another scenario's node or webhook, say).
    for f in findings(r).iter().filter(|f| in_namespace(f, ns)) {
        for x in roots_of(r, f) {
            if !exp.root_causes.iter().any(|m| m.matches(x, ns)) && !roots.contains(&x) {
                errs.push(format!(
                    "{} traces back to {}, which the scenario does not expect",
                    label(f),
                    label(x)
                ));
            }
        }
    }
    errs.sort();
    errs.dedup();
    errs
}
