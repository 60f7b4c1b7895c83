use crate::testutil::{index, run};
use crate::util::parse_quantity;
use kaptain_model::{Category, Severity};

#[test]
fn quantities_parse_to_base_units() {
    let cases: &[(&str, f64)] = &[
        ("100m", 0.1),
        ("0.5", 0.5),
        ("1", 1.0),
        ("128Mi", 128.0 * 1024.0 * 1024.0),
        ("1Gi", 1024.0 * 1024.0 * 1024.0),
        ("1G", 1e9),
        ("500M", 5e8),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2E", 2e18),
        ("5e-1", 0.5),
        ("1Ki", 1024.0),
        ("1k", 1000.0),
        ("250u", 250e-6),
        (".5", 0.5),
        ("+2", 2.0),
        (" 3 ", 3.0),
    ];
    for (s, want) in cases {
        let got = parse_quantity(s).unwrap_or_else(|| panic!("{s} did not parse"));
        assert!(
            (got - want).abs() <= want.abs() * 1e-12,
            "{s}: got {got}, want {want}"
        );
    }
    for bad in ["", "Mi", "1.2.3", "1Qi", "abc", "1e", "1ee3", "1 Gi", "."] {
        assert_eq!(parse_quantity(bad), None, "{bad:?} should not parse");
    }
}

fn node(name: &str, conditions: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Node
metadata: {{name: {name}, creationTimestamp: "2025-12-01T00:00:00Z"}}
spec: {{{extra_spec}}}
status:
  allocatable: {{cpu: "4", memory: 8Gi}}
  conditions:
{conditions}
"#
    )
}

const READY: &str = r#"  - {type: Ready, status: "True", reason: KubeletReady}
  - {type: MemoryPressure, status: "False"}"#;

fn pod(name: &str, node: &str, limits: &str, owner: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: shop{owner}}}
spec:
  nodeName: {node}
  containers: [{{name: c, image: x, resources: {{limits: {{{limits}}}}}}}]
status: {{phase: Running}}
"#
    )
}

#[test]
fn not_ready_node_fires_with_heartbeat_and_pod_count() {
    let down = r#"  - type: Ready
    status: Unknown
    reason: NodeStatusUnknown
    message: Kubelet stopped posting node status.
    lastHeartbeatTime: "2026-01-01T11:40:00Z"
    lastTransitionTime: "2026-01-01T11:41:00Z""#;
    let yaml = format!(
        "{}---\n{}---\n{}",
        node("n1", down, ""),
        node("n2", READY, ""),
        pod("a", "n1", "", "")
    );
    let f = run("node.not-ready", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "n1");
    assert!(
        f[0].title.contains("19m") && f[0].title.contains("NodeStatusUnknown"),
        "{}",
        f[0].title
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("lastHeartbeatTime") && e.detail.contains("20m ago"))
    );
    assert!(f[0].message.contains("1 pod(s)"));
    assert!(
        f[0].remediation
            .commands
            .iter()
            .any(|c| c == "kubectl cordon n1")
    );
}

#[test]
fn joining_node_is_not_flagged() {
    let yaml = r#"apiVersion: v1
kind: Node
metadata: {name: new, creationTimestamp: "2026-01-01T11:58:00Z"}
status:
  conditions: [{type: Ready, status: "False", reason: KubeletNotReady}]
"#;
    assert!(run("node.not-ready", &index(yaml, &[])).is_empty());
}

#[test]
fn pressure_fires_per_condition_and_network_is_network() {
    let conds = r#"  - {type: Ready, status: "True"}
  - {type: DiskPressure, status: "True", reason: KubeletHasDiskPressure, message: kubelet has disk pressure}
  - {type: MemoryPressure, status: "False"}
  - {type: NetworkUnavailable, status: "True", reason: NoRouteCreated}"#;
    let yaml = format!("{}---\n{}", node("n1", conds, ""), node("n2", READY, ""));
    let mut f = run("node.pressure", &index(&yaml, &[]));
    f.sort_by(|a, b| a.title.cmp(&b.title));
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(
        f[0].title.contains("DiskPressure") && f[0].title.contains("kubelet has disk pressure")
    );
    assert_eq!(f[0].category, Category::Capacity);
    assert!(f[1].title.contains("NetworkUnavailable"));
    assert_eq!(f[1].category, Category::Network);
    assert_ne!(f[0].fingerprint, f[1].fingerprint);
}

#[test]
fn cordoned_node_with_workload_pods_is_medium_after_an_hour() {
    let spec = r#"unschedulable: true, taints: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule, timeAdded: "2026-01-01T08:00:00Z"}]"#;
    let ds = ", ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: fluentd, uid: u1, controller: true}]";
    let yaml = format!(
        "{}---\n{}---\n{}---\n{}---\n{}",
        node("n1", READY, spec),
        node("n2", READY, "unschedulable: true"),
        pod("api-1", "n1", "", ""),
        pod("fluentd-1", "n1", "", ds),
        pod("fluentd-2", "n2", "", ds),
    );
    let mut f = run("node.cordoned-with-pods", &index(&yaml, &[]));
    f.sort_by(|a, b| a.object.name.cmp(&b.object.name));
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Medium);
    assert!(
        f[0].title.contains("for 4h0m") && f[0].title.contains("1 not from DaemonSets"),
        "{}",
        f[0].title
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("shop/api-1"))
    );
    // Only DaemonSet pods left (a finished drain): low.
    assert_eq!(f[1].severity, Severity::Low);
    // A schedulable node never fires.
    let ok = format!("{}---\n{}", node("n3", READY, ""), pod("a", "n3", "", ""));
    assert!(run("node.cordoned-with-pods", &index(&ok, &[])).is_empty());
}

#[test]
fn overcommitted_memory_fires_but_moderate_or_unlimited_does_not() {
    let yaml = format!(
        "{}---\n{}---\n{}---\n{}",
        node("n1", READY, ""),
        pod("a", "n1", "memory: 8Gi, cpu: 500m", ""),
        pod("b", "n1", "memory: 6Gi", ""),
        pod("c", "n1", "", ""),
    );
    let f = run("node.overcommitted", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].title.contains("memory limits are 175%"),
        "{}",
        f[0].title
    );
    assert!(f[0].title.contains("14.0Gi of 8.0Gi"), "{}", f[0].title);
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("shop/a (8.0Gi)"))
    );

    let ok = format!(
        "{}---\n{}---\n{}",
        node("n1", READY, ""),
        pod("a", "n1", "memory: 4Gi, cpu: \"5\"", ""),
        pod("b", "n1", "", "")
    );
    assert!(run("node.overcommitted", &index(&ok, &[])).is_empty());
    let none = format!("{}---\n{}", node("n1", READY, ""), pod("a", "n1", "", ""));
    assert!(run("node.overcommitted", &index(&none, &[])).is_empty());
}
