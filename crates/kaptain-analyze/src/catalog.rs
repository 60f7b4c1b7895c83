use std::sync::OnceLock;

use kaptain_model::Category;

use crate::check::Check;

/// Every check Kaptain has, in a stable order (by domain, then as declared).
pub fn catalog() -> &'static [Check] {
    static ALL: OnceLock<Vec<Check>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        v.extend(crate::pod::checks());
        v.extend(crate::workload::checks());
        v.extend(crate::job::checks());
        v.extend(crate::autoscaling::checks());
        v.extend(crate::service::checks());
        v.extend(crate::ingress::checks());
        v.extend(crate::storage::checks());
        v.extend(crate::node::checks());
        v.extend(crate::policy::checks());
        v.extend(crate::network::checks());
        v.extend(crate::webhook::checks());
        v.extend(crate::configmap::checks());
        v.extend(crate::certificate::checks());
        v.extend(crate::events::checks());
        v
    })
}

/// Which checks to run: ids, id prefixes (`pod`, `pod.crash-loop`) or categories (`network`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
}

/// The checks a selection picks; errors name a token that matches nothing.
pub fn select(sel: &Selection) -> Result<Vec<&'static Check>, String> {
    let all = catalog();
    if sel.only.is_empty() {
        return Ok(all.iter().collect());
    }
    let mut picked: Vec<&'static Check> = Vec::new();
    for tok in &sel.only {
        let tok = tok.trim();
        if tok.is_empty() {
            continue;
        }
        let cat = tok.parse::<Category>().ok();
        let matched: Vec<&'static Check> = all
            .iter()
            .filter(|c| {
                c.info.id == tok
                    || c.info.id.split('.').next() == Some(tok)
                    || c.info.id.starts_with(&format!("{tok}."))
                    || Some(c.info.category) == cat
            })
            .collect();
        if matched.is_empty() {
            return Err(format!(
                "--only {tok:?} matches no check id, domain or category (see `kaptain checks`)"
            ));
        }
        for m in matched {
            if !picked.iter().any(|p| p.info.id == m.info.id) {
                picked.push(m);
            }
        }
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_dotted_and_described() {
        let mut ids: Vec<&str> = catalog().iter().map(|c| c.info.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate check ids");
        for c in catalog() {
            assert!(c.info.id.contains('.'), "{} is not dotted", c.info.id);
            assert!(
                !c.info.description.is_empty(),
                "{} has no description",
                c.info.id
            );
            assert!(!c.info.needs.is_empty(), "{} needs no kinds", c.info.id);
        }
    }

    #[test]
    fn selection_by_id_prefix_and_category() {
        let by_prefix = select(&Selection {
            only: vec!["pod".into()],
        })
        .expect("pod");
        assert!(!by_prefix.is_empty() && by_prefix.iter().all(|c| c.info.id.starts_with("pod.")));
        let by_cat = select(&Selection {
            only: vec!["network".into()],
        })
        .expect("network");
        assert!(by_cat.iter().all(|c| c.info.category == Category::Network));
        assert!(
            select(&Selection {
                only: vec!["nope".into()]
            })
            .is_err()
        );
    }
}
