//! Per check with a grace period: a fixture whose evidence is certain (reported when the
//! object is 30 s old, with `certain now` evidence) and one whose evidence may resolve (held
//! back at 30 s). The two differ only in what makes the evidence certain, so each pair
//! shows the split, not a hard-coded answer. (service.selector-no-match: service/tests.rs.)

use kaptain_index::Kind;
use kaptain_model::Finding;

use crate::testutil::{ago, index, run};

/// Runs `id` on `yaml` (with `loaded` kinds counted as collected) and returns its findings.
fn check(id: &str, yaml: &str, loaded: &[Kind]) -> Vec<Finding> {
    run(id, &index(yaml, loaded))
}

/// Exactly one finding, and its evidence says "certain now".
fn certain(id: &str, yaml: &str, loaded: &[Kind]) -> Finding {
    let f = check(id, yaml, loaded);
    assert_eq!(f.len(), 1, "{id}: expected one finding at 30 s: {f:#?}");
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.starts_with("certain now: ")),
        "{id}: no certain-now evidence: {:#?}",
        f[0].evidence
    );
    f.into_iter().next().expect("one")
}

fn held(id: &str, yaml: &str, loaded: &[Kind]) {
    let f = check(id, yaml, loaded);
    assert!(f.is_empty(), "{id}: expected nothing at 30 s: {f:#?}");
}

/// A pod in `shop` labelled `app: api`, created `age` seconds ago; `pod_extra` goes into its
/// spec (ending in ", "), `container_extra` into its container `api` (starting with ", ").
fn pod(age: i64, pod_extra: &str, container_extra: &str, status: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: api-1, namespace: shop, labels: {{app: api}}, creationTimestamp: \"{}\"}}\n\
         spec: {{{pod_extra}containers: [{{name: api, image: shop/api:1.0{container_extra}}}]}}\nstatus: {status}\n",
        ago(age)
    )
}

/// A status: not ready, container `api` waiting with `reason`/`message`.
fn waiting(reason: &str, message: &str) -> String {
    format!(
        "{{phase: Pending, conditions: [{{type: Ready, status: \"False\"}}], containerStatuses: [{{name: api, image: shop/api:1.0, \
         imageID: \"\", ready: false, restartCount: 0, state: {{waiting: {{reason: {reason}, message: '{}'}}}}}}]}}",
        message.replace('\'', "''")
    )
}

const ENV_FROM_CM: &str = ", envFrom: [{configMapRef: {name: api-config}}]";
const API_CONFIG: &str = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-config, namespace: shop}\ndata: {A: b}\n";

fn config_error_pod() -> String {
    pod(
        30,
        "nodeName: n1, ",
        ENV_FROM_CM,
        &waiting(
            "CreateContainerConfigError",
            "configmap \"api-config\" not found",
        ),
    )
}

#[test]
fn config_error_certain_when_the_configmap_does_not_exist() {
    let id = "pod.create-container-config-error";
    certain(id, &config_error_pod(), &[Kind::ConfigMap]);
    // Created right after the pod: the kubelet finds it on its next try.
    held(id, &(config_error_pod() + API_CONFIG), &[]);
    // ConfigMaps not collected: nothing to confirm the kubelet's word with.
    held(id, &config_error_pod(), &[]);
}

#[test]
fn config_error_certain_when_an_existing_secret_lacks_the_key() {
    let id = "pod.create-container-config-error";
    let p = pod(
        30,
        "nodeName: n1, ",
        ", env: [{name: K, valueFrom: {secretKeyRef: {name: stripe, key: api-key}}}]",
        &waiting(
            "CreateContainerConfigError",
            "couldn't find key api-key in Secret shop/stripe",
        ),
    );
    let secret = |key: &str| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: stripe, namespace: shop}}\ndata: {{{key}: eA==}}\n"
        )
    };
    certain(id, &(p.clone() + &secret("apikey")), &[]);
    held(id, &(p + &secret("api-key")), &[]);
}

