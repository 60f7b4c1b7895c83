use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::Metadata;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kaptain_model::ObjectRef;

use crate::kinds::{AnyObject, Kind, Tables};
use crate::refs::{self, Reference};
use crate::selector::Requirement;

/// `(kind, namespace or "", name)`: the identity of an object inside one index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        ObjKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub fn to_ref(&self) -> ObjectRef {
        ObjectRef::new(
            &self.kind.api_version(),
            self.kind.name(),
            (!self.namespace.is_empty()).then_some(self.namespace.as_str()),
            &self.name,
        )
    }
}

/// Objects of one kind, addressable by namespace and name. A table owns its objects (a
/// LIST's vector is taken as it is) or shares them with a long-lived owner — the reflectors
/// of [`crate::watch`] — so that an index of a watched cluster copies no object.
#[derive(Debug, Clone)]
pub struct Table<K> {
    items: Items<K>,
    by_name: HashMap<(String, String), usize>,
}

#[derive(Debug, Clone)]
enum Items<K> {
    Owned(Vec<K>),
    Shared(Vec<Arc<K>>),
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            items: Items::Owned(Vec::new()),
            by_name: HashMap::new(),
        }
    }
}

/// The objects of a [`Table`], in insertion order.
#[derive(Debug, Clone)]
pub enum Iter<'a, K> {
    Owned(std::slice::Iter<'a, K>),
    Shared(std::slice::Iter<'a, Arc<K>>),
}

impl<'a, K> Iterator for Iter<'a, K> {
    type Item = &'a K;

    fn next(&mut self) -> Option<&'a K> {
        match self {
            Iter::Owned(i) => i.next(),
            Iter::Shared(i) => i.next().map(|o| &**o),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Owned(i) => i.size_hint(),
            Iter::Shared(i) => i.size_hint(),
        }
    }
}

impl<K> DoubleEndedIterator for Iter<'_, K> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Owned(i) => i.next_back(),
            Iter::Shared(i) => i.next_back().map(|o| &**o),
        }
    }
}

impl<K> ExactSizeIterator for Iter<'_, K> {}

