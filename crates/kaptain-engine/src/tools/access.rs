//! Who calls a tool, and where they may look and act.

/// What a caller may do: a viewer runs read-only tools; an operator may also propose actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
}

/// One place a caller may see: a whole cluster, or one namespace of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub cluster: String,
    /// `None`: every namespace and the cluster-scoped objects.
    pub namespace: Option<String>,
}

/// The identity, role and scopes a tool runs with. `grants` empty means everywhere (the
/// semantics of the server's token scopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who, for audit records and the `proposed-by` annotation: `token:ci`, `oidc:alice`,
    /// `kubeconfig:prod`.
    pub actor: String,
    pub role: Role,
    pub grants: Vec<Grant>,
}

impl Caller {
    /// A caller that may see everything (e.g. `kaptain mcp`, which runs with the kubeconfig's
    /// own rights: the API server limits it, not Kaptain).
    pub fn unrestricted(actor: impl Into<String>, role: Role) -> Caller {
        Caller {
            actor: actor.into(),
            role,
            grants: Vec::new(),
        }
    }

    pub fn may_propose(&self) -> bool {
        self.role >= Role::Operator
    }

    /// Whether the scopes cover `cluster` and, when given, `namespace`. Without a namespace
    /// (a cluster-scoped object, a whole-cluster view), only a whole-cluster grant does.
    pub fn covers(&self, cluster: &str, namespace: Option<&str>) -> bool {
        self.grants.is_empty()
            || self.grants.iter().any(|g| {
                g.cluster == cluster
                    && match (&g.namespace, namespace) {
                        (None, _) => true,
                        (Some(gns), Some(ns)) => gns == ns,
                        (Some(_), None) => false,
                    }
            })
    }

    /// Whether any grant names `cluster` (the caller may know it exists).
    pub fn touches(&self, cluster: &str) -> bool {
        self.grants.is_empty() || self.grants.iter().any(|g| g.cluster == cluster)
    }

    /// The namespaces of `cluster` the caller is limited to; `None` for all of them.
    pub fn namespaces(&self, cluster: &str) -> Option<Vec<&str>> {
        if self.covers(cluster, None) {
            return None;
        }
        Some(
            self.grants
                .iter()
                .filter(|g| g.cluster == cluster)
                .filter_map(|g| g.namespace.as_deref())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(c: &str, ns: Option<&str>) -> Grant {
        Grant {
            cluster: c.into(),
            namespace: ns.map(str::to_string),
        }
    }

    #[test]
    fn grants_cover_clusters_and_namespaces() {
        let c = Caller {
            actor: "t".into(),
            role: Role::Viewer,
            grants: vec![grant("a", None), grant("b", Some("shop"))],
        };
        assert!(c.covers("a", None) && c.covers("a", Some("x")));
        assert!(!c.covers("b", None));
        assert!(c.covers("b", Some("shop")) && !c.covers("b", Some("other")));
        assert!(!c.covers("c", Some("shop")) && !c.touches("c"));
        assert_eq!(c.namespaces("b"), Some(vec!["shop"]));
        assert_eq!(c.namespaces("a"), None);
        assert!(!c.may_propose());
        assert!(Caller::unrestricted("x", Role::Operator).covers("any", None));
    }
}