#[test]
fn image_pull_certain_for_an_invalid_reference_held_for_an_unreachable_registry() {
    let id = "pod.image-pull";
    let invalid = pod(
        30,
        "nodeName: n1, ",
        "",
        &waiting(
            "InvalidImageName",
            "Failed to apply default image tag \"shop/api:1.0\": couldn't parse image reference",
        ),
    );
    certain(id, &invalid, &[]);
    let unreachable = |age| {
        pod(
            age,
            "nodeName: n1, ",
            "",
            &waiting(
                "ErrImagePull",
                "rpc error: dial tcp: lookup registry.example.com: i/o timeout",
            ),
        )
    };
    held(id, &unreachable(30), &[]);
    // Past the grace period it is reported, saying it may resolve.
    let f = check(id, &unreachable(200), &[]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.starts_with("may resolve: ")),
        "{:#?}",
        f[0].evidence
    );
}

#[test]
fn container_creating_certain_when_its_volume_configmap_does_not_exist() {
    let id = "pod.container-creating";
    let p = pod(
        30,
        "nodeName: n1, volumes: [{name: conf, configMap: {name: api-config}}], ",
        "",
        &format!(
            "{{phase: Pending, conditions: [{{type: PodScheduled, status: \"True\", lastTransitionTime: \"{}\"}}], \
             containerStatuses: [{{name: api, image: shop/api:1.0, imageID: \"\", ready: false, restartCount: 0, \
             state: {{waiting: {{reason: ContainerCreating}}}}}}]}}",
            ago(30)
        ),
    );
    certain(id, &p, &[Kind::ConfigMap]);
    held(id, &(p + API_CONFIG), &[]);
}

#[test]
fn unschedulable_certain_when_no_node_can_ever_fit_the_pod() {
    let id = "pod.unschedulable";
    let node = "---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: \"4\", memory: 16Gi, pods: \"110\"}}\n";
    let pending = |memory: &str| {
        pod(
            30,
            "",
            &format!(", resources: {{requests: {{memory: {memory}}}}}"),
            &format!(
                "{{phase: Pending, conditions: [{{type: PodScheduled, status: \"False\", reason: Unschedulable, \
                 message: \"0/1 nodes are available: 1 Insufficient memory.\", lastTransitionTime: \"{}\"}}]}}",
                ago(30)
            ),
        ) + node
    };
    certain(id, &pending("64Gi"), &[]);
    // It would fit an idle node: another pod may finish or a node may join.
    held(id, &pending("8Gi"), &[]);
}

/// A workload `api` created 30 s ago whose template's container has `container_extra`, and
/// `status`.
fn workload(kind: &str, replicas: &str, container_extra: &str, status: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: api, namespace: shop, creationTimestamp: \"{}\"}}\n\
         spec: {{{replicas}selector: {{matchLabels: {{app: api}}}}, template: {{metadata: {{labels: {{app: api}}}}, \
         spec: {{containers: [{{name: api, image: shop/api:1.0{container_extra}}}]}}}}}}\nstatus: {status}\n",
        ago(30)
    )
}

#[test]
fn workloads_certain_when_their_template_reads_a_missing_configmap() {
    let cases = [
        (
            "deployment.unavailable",
            "Deployment",
            "replicas: 2, ",
            "{replicas: 2, availableReplicas: 0, unavailableReplicas: 2}",
        ),
        (
            "statefulset.unavailable",
            "StatefulSet",
            "replicas: 1, serviceName: api, ",
            "{replicas: 1, readyReplicas: 0}",
        ),
        (
            "daemonset.unavailable",
            "DaemonSet",
            "",
            "{desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 0, numberMisscheduled: 0, numberUnavailable: 2}",
        ),
    ];
    for (id, kind, replicas, status) in cases {
        let w = workload(kind, replicas, ENV_FROM_CM, status);
        let f = certain(id, &w, &[Kind::ConfigMap, Kind::Pod]);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.detail.contains("ConfigMap shop/api-config")),
            "{id}: {:#?}",
            f.evidence
        );
        // The ConfigMap exists: its pods are merely starting.
        held(id, &(w + API_CONFIG), &[Kind::Pod]);
    }
}

