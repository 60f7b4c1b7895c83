//! A [`ToolHost`] over files, for the tools' unit tests: the example broken shop (plus what a
//! test adds), analyzed as of its capture time, with policies and HealingActions in memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use kaptain_heal::crd::{HealingAction, Policy};
use kaptain_index::{AnyObject, ClusterIndex, Kind};
use kaptain_model::{Report, ReportSource, SourceKind};
use kaptain_sources::offline;

use super::error::ToolError;
use super::host::{ClusterFacts, HealPlan, ToolHost};

pub const CLUSTER: &str = "shop-fixture";

pub struct FixtureHost {
    pub index: Arc<ClusterIndex>,
    pub report: Arc<Report>,
    pub now: Timestamp,
    pub policies: Vec<Policy>,
    pub actions: Mutex<Vec<Arc<HealingAction>>>,
}

impl FixtureHost {
    /// The broken shop plus `extra` objects (JSON with apiVersion and kind).
    pub fn shop(extra: Vec<serde_json::Value>) -> FixtureHost {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
        let loaded = offline::load_paths(&[dir]).expect("the example loads");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let mut objects = loaded.objects;
        for v in extra {
            let kind = Kind::parse(v["kind"].as_str().expect("kind")).expect("known kind");
            objects.push(AnyObject::from_value(kind, v).expect("a valid object"));
        }
        let index = ClusterIndex::build(objects, &loaded.declared_kinds);
        let now = loaded.info.captured_at.expect("capture time");
        let checks = kaptain_analyze::select(&Default::default()).expect("all checks");
        let findings = kaptain_analyze::analyze(&index, &checks, now);
        let report = Report::new(
            ReportSource {
                kind: SourceKind::Snapshot,
                context: Some(CLUSTER.into()),
                server_version: None,
            },
            Vec::new(),
            findings,
        );
        FixtureHost {
            index: Arc::new(index),
            report: Arc::new(report),
            now,
            policies: Vec::new(),
            actions: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl ToolHost for FixtureHost {
    fn clusters(&self) -> Vec<ClusterFacts> {
        vec![ClusterFacts {
            name: CLUSTER.into(),
            status: "ready".into(),
            server_version: None,
            data_as_of: Some(self.now.to_string()),
            objects: 0,
            nodes: self.index.count(Kind::Node),
            namespaces: self.index.count(Kind::Namespace),
            pods: self.index.count(Kind::Pod),
            skipped: Vec::new(),
            healing_installed: true,
        }]
    }

    fn index(&self, cluster: &str) -> Option<Arc<ClusterIndex>> {
        (cluster == CLUSTER).then(|| self.index.clone())
    }

    fn report(&self, cluster: &str) -> Option<Arc<Report>> {
        (cluster == CLUSTER).then(|| self.report.clone())
    }

    fn healing_actions(&self, cluster: &str) -> Option<Vec<Arc<HealingAction>>> {
        (cluster == CLUSTER).then(|| self.actions.lock().unwrap().clone())
    }

    fn client(&self, _cluster: &str) -> Option<kube::Client> {
        None
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    async fn heal_plan(&self, _cluster: &str, _ns: Option<&str>) -> Result<HealPlan, ToolError> {
        Ok(HealPlan::default())
    }

    async fn policies(&self, _cluster: &str) -> Result<Vec<Policy>, ToolError> {
        Ok(self.policies.clone())
    }

    async fn submit(&self, _cluster: &str, a: &HealingAction) -> Result<HealingAction, ToolError> {
        self.actions.lock().unwrap().push(Arc::new(a.clone()));
        Ok(a.clone())
    }
}
