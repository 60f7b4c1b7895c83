//! The root-cause tree: each root cause with the symptoms that trace back to it.

use std::collections::{HashMap, HashSet};

use kaptain_model::Finding;

/// A root cause and its symptoms, depth-first, with their depth below the root (1 = direct).
pub struct Group<'a> {
    pub root: &'a Finding,
    pub symptoms: Vec<(usize, &'a Finding)>,
}

/// Groups findings under their root causes: most severe first, then most symptoms first.
pub fn groups(findings: &[Finding]) -> Vec<Group<'_>> {
    let mut children: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for f in findings {
        for c in &f.caused_by {
            children.entry(c.as_str()).or_default().push(f);
        }
    }
    let mut out: Vec<Group> = findings
        .iter()
        .filter(|f| f.root_cause)
        .map(|root| {
            let mut symptoms = Vec::new();
            let mut seen = HashSet::new();
            seen.insert(root.fingerprint.as_str());
            walk(root, 1, &children, &mut seen, &mut symptoms);
            Group { root, symptoms }
        })
        .collect();
    // The worst thing a root cause leads to ranks it, then how much it breaks.
    let worst = |g: &Group| {
        g.symptoms
            .iter()
            .map(|(_, s)| s.severity)
            .chain([g.root.urgency()])
            .max()
    };
    out.sort_by(|a, b| {
        worst(b)
            .cmp(&worst(a))
            .then(b.root.severity.cmp(&a.root.severity))
            .then(b.symptoms.len().cmp(&a.symptoms.len()))
            .then(a.root.object.cmp(&b.root.object))
    });
    out
}

fn walk<'a>(
    f: &'a Finding,
    depth: usize,
    children: &HashMap<&str, Vec<&'a Finding>>,
    seen: &mut HashSet<&'a str>,
    out: &mut Vec<(usize, &'a Finding)>,
) {
    let Some(kids) = children.get(f.fingerprint.as_str()) else {
        return;
    };
    let mut kids = kids.clone();
    kids.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.object.cmp(&b.object)));
    for k in kids {
        if seen.insert(k.fingerprint.as_str()) {
            out.push((depth, k));
            walk(k, depth + 1, children, seen, out);
        }
    }
}