fn key_of<K: Metadata<Ty = ObjectMeta>>(obj: &K) -> (String, String) {
    let m = obj.metadata();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

impl<K: Metadata<Ty = ObjectMeta>> Table<K> {
    /// Inserts or replaces (same namespace and name) an object.
    pub fn insert(&mut self, obj: K) {
        let key = key_of(&obj);
        let slot = self.by_name.get(&key).copied();
        match &mut self.items {
            Items::Owned(v) => match slot {
                Some(i) => v[i] = obj,
                None => {
                    self.by_name.insert(key, v.len());
                    v.push(obj);
                }
            },
            Items::Shared(v) => match slot {
                Some(i) => v[i] = Arc::new(obj),
                None => {
                    self.by_name.insert(key, v.len());
                    v.push(Arc::new(obj));
                }
            },
        }
    }

    /// Inserts or replaces an object without copying it: the table shares it with its owner.
    /// (A table that owned objects so far moves them behind `Arc`s first.)
    pub fn insert_shared(&mut self, obj: Arc<K>) {
        if let Items::Owned(v) = &mut self.items {
            self.items = Items::Shared(std::mem::take(v).into_iter().map(Arc::new).collect());
        }
        let key = key_of(obj.as_ref());
        let slot = self.by_name.get(&key).copied();
        if let Items::Shared(v) = &mut self.items {
            match slot {
                Some(i) => v[i] = obj,
                None => {
                    self.by_name.insert(key, v.len());
                    v.push(obj);
                }
            }
        }
    }

    /// Inserts many objects; into an empty table the vector is taken as it is.
    pub fn extend(&mut self, objs: Vec<K>) {
        if !self.is_empty() || matches!(self.items, Items::Shared(_)) {
            objs.into_iter().for_each(|o| self.insert(o));
            return;
        }
        self.by_name.reserve(objs.len());
        for (i, o) in objs.iter().enumerate() {
            if self.by_name.insert(key_of(o), i).is_some() {
                // The same name twice: let insert() keep the later one.
                self.by_name.clear();
                objs.into_iter().for_each(|o| self.insert(o));
                return;
            }
        }
        self.items = Items::Owned(objs);
    }

    /// Inserts many shared objects; into an empty table the vector is taken as it is (a
    /// live LIST parses each object into its own `Arc`).
    pub fn extend_shared(&mut self, objs: Vec<Arc<K>>) {
        if self.is_empty() {
            self.by_name.reserve(objs.len());
            let unique = objs
                .iter()
                .enumerate()
                .all(|(i, o)| self.by_name.insert(key_of(&**o), i).is_none());
            if unique {
                self.items = Items::Shared(objs);
                return;
            }
            // The same name twice: let insert_shared() keep the later one.
            self.by_name.clear();
        }
        objs.into_iter().for_each(|o| self.insert_shared(o));
    }

    /// Looks an object up; `namespace` is `""` for cluster-scoped kinds.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&K> {
        self.by_name
            .get(&(namespace.to_string(), name.to_string()))
            .and_then(|&i| self.nth(i))
    }

    /// The `i`-th object inserted (replacements keep their place).
    pub fn nth(&self, i: usize) -> Option<&K> {
        match &self.items {
            Items::Owned(v) => v.get(i),
            Items::Shared(v) => v.get(i).map(|o| &**o),
        }
    }

    pub fn iter(&self) -> Iter<'_, K> {
        match &self.items {
            Items::Owned(v) => Iter::Owned(v.iter()),
            Items::Shared(v) => Iter::Shared(v.iter()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.items {
            Items::Owned(v) => v.len(),
            Items::Shared(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn in_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a K> + 'a {
        self.iter()
            .filter(move |o| o.metadata().namespace.as_deref() == Some(ns))
    }
}

/// Everything one scan knows about a cluster, with the relations analyzers ask about.
/// Built once; read-only afterwards. Analyzers never call the API themselves.
#[derive(Debug, Default, Clone)]
pub struct ClusterIndex {
    pub objects: Tables,
    /// Kinds this index was filled with (even if no object of the kind exists). A check that
    /// reasons about absence (a missing ConfigMap) must only do so for loaded kinds.
    loaded: HashSet<Kind>,
    /// Events by the object they are about.
    events_by_object: HashMap<ObjKey, Vec<usize>>,
    /// Children by controller owner (Deployment → ReplicaSets, ReplicaSet → Pods, ...).
    children: HashMap<ObjKey, Vec<ObjKey>>,
    /// Pod indexes by node name.
    pods_by_node: HashMap<String, Vec<usize>>,
    /// Pod indexes by (namespace, label key, label value), for selector matching.
    pods_by_label: HashMap<(String, String, String), Vec<usize>>,
    pods_by_namespace: HashMap<String, Vec<usize>>,
    references: Vec<Reference>,
    /// References by target (kind, namespace, name).
    refs_by_target: HashMap<ObjKey, Vec<usize>>,
}

impl ClusterIndex {
    /// Builds an index from objects. `loaded` lists the kinds that were collected; kinds of
    /// the objects themselves are always added.
    pub fn build(objects: impl IntoIterator<Item = AnyObject>, loaded: &[Kind]) -> ClusterIndex {
        let mut idx = ClusterIndex::default();
        idx.loaded.extend(loaded.iter().copied());
        for o in objects {
            idx.loaded.insert(o.kind());
            idx.objects.insert(o);
        }
        idx.derive();
        idx
    }

    /// Builds an index from tables filled by a live scan.
    pub fn from_tables(objects: Tables, loaded: &[Kind]) -> ClusterIndex {
        let mut idx = ClusterIndex {
            objects,
            ..ClusterIndex::default()
        };
        idx.loaded.extend(loaded.iter().copied());
        idx.derive();
        idx
    }

    /// Whether objects of `kind` were collected (so their absence means something).
    pub fn has(&self, kind: Kind) -> bool {
        self.loaded.contains(&kind)
    }

    pub fn loaded_kinds(&self) -> Vec<Kind> {
        let mut v: Vec<Kind> = self.loaded.iter().copied().collect();
        v.sort();
        v
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.objects.len_of(kind)
    }

    fn derive(&mut self) {
        let s = &self.objects;
        for (i, e) in s.events.iter().enumerate() {
            if let Some(key) = event_target(e) {
                self.events_by_object.entry(key).or_default().push(i);
            }
        }
        // Keep each object's events in time order (oldest first).
        for v in self.events_by_object.values_mut() {
            v.sort_by_key(|&i| s.events.nth(i).and_then(event_time));
        }

        macro_rules! owned {
            ($store:expr, $kind:expr) => {
                for o in $store.iter() {
                    let m = o.metadata();
                    let ns = m.namespace.as_deref().unwrap_or("");
                    let name = m.name.as_deref().unwrap_or("");
                    for r in m.owner_references.iter().flatten() {
                        if r.controller != Some(true) {
                            continue;
                        }
                        if let Some(k) = Kind::parse(&r.kind) {
                            let owner =
                                ObjKey::new(k, if k.namespaced() { ns } else { "" }, &r.name);
                            self.children
                                .entry(owner)
                                .or_default()
                                .push(ObjKey::new($kind, ns, name));
                        }
                    }
                }
            };
        }
        owned!(s.pods, Kind::Pod);
        owned!(s.replicasets, Kind::ReplicaSet);
        owned!(s.jobs, Kind::Job);
        owned!(s.pvcs, Kind::PersistentVolumeClaim);

        for (i, p) in s.pods.iter().enumerate() {
            let m = &p.metadata;
            let ns = m.namespace.clone().unwrap_or_default();
            if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) {
                self.pods_by_node.entry(node).or_default().push(i);
            }
            for (k, v) in m.labels.iter().flatten() {
                self.pods_by_label
                    .entry((ns.clone(), k.clone(), v.clone()))
                    .or_default()
                    .push(i);
            }
            self.pods_by_namespace.entry(ns).or_default().push(i);
        }

        self.references = refs::collect(self);
        for (i, r) in self.references.iter().enumerate() {
            self.refs_by_target
                .entry(r.target.clone())
                .or_default()
                .push(i);
        }
    }

    /// Events about an object, oldest first.
    pub fn events_for(&self, kind: Kind, namespace: &str, name: &str) -> Vec<&Event> {
        let all = &self.objects.events;
        self.events_by_object
            .get(&ObjKey::new(kind, namespace, name))
            .map(|v| v.iter().filter_map(|&i| all.nth(i)).collect())
            .unwrap_or_default()
    }

    /// Objects whose controller owner is the given object.
    pub fn children_of(&self, kind: Kind, namespace: &str, name: &str) -> &[ObjKey] {
        self.children
            .get(&ObjKey::new(kind, namespace, name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The controller owner of an object, as named in its ownerReferences.
    pub fn controller_of(meta: &ObjectMeta) -> Option<ObjKey> {
        let ns = meta.namespace.as_deref().unwrap_or("");
        meta.owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
            .map(|r| {
                let kind = Kind::parse(&r.kind);
                match kind {
                    Some(k) => ObjKey::new(k, if k.namespaced() { ns } else { "" }, &r.name),
                    // Unknown owner kinds (CRDs) are still reported by name under Pod's namespace.
                    None => ObjKey::new(Kind::Pod, ns, &r.name),
                }
            })
    }

    /// The top-level workload a pod belongs to: Pod → ReplicaSet → Deployment, Pod → Job →
    /// CronJob, Pod → StatefulSet/DaemonSet. A bare pod is its own workload.
    pub fn workload_of_pod(&self, pod: &Pod) -> ObjKey {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let mut key = ObjKey::new(Kind::Pod, ns, pod.metadata.name.as_deref().unwrap_or(""));
        let mut meta = Some(&pod.metadata);
        while let Some(m) = meta {
            let Some(owner) = m
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
            else {
                break;
            };
            let Some(kind) = Kind::parse(&owner.kind) else {
                break;
            };
            key = ObjKey::new(kind, ns, &owner.name);
            meta = match kind {
                Kind::ReplicaSet => self
                    .objects
                    .replicasets
                    .get(ns, &owner.name)
                    .map(|o| &o.metadata),
                Kind::Job => self.objects.jobs.get(ns, &owner.name).map(|o| &o.metadata),
                _ => None,
            };
            if meta.is_none() && kind == Kind::ReplicaSet {
                // The ReplicaSet itself was not collected: a pod name hash suffix hints at a
                // Deployment, but we only claim what we can see.
                break;
            }
        }
        key
    }

    /// Pods owned (directly or through ReplicaSets/Jobs) by a workload.
    pub fn pods_of(&self, kind: Kind, namespace: &str, name: &str) -> Vec<&Pod> {
        let mut out = Vec::new();
        let mut stack = vec![ObjKey::new(kind, namespace, name)];
        while let Some(k) = stack.pop() {
            for c in self.children_of(k.kind, &k.namespace, &k.name) {
                if c.kind == Kind::Pod {
                    if let Some(p) = self.objects.pods.get(&c.namespace, &c.name) {
                        out.push(p);
                    }
                } else {
                    stack.push(c.clone());
                }
            }
        }
        out
    }

    pub fn pods_on_node(&self, node: &str) -> Vec<&Pod> {
        let all = &self.objects.pods;
        self.pods_by_node
            .get(node)
            .map(|v| v.iter().filter_map(|&i| all.nth(i)).collect())
            .unwrap_or_default()
    }

    /// Pods in `namespace` whose labels include every pair of `selector`. An empty selector
    /// matches nothing here (callers decide what an empty selector means for their kind).
    pub fn pods_matching_labels(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<&Pod> {
        let all = &self.objects.pods;
        if selector.is_empty() {
            return Vec::new();
        }
        // Start from the smallest posting list, then filter.
        let mut best: Option<&Vec<usize>> = None;
        for (k, v) in selector {
            match self
                .pods_by_label
                .get(&(namespace.to_string(), k.clone(), v.clone()))
            {
                None => return Vec::new(),
                Some(list) => {
                    if best.is_none_or(|b| list.len() < b.len()) {
                        best = Some(list);
                    }
                }
            }
        }
        best.map(|list| {
            list.iter()
                .filter_map(|&i| all.nth(i))
                .filter(|p| labels_match(p.metadata.labels.as_ref(), selector))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Pods in `namespace` matched by a full LabelSelector (matchLabels and matchExpressions).
    /// An empty selector (`{}`) matches every pod of the namespace.
    pub fn pods_matching_selector(&self, namespace: &str, sel: &LabelSelector) -> Vec<&Pod> {
        let all = &self.objects.pods;
        let ml = sel.match_labels.clone().unwrap_or_default();
        let candidates: Vec<&Pod> = if ml.is_empty() {
            self.pods_by_namespace
                .get(namespace)
                .map(|v| v.iter().filter_map(|&i| all.nth(i)).collect())
                .unwrap_or_default()
        } else {
            self.pods_matching_labels(namespace, &ml)
        };
        candidates
            .into_iter()
            .filter(|p| selector_matches(sel, p.metadata.labels.as_ref()))
            .collect()
    }

    /// Every reference from a workload or pod to a ConfigMap, Secret, PVC or ServiceAccount.
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// References to one target object.
    pub fn references_to(&self, kind: Kind, namespace: &str, name: &str) -> Vec<&Reference> {
        self.refs_by_target
            .get(&ObjKey::new(kind, namespace, name))
            .map(|v| v.iter().map(|&i| &self.references[i]).collect())
            .unwrap_or_default()
    }

    /// Whether an object of a kind exists (only meaningful when `has(kind)`).
    pub fn exists(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        let s = &self.objects;
        match kind {
            Kind::ConfigMap => s.configmaps.get(namespace, name).is_some(),
            Kind::Secret => s.secrets.get(namespace, name).is_some(),
            Kind::PersistentVolumeClaim => s.pvcs.get(namespace, name).is_some(),
            Kind::ServiceAccount => s.serviceaccounts.get(namespace, name).is_some(),
            Kind::Service => s.services.get(namespace, name).is_some(),
            Kind::Pod => s.pods.get(namespace, name).is_some(),
            Kind::Node => s.nodes.get("", name).is_some(),
            Kind::Deployment => s.deployments.get(namespace, name).is_some(),
            Kind::StatefulSet => s.statefulsets.get(namespace, name).is_some(),
            Kind::ReplicaSet => s.replicasets.get(namespace, name).is_some(),
            Kind::DaemonSet => s.daemonsets.get(namespace, name).is_some(),
            Kind::Job => s.jobs.get(namespace, name).is_some(),
            Kind::CronJob => s.cronjobs.get(namespace, name).is_some(),
            Kind::StorageClass => s.storageclasses.get("", name).is_some(),
            Kind::IngressClass => s.ingressclasses.get("", name).is_some(),
            Kind::PersistentVolume => s.pvs.get("", name).is_some(),
            Kind::Namespace => s.namespaces.get("", name).is_some(),
            _ => false,
        }
    }
}

/// Whether every pair of `selector` is among `labels`.
pub fn labels_match(
    labels: Option<&BTreeMap<String, String>>,
    selector: &BTreeMap<String, String>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| Requirement::Eq(k, v).holds(labels))
}

/// Full LabelSelector semantics (matchLabels AND every matchExpression).
pub fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    sel.match_labels
        .as_ref()
        .is_none_or(|ml| labels_match(labels, ml))
        && sel
            .match_expressions
            .iter()
            .flatten()
            .all(|e| Requirement::of_expression(e).holds(labels))
}

fn event_target(e: &Event) -> Option<ObjKey> {
    let o = &e.involved_object;
    let kind = Kind::parse(o.kind.as_deref()?)?;
    let ns = if kind.namespaced() {
        o.namespace
            .clone()
            .or_else(|| e.metadata.namespace.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Some(ObjKey {
        kind,
        namespace: ns,
        name: o.name.clone()?,
    })
}

/// The best time an event carries: series.lastObservedTime (events.k8s.io-style series that
/// newer schedulers write), lastTimestamp, eventTime, firstTimestamp, creation.
pub fn event_time(e: &Event) -> Option<jiff::Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str, v: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some([("v".to_string(), v.to_string())].into()),
            ..ConfigMap::default()
        }
    }

    fn values(s: &Table<ConfigMap>) -> Vec<String> {
        s.iter()
            .map(|c| {
                c.data
                    .as_ref()
                    .and_then(|d| d.get("v"))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn owned_and_shared_tables_answer_alike() {
        let mut owned = Table::default();
        owned.extend(vec![cm("a", "x", "1"), cm("a", "y", "2")]);
        owned.insert(cm("a", "x", "3"));
        owned.insert(cm("b", "x", "4"));
        let mut shared = Table::default();
        for c in [cm("a", "x", "1"), cm("a", "y", "2")] {
            shared.insert_shared(Arc::new(c));
        }
        shared.insert_shared(Arc::new(cm("a", "x", "3")));
        shared.insert(cm("b", "x", "4"));
        for s in [&owned, &shared] {
            assert_eq!(
                values(s),
                vec!["3", "2", "4"],
                "replacements keep their place"
            );
            assert_eq!(s.len(), 3);
            assert_eq!(s.iter().len(), 3);
            assert_eq!(
                s.iter()
                    .rev()
                    .filter_map(|c| c.metadata.name.clone())
                    .collect::<Vec<_>>(),
                vec!["x", "y", "x"]
            );
            assert_eq!(s.get("a", "y").map(values_of), Some("2".into()));
            assert!(s.get("b", "y").is_none());
            assert_eq!(s.nth(2).map(values_of), Some("4".into()));
            assert!(s.nth(3).is_none());
            assert_eq!(s.in_namespace("a").count(), 2);
        }
    }

    fn values_of(c: &ConfigMap) -> String {
        c.data
            .as_ref()
            .and_then(|d| d.get("v"))
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn a_shared_table_copies_nothing_and_an_owned_one_turns_shared() {
        let one = Arc::new(cm("a", "x", "1"));
        let mut s = Table::default();
        s.insert_shared(one.clone());
        assert!(std::ptr::eq(s.get("a", "x").expect("x"), one.as_ref()));
        assert_eq!(Arc::strong_count(&one), 2);
        let mut owned = Table::default();
        owned.extend(vec![cm("a", "y", "2")]);
        owned.insert_shared(one.clone());
        assert_eq!(values(&owned), vec!["2", "1"]);
        assert!(std::ptr::eq(owned.get("a", "x").expect("x"), one.as_ref()));
        // extend() on a shared table inserts one by one.
        owned.extend(vec![cm("a", "y", "5"), cm("a", "z", "6")]);
        assert_eq!(values(&owned), vec!["5", "1", "6"]);
    }

    #[test]
    fn extend_shared_takes_the_vector_and_keeps_the_later_of_a_name_given_twice() {
        let listed = vec![Arc::new(cm("a", "x", "1")), Arc::new(cm("a", "y", "2"))];
        let first = listed[0].clone();
        let mut s = Table::default();
        s.extend_shared(listed);
        assert_eq!(values(&s), vec!["1", "2"]);
        assert!(std::ptr::eq(s.get("a", "x").expect("x"), first.as_ref()));
        // Into a table that has objects: inserted one by one, replacing by name.
        s.extend_shared(vec![
            Arc::new(cm("a", "y", "3")),
            Arc::new(cm("b", "y", "4")),
        ]);
        assert_eq!(values(&s), vec!["1", "3", "4"]);
        assert_eq!(s.get("b", "y").map(values_of), Some("4".into()));
        // The same name twice in one listing: the later one wins, every name findable.
        let mut dup = Table::default();
        dup.extend_shared(vec![
            Arc::new(cm("a", "x", "1")),
            Arc::new(cm("a", "z", "2")),
            Arc::new(cm("a", "x", "3")),
        ]);
        assert_eq!(values(&dup), vec!["3", "2"]);
        assert_eq!(dup.get("a", "z").map(values_of), Some("2".into()));
        assert_eq!(dup.len(), 2);
    }
}
