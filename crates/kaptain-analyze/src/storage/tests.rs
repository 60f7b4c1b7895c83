use crate::testutil::{index, run, run_all};
use kaptain_index::Kind;

// Created 1h before testutil::now().
const STD_CLASS: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: ebs.csi.aws.com
volumeBindingMode: Immediate
"#;

fn pvc(name: &str, class: Option<&str>, phase: &str, created: &str) -> String {
    let class = class
        .map(|c| format!("  storageClassName: \"{c}\"\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}, namespace: shop, creationTimestamp: \"{created}\"}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n{class}status: {{phase: {phase}}}\n"
    )
}

const OLD: &str = "2026-01-01T11:00:00Z";
const FRESH: &str = "2026-01-01T11:59:30Z";

#[test]
fn pending_claim_fires_with_provisioning_event_and_class_hint() {
    let yaml = format!(
        "{STD_CLASS}---\n{}---\n{}",
        pvc("data", Some("standard"), "Pending", OLD),
        r#"apiVersion: v1
kind: Event
metadata: {name: data.1, namespace: shop}
involvedObject: {kind: PersistentVolumeClaim, namespace: shop, name: data}
type: Warning
reason: ProvisioningFailed
message: "failed to provision volume: quota exceeded"
count: 7
lastTimestamp: "2026-01-01T11:58:00Z"
"#
    );
    let f = run("pvc.pending", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "data");
    assert!(
        f[0].title.contains("1h0m") && f[0].title.contains("ProvisioningFailed"),
        "{}",
        f[0].title
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("quota exceeded"))
    );
    assert_eq!(f[0].cause_hints[0].kind, "StorageClass");
    assert_eq!(f[0].cause_hints[0].name, "standard");
}

#[test]
fn fresh_bound_or_waiting_for_first_consumer_claims_do_not_fire() {
    let wffc = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
"#;
    let yaml = format!(
        "{STD_CLASS}---\n{wffc}---\n{}---\n{}---\n{}",
        pvc("fresh", Some("standard"), "Pending", FRESH),
        pvc("bound", Some("standard"), "Bound", OLD),
        pvc("waits", Some("local"), "Pending", OLD),
    );
    assert!(run("pvc.pending", &index(&yaml, &[])).is_empty());
    // Once a pod uses the WaitForFirstConsumer claim, a Pending claim is a problem.
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop}
spec:
  containers: [{name: db, image: postgres}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: waits}}]
"#;
    let f = run("pvc.pending", &index(&format!("{yaml}---\n{pod}"), &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "waits");
    assert!(f[0].evidence.iter().any(|e| e.detail.contains("db-0")));
}

#[test]
fn missing_named_class_is_the_root_object() {
    let yaml = format!(
        "{STD_CLASS}---\n{}",
        pvc("data", Some("fast-ssd"), "Pending", OLD)
    );
    let idx = index(&yaml, &[]);
    let f = run("pvc.missing-storageclass", &idx);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.kind, "StorageClass");
    assert_eq!(f[0].object.name, "fast-ssd");
    assert!(f[0].message.contains("standard"));
    assert!(
        f[0].evidence[0]
            .detail
            .contains("PersistentVolumeClaim/shop/data")
    );
    // pvc.pending points at the same StorageClass, so the correlator links them.
    let p = run("pvc.pending", &idx);
    assert_eq!(p[0].cause_hints[0], f[0].object);
    let all = run_all(&idx);
    let missing = all
        .iter()
        .find(|x| x.id == "pvc.missing-storageclass")
        .expect("missing");
    let pending = all.iter().find(|x| x.id == "pvc.pending").expect("pending");
    assert!(missing.root_cause);
    assert_eq!(pending.caused_by, vec![missing.fingerprint.clone()]);
}

#[test]
fn no_class_and_no_default_fires_but_existing_class_or_uncollected_does_not() {
    let no_default = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: slow}
provisioner: ebs.csi.aws.com
"#;
    let yaml = format!("{no_default}---\n{}", pvc("data", None, "Pending", OLD));
    let f = run("pvc.missing-storageclass", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.kind, "PersistentVolumeClaim");
    assert!(f[0].title.contains("no default"));
    assert!(
        f[0].remediation
            .commands
            .iter()
            .any(|c| c.contains("patch storageclass slow"))
    );

    let ok = format!(
        "{STD_CLASS}---\n{}---\n{}",
        pvc("a", Some("standard"), "Pending", OLD),
        pvc("b", None, "Pending", OLD)
    );
    assert!(run("pvc.missing-storageclass", &index(&ok, &[])).is_empty());
    // StorageClasses not collected: absence proves nothing.
    let unknown = pvc("data", Some("fast-ssd"), "Pending", OLD);
    assert!(run("pvc.missing-storageclass", &index(&unknown, &[])).is_empty());
    // A bound claim whose class was deleted later is healthy.
    let bound = format!(
        "{STD_CLASS}---\n{}",
        pvc("data", Some("gone"), "Bound", OLD)
    );
    assert!(run("pvc.missing-storageclass", &index(&bound, &[])).is_empty());
}

#[test]
fn lost_claim_fires_and_bound_does_not() {
    let lost = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec: {volumeName: pv-1, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
status: {phase: Lost}
"#;
    let f = run("pvc.lost", &index(lost, &[Kind::PersistentVolume]));
    assert_eq!(f.len(), 1);
    assert!(f[0].title.contains("pv-1"));
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("no longer exists"))
    );
    assert_eq!(f[0].cause_hints[0].kind, "PersistentVolume");
    assert!(
        run(
            "pvc.lost",
            &index(&pvc("ok", Some("standard"), "Bound", OLD), &[])
        )
        .is_empty()
    );
}

const PVS: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-failed}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  claimRef: {namespace: shop, name: old}
status: {phase: Failed, message: "error deleting EBS volume: VolumeInUse"}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-kept}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: shop, name: gone}
status: {phase: Released}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-ok}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
status: {phase: Bound}
"#;

#[test]
fn failed_pv_fires_with_its_message() {
    let f = run("pv.failed", &index(PVS, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "pv-failed");
    assert!(f[0].title.contains("VolumeInUse"));
}

#[test]
fn released_retained_pv_fires_low_with_claimref_patch() {
    let f = run("pv.released", &index(PVS, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "pv-kept");
    assert!(f[0].evidence.iter().any(|e| e.detail.contains("shop/gone")));
    assert_eq!(
        f[0].remediation.patch.as_deref(),
        Some(r#"{"spec":{"claimRef":null}}"#)
    );
}