#[test]
fn an_invalid_image_in_a_template_is_certain() {
    let id = "daemonset.unavailable";
    let status = "{desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 0, numberMisscheduled: 0, numberUnavailable: 1}";
    let w = workload("DaemonSet", "", "", status);
    held(id, &w, &[Kind::Pod]);
    certain(id, &w.replace("shop/api:1.0", "Shop/API:1.0"), &[Kind::Pod]);
}

/// Service `api` (30 s old) selecting `app: api`.
fn service(age: i64) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: api, namespace: shop, creationTimestamp: \"{}\"}}\n\
         spec: {{selector: {{app: api}}, ports: [{{port: 80, protocol: TCP}}]}}\n",
        ago(age)
    )
}

#[test]
fn no_ready_endpoints_certain_when_the_backends_can_never_start() {
    let id = "service.no-ready-endpoints";
    let yaml = service(30) + &config_error_pod();
    certain(id, &yaml, &[Kind::ConfigMap]);
    held(id, &(yaml + API_CONFIG), &[]);
}

#[test]
fn no_ready_endpoints_certain_when_the_workload_cannot_create_pods() {
    let id = "service.no-ready-endpoints";
    let sa = workload(
        "Deployment",
        "replicas: 2, ",
        "",
        "{replicas: 0, availableReplicas: 0}",
    )
    .replace(
        "spec: {containers:",
        "spec: {serviceAccountName: api-sa, containers:",
    );
    let yaml = service(30) + &sa;
    certain(id, &yaml, &[Kind::Pod, Kind::ServiceAccount]);
    let account =
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: api-sa, namespace: shop}\n";
    held(id, &(yaml + account), &[Kind::Pod]);
}

/// Ingress `web` (created `age` s ago) routing to Service `api`, with `extra` metadata and spec.
fn ingress(age: i64, annotations: &str, tls: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: shop, creationTimestamp: \"{}\"{annotations}}}\n\
         spec: {{{tls}rules: [{{host: shop.example.com, http: {{paths: [{{path: /, pathType: Prefix, \
         backend: {{service: {{name: api, port: {{number: 80}}}}}}}}]}}}}]}}\n",
        ago(age)
    )
}

#[test]
fn ingress_missing_service_is_certain_once_settled() {
    let id = "ingress.missing-service";
    let f = certain(id, &ingress(30, "", ""), &[Kind::Service]);
    assert!(f.remediation.summary.contains("existing Service"));
    // The first seconds after creation: its Service may be in the same apply.
    held(id, &ingress(5, "", ""), &[Kind::Service]);
}

#[test]
fn ingress_backend_unavailable_certain_when_its_pods_can_never_start() {
    let id = "ingress.backend-unavailable";
    let yaml = ingress(30, "", "") + &service(30) + &config_error_pod();
    certain(id, &yaml, &[Kind::ConfigMap]);
    held(id, &(yaml + API_CONFIG), &[]);
}

#[test]
fn ingress_missing_tls_secret_certain_unless_cert_manager_issues_it() {
    let id = "ingress.missing-tls-secret";
    let tls = "tls: [{hosts: [shop.example.com], secretName: shop-tls}], ";
    certain(id, &ingress(30, "", tls), &[Kind::Secret, Kind::Service]);
    let issued = ingress(
        30,
        ", annotations: {cert-manager.io/cluster-issuer: letsencrypt}",
        tls,
    );
    held(id, &issued, &[Kind::Secret, Kind::Service]);
}

fn webhook() -> String {
    format!(
        "---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
         metadata: {{name: pod-policy, creationTimestamp: \"{}\"}}\nwebhooks:\n\
         - name: validate.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: Fail\n\
         \x20 clientConfig: {{service: {{namespace: shop, name: api, port: 443}}}}\n\
         \x20 rules: [{{operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [pods]}}]\n",
        ago(30)
    )
}

#[test]
fn webhook_certain_when_its_service_does_not_exist() {
    let id = "webhook.no-endpoints";
    certain(id, &(webhook() + API_CONFIG), &[Kind::Service]);
    // The Service exists and its pod is starting.
    let starting = pod(
        30,
        "nodeName: n1, ",
        "",
        "{phase: Running, conditions: [{type: Ready, status: \"False\"}]}",
    );
    held(id, &(webhook() + &service(30) + &starting), &[]);
}

#[test]
fn webhook_certain_when_nothing_will_ever_back_its_service() {
    let id = "webhook.no-endpoints";
    let deploy = |replicas: &str| {
        workload(
            "Deployment",
            replicas,
            "",
            "{replicas: 0, availableReplicas: 0}",
        )
    };
    // Its only workload is scaled to zero and no HPA scales it.
    let zero = webhook() + &service(30) + &deploy("replicas: 0, ");
    let f = certain(id, &zero, &[Kind::Pod]);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.detail.contains("want 0 replicas") || e.detail.contains("wants 0 replicas")),
        "{:#?}",
        f.evidence
    );
    // It wants a pod that is still being created.
    held(
        id,
        &(webhook() + &service(30) + &deploy("replicas: 1, ")),
        &[Kind::Pod],
    );
}

#[test]
fn pvc_checks_certain_when_the_storage_class_does_not_exist() {
    let class = "---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast-ssd}\nprovisioner: example.com/csi\n";
    let pvc = |class: &str| {
        format!(
            "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: db-data, namespace: shop, creationTimestamp: \"{}\"}}\n\
             spec: {{{class}accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}\nstatus: {{phase: Pending}}\n",
            ago(30)
        )
    };
    let typo = pvc("storageClassName: fast-sdd, ") + class;
    certain("pvc.pending", &typo, &[]);
    let f = certain("pvc.missing-storageclass", &typo, &[]);
    assert!(
        f.remediation.summary.contains("did you mean `fast-ssd`?"),
        "{}",
        f.remediation.summary
    );
    // The class exists: its provisioner may still be creating the volume.
    held(
        "pvc.pending",
        &(pvc("storageClassName: fast-ssd, ") + class),
        &[],
    );
    // No class named and no default class: one may still be installed.
    held("pvc.missing-storageclass", &(pvc("") + class), &[]);
}

#[test]
fn pdb_certain_when_its_unhealthy_pods_can_never_start() {
    let id = "pdb.zero-disruptions";
    let pdb = format!(
        "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: api, namespace: shop, creationTimestamp: \"{}\"}}\n\
         spec: {{minAvailable: 1, selector: {{matchLabels: {{app: api}}}}}}\n\
         status: {{disruptionsAllowed: 0, expectedPods: 2, currentHealthy: 0, desiredHealthy: 1, \
         conditions: [{{type: DisruptionAllowed, status: \"False\", reason: InsufficientPods, message: \"\", lastTransitionTime: \"{}\"}}]}}\n",
        ago(30),
        ago(30)
    );
    let yaml = pdb + &config_error_pod();
    certain(id, &yaml, &[Kind::ConfigMap]);
    held(id, &(yaml + API_CONFIG), &[]);
}

#[test]
fn hpa_unable_to_scale_certain_when_the_target_does_not_exist() {
    let id = "hpa.unable-to-scale";
    let hpa = |reason: &str, kind: &str| {
        format!(
            "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: api, namespace: shop, creationTimestamp: \"{}\"}}\n\
             spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}, minReplicas: 1, maxReplicas: 3}}\n\
             status: {{currentReplicas: 1, desiredReplicas: 1, conditions: [{{type: {kind}, status: \"False\", reason: {reason}, \
             message: x, lastTransitionTime: \"{}\"}}]}}\n",
            ago(30),
            ago(30)
        )
    };
    certain(
        id,
        &hpa("FailedGetScale", "AbleToScale"),
        &[Kind::Deployment],
    );
    let target = workload(
        "Deployment",
        "replicas: 1, ",
        "",
        "{replicas: 1, availableReplicas: 1}",
    );
    held(
        id,
        &(hpa("FailedGetResourceMetric", "ScalingActive") + &target),
        &[],
    );
}
