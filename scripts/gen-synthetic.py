#!/usr/bin/env python3
"""Generate a synthetic cluster snapshot for benchmarks (Python 3 standard library only).

Writes one `kubectl get -o json`-shaped `List` file per kind (pods.json, deployments.apps.json,
...) plus kaptain-snapshot.json, the way `kaptain snapshot` lays a snapshot out:

    scripts/gen-synthetic.py -o /tmp/synth                      # 10000 pods, 2000 deployments
    scripts/gen-synthetic.py --pods 50000 --deployments 5000 -o /tmp/big
    kaptain diagnose --from /tmp/synth -o json

Each deployment has one ReplicaSet that owns its share of the pods. Services select the
deployments' pods and have Endpoints. About one event is written per two pods, some of them
Warnings. A few things are broken on purpose:
  - 1% of the deployments reference a ConfigMap that does not exist, so their pods are in
    CreateContainerConfigError;
  - 1% are OOMKilled in a crash loop (CrashLoopBackOff, last state OOMKilled, exit code 137).
Every other deployment has its ConfigMap. The output is deterministic for a given --seed.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

ALPHA = "bcdfghjklmnpqrstvwxz2456789"

# The cluster CA every namespace's kube-root-ca.crt ConfigMap carries (a throwaway self-signed
# P-256 certificate, valid 2026-01-01 to 2035-12-30).
ROOT_CA = """-----BEGIN CERTIFICATE-----
MIIBXDCCAQKgAwIBAgICEAQwCgYIKoZIzj0EAwIwFTETMBEGA1UEAwwKa3ViZXJu
ZXRlczAeFw0yNjAxMDEwMDAwMDBaFw0zNTEyMzAwMDAwMDBaMBUxEzARBgNVBAMM
Cmt1YmVybmV0ZXMwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT1KXQVikeSfdZu
NOr83eIXuEVB4/ckKCtlq+eFqYFxxFrAckcSLWuJoNQEKpwRuDhY0nZVus+kmSVa
KSVaVjSro0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAdBgNV
HQ4EFgQU4zoFptgHrvcZOFWFOEpcUeZQ4ekwCgYIKoZIzj0EAwIDSAAwRQIgOe84
r+4edKLEiYGthUKucXIxE6ZGclvrhIAEoXBFV3YCIQD8yNp3qUx2B5te6QLKiU4b
sxwyDX8ELl/yp90DSGRPRw==
-----END CERTIFICATE-----
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--pods", type=int, default=10000, help="number of pods (default 10000)")
    p.add_argument("--deployments", type=int, default=2000, help="number of deployments, one ReplicaSet each (default 2000)")
    p.add_argument("--services", type=int, default=2000, help="number of services selecting the deployments' pods (default 2000)")
    p.add_argument("--namespaces", type=int, default=20, help="number of namespaces (default 20)")
    p.add_argument("--nodes", type=int, default=5, help="number of nodes (default 5)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--captured-at", default="2026-11-20T09:30:00Z", help="snapshot time; every timestamp is before it")
    p.add_argument("--healthy", action="store_true", help="break nothing (for false-positive tests)")
    p.add_argument("--pretty", action="store_true", help="indent like kubectl (4 spaces); default is compact JSON")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory (created if needed)")
    a = p.parse_args(argv)
    if a.pods < 0 or a.deployments < 1 or a.services < 0 or a.namespaces < 1 or a.nodes < 1:
        p.error("--deployments, --namespaces and --nodes must be >= 1; --pods and --services >= 0")
    return a


class Gen:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.now = datetime.strptime(a.captured_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        self.rv = 10_000_000
        self.seed = str(a.seed)

    # ---- small helpers -------------------------------------------------------------------

    def uid(self, *parts):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "kaptain-synthetic/" + self.seed + "/" + "/".join(parts)))

    def next_rv(self):
        self.rv += self.rng.randint(1, 97)
        return str(self.rv)

    def ts(self, secs_ago):
        return (self.now - timedelta(seconds=max(0, int(secs_ago)))).strftime("%Y-%m-%dT%H:%M:%SZ")

    def suffix(self, n):
        return "".join(self.rng.choice(ALPHA) for _ in range(n))

    def hexid(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def meta(self, kind, name, ns, created, labels=None, annotations=None, owner=None, generation=None):
        m = {"creationTimestamp": created, "name": name, "resourceVersion": self.next_rv(), "uid": self.uid(kind, ns or "", name)}
        if ns:
            m["namespace"] = ns
        if labels:
            m["labels"] = labels
        if annotations:
            m["annotations"] = annotations
        if owner:
            m["ownerReferences"] = [owner]
        if generation is not None:
            m["generation"] = generation
        return m

    def owner(self, api, kind, name, ns):
        return {"apiVersion": api, "blockOwnerDeletion": True, "controller": True, "kind": kind, "name": name,
                "uid": self.uid(kind, ns, name)}

    @staticmethod
    def cond(type_, status, t, reason=None, message=None):
        c = {"lastProbeTime": None, "lastTransitionTime": t, "status": status, "type": type_}
        if reason:
            c["reason"] = reason
        if message:
            c["message"] = message
        return c

    # ---- cluster-scoped ------------------------------------------------------------------

    def namespaces(self):
        self.ns_names = [f"team-{i:02d}" for i in range(self.a.namespaces)]
        out = []
        for ns in self.ns_names:
            out.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": self.meta("Namespace", ns, None, self.ts(200 * 86400), labels={"kubernetes.io/metadata.name": ns}),
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        return out

    def nodes(self):
        """Nodes sized for the pods placed on them, so nothing looks overcommitted."""
        out = []
        for i, name in enumerate(self.node_names):
            n = self.pods_per_node[i]
            cpu_m = max(31850, -(-n * 10 * 3 // 2) // 1000 * 1000 + 1000)
            mem_ki = max(127393376, -(-n * 256 * 1024 * 4 // 5))
            max_pods = max(110, n + n // 4 + 10)
            hb = self.ts(self.rng.randint(1, 40))
            conds = [
                {"lastHeartbeatTime": hb, "lastTransitionTime": self.ts(180 * 86400), "message": m, "reason": r, "status": s, "type": t}
                for t, s, r, m in [
                    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ]]
            out.append({
                "apiVersion": "v1", "kind": "Node",
                "metadata": self.meta("Node", name, None, self.ts(190 * 86400), labels={
                    "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": "m6i.8xlarge", "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}"},
                    annotations={"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}),
                "spec": {"podCIDR": f"10.244.{i}.0/24", "podCIDRs": [f"10.244.{i}.0/24"]},
                "status": {
                    "addresses": [{"address": f"10.0.0.{10 + i}", "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
                    "allocatable": {"cpu": f"{cpu_m}m", "ephemeral-storage": "190335632Ki", "memory": f"{mem_ki}Ki", "pods": str(max_pods)},
                    "capacity": {"cpu": str(-(-cpu_m // 1000) + 1), "ephemeral-storage": "209702892Ki", "memory": f"{mem_ki + 3574760}Ki",
                                 "pods": str(max_pods)},
                    "conditions": conds,
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                    "nodeInfo": {"architecture": "amd64", "bootID": self.uid("boot", name), "containerRuntimeVersion": "containerd://1.7.11",
                                 "kernelVersion": "6.1.0-18-cloud-amd64", "kubeProxyVersion": "v1.29.4", "kubeletVersion": "v1.29.4",
                                 "machineID": self.hexid(32), "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                 "systemUUID": self.uid("sys", name)}}})
        return out

    # ---- workloads -----------------------------------------------------------------------

    def plan(self):
        a = self.a
        d = a.deployments
        n_bad = 0 if a.healthy else (max(1, d // 100) if d >= 3 else 0)
        idx = list(range(d))
        self.rng.shuffle(idx)
        self.node_names = [f"node-{i + 1}" for i in range(a.nodes)]
        self.pods_per_node = [0] * a.nodes
        self.config_broken = set(idx[:n_bad])
        self.oom_broken = set(idx[n_bad:2 * n_bad])
        base, rem = divmod(a.pods, d)
        self.deps = []
        for i in range(d):
            ns = self.ns_names[i % len(self.ns_names)]
            name = f"app-{i:05d}"
            kind = "config" if i in self.config_broken else "oom" if i in self.oom_broken else "ok"
            self.deps.append({"i": i, "ns": ns, "name": name, "pods": base + (1 if i < rem else 0), "kind": kind,
                              "hash": "".join(ALPHA[b % len(ALPHA)] for b in hashlib.sha256(f"{self.seed}/{ns}/{name}".encode()).digest()[:10]),
                              "created": 30 * 86400 + self.rng.randint(0, 150 * 86400),
                              "tier": self.rng.choice(["web", "api", "worker"])})

    def template(self, dep, with_hash):
        name = dep["name"]
        labels = {"app": name, "app.kubernetes.io/part-of": dep["ns"], "tier": dep["tier"]}
        if with_hash:
            labels["pod-template-hash"] = dep["hash"]
        mem_limit = "128Mi" if dep["kind"] == "oom" else "256Mi"
        container = {
            "env": [
                {"name": "APP_NAME", "value": name},
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.memory"}}},
            ],
            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
            "image": f"registry.example.com/{dep['ns']}/{name}:1.{dep['i'] % 17}.{dep['i'] % 5}",
            "imagePullPolicy": "IfNotPresent",
            "livenessProbe": {"failureThreshold": 3, "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                              "initialDelaySeconds": 10, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
            "name": "app",
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"},
                      {"containerPort": 9090, "name": "metrics", "protocol": "TCP"}],
            "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                               "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 1},
            "resources": {"limits": {"memory": mem_limit}, "requests": {"cpu": "10m", "memory": "32Mi"}},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "volumeMounts": [{"mountPath": "/tmp", "name": "tmp"}],
        }
        return {"metadata": {"creationTimestamp": None, "labels": labels},
                "spec": {"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                         "schedulerName": "default-scheduler", "securityContext": {"runAsNonRoot": True},
                         "terminationGracePeriodSeconds": 30, "volumes": [{"emptyDir": {}, "name": "tmp"}]}}

    def workloads(self):
        deployments, replicasets, pods, configmaps, events = [], [], [], [], []
        for ns in self.ns_names:
            configmaps.append({"apiVersion": "v1", "data": {"ca.crt": ROOT_CA}, "kind": "ConfigMap",
                               "metadata": self.meta("ConfigMap", "kube-root-ca.crt", ns, self.ts(200 * 86400),
                                                     annotations={"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."})})
        self.pods_by_dep = {}
        ip_counter = [0] * len(self.node_names)
        for dep in self.deps:
            ns, name, n = dep["ns"], dep["name"], dep["pods"]
            tmpl = self.template(dep, False)
            rs_name = f"{name}-{dep['hash']}"
            rs_age = self.rng.randint(3600, min(dep["created"], 20 * 86400))
            ready = n if dep["kind"] == "ok" else 0
            gen = self.rng.randint(1, 30)
            if dep["kind"] != "config":
                configmaps.append({"apiVersion": "v1", "data": {"FEATURE_FLAGS": "search,checkout", "LISTEN": ":8080",
                                                                "UPSTREAM": f"http://backend.{ns}.svc.cluster.local"},
                                   "kind": "ConfigMap",
                                   "metadata": self.meta("ConfigMap", f"{name}-config", ns, self.ts(dep["created"]), labels={"app": name})})
            # Deployment
            avail = ready >= n - n // 4 if n else True
            d_conds = [
                {"lastTransitionTime": self.ts(rs_age - 30), "lastUpdateTime": self.ts(rs_age - 30),
                 "message": "Deployment has minimum availability." if avail else "Deployment does not have minimum availability.",
                 "reason": "MinimumReplicasAvailable" if avail else "MinimumReplicasUnavailable",
                 "status": "True" if avail else "False", "type": "Available"},
                {"lastTransitionTime": self.ts(rs_age - 40), "lastUpdateTime": self.ts(rs_age - 40),
                 "message": f'ReplicaSet "{rs_name}" has successfully progressed.', "reason": "NewReplicaSetAvailable",
                 "status": "True", "type": "Progressing"},
            ]
            d_status = {"conditions": d_conds, "observedGeneration": gen, "replicas": n, "updatedReplicas": n}
            if ready:
                d_status.update(availableReplicas=ready, readyReplicas=ready)
            if n - ready:
                d_status["unavailableReplicas"] = n - ready
            deployments.append({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": self.meta("Deployment", name, ns, self.ts(dep["created"]), labels={"app": name},
                                      annotations={"deployment.kubernetes.io/revision": str(gen)}, generation=gen),
                "spec": {"progressDeadlineSeconds": 600, "replicas": n, "revisionHistoryLimit": 10,
                         "selector": {"matchLabels": {"app": name}},
                         "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                         "template": tmpl},
                "status": d_status})
            # ReplicaSet
            rs_tmpl = self.template(dep, True)
            rs_status = {"fullyLabeledReplicas": n, "observedGeneration": 1, "replicas": n}
            if ready:
                rs_status.update(availableReplicas=ready, readyReplicas=ready)
            rs_obj = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": self.meta("ReplicaSet", rs_name, ns, self.ts(rs_age), labels=dict(rs_tmpl["metadata"]["labels"]),
                                      annotations={"deployment.kubernetes.io/desired-replicas": str(n),
                                                   "deployment.kubernetes.io/max-replicas": str(n + (n + 3) // 4),
                                                   "deployment.kubernetes.io/revision": str(gen)},
                                      owner=self.owner("apps/v1", "Deployment", name, ns), generation=1),
                "spec": {"replicas": n, "selector": {"matchLabels": {"app": name, "pod-template-hash": dep["hash"]}}, "template": rs_tmpl},
                "status": rs_status}
            replicasets.append(rs_obj)
            # Pods
            owner = self.owner("apps/v1", "ReplicaSet", rs_name, ns)
            dep_pods = []
            for k in range(n):
                node_i = self.rng.randrange(len(self.node_names))
                node = self.node_names[node_i]
                ip_counter[node_i] += 1
                self.pods_per_node[node_i] += 1
                c = ip_counter[node_i]
                pod_ip = f"10.{64 + node_i * 4 + c // 65536}.{(c // 256) % 256}.{c % 256}"
                pod_name = f"{rs_name}-{self.suffix(5)}"
                age = rs_age - self.rng.randint(0, 120)
                created = self.ts(age)
                spec = json.loads(json.dumps(rs_tmpl["spec"]))
                spec["containers"][0]["volumeMounts"].append(
                    {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": f"kube-api-access-{self.suffix(5)}", "readOnly": True})
                spec["volumes"].append({"name": spec["containers"][0]["volumeMounts"][-1]["name"], "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                    {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}]}})
                spec.update({"enableServiceLinks": True, "nodeName": node, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
                             "serviceAccount": "default", "serviceAccountName": "default",
                             "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                                             {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]})
                image = spec["containers"][0]["image"]
                cs = {"image": image, "imageID": image.split(":")[0] + "@sha256:" + hashlib.sha256(image.encode()).hexdigest(),
                      "lastState": {}, "name": "app", "ready": False, "restartCount": 0, "started": False}
                started = self.ts(age - 3)
                if dep["kind"] == "ok":
                    cs.update(containerID="containerd://" + self.hexid(64), ready=True, started=True, state={"running": {"startedAt": self.ts(age - 4)}})
                    conds = [self.cond("Initialized", "True", created), self.cond("Ready", "True", self.ts(age - 9)),
                             self.cond("ContainersReady", "True", self.ts(age - 9)), self.cond("PodScheduled", "True", created)]
                    phase = "Running"
                else:
                    msg = "containers with unready status: [app]"
                    if dep["kind"] == "config":
                        cs["state"] = {"waiting": {"message": f'configmap "{name}-config" not found', "reason": "CreateContainerConfigError"}}
                        phase = "Pending"
                        since = created
                    else:
                        restarts = self.rng.randint(5, 40)
                        fin = self.rng.randint(20, 280)
                        cs.update(containerID="containerd://" + self.hexid(64), restartCount=restarts,
                                  lastState={"terminated": {"containerID": "containerd://" + self.hexid(64), "exitCode": 137,
                                                            "finishedAt": self.ts(fin), "reason": "OOMKilled", "startedAt": self.ts(fin + 35)}},
                                  state={"waiting": {"message": f"back-off 5m0s restarting failed container=app pod={pod_name}_{ns}({self.uid('Pod', ns, pod_name)})",
                                                     "reason": "CrashLoopBackOff"}})
                        phase = "Running"
                        since = self.ts(fin)
                    conds = [self.cond("Initialized", "True", created), self.cond("Ready", "False", since, "ContainersNotReady", msg),
                             self.cond("ContainersReady", "False", since, "ContainersNotReady", msg), self.cond("PodScheduled", "True", created)]
                host_ip = f"10.0.0.{10 + node_i}"
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": self.meta("Pod", pod_name, ns, created, labels=dict(rs_tmpl["metadata"]["labels"]), owner=owner),
                       "spec": dict(sorted(spec.items())),
                       "status": {"conditions": conds, "containerStatuses": [cs], "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                                  "phase": phase, "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "qosClass": "Burstable", "startTime": created}}
                pod["metadata"]["generateName"] = rs_name + "-"
                pods.append(pod)
                dep_pods.append(pod)
                events.extend(self.pod_events(dep, pod, age, started))
            self.pods_by_dep[dep["i"]] = dep_pods
        return deployments, replicasets, pods, configmaps, events

    def event(self, obj, reason, message, first, last, count, type_="Normal", component="kubelet", host=None, field=None):
        m = obj["metadata"]
        name = f"{m['name']}.{self.hexid(16)}"
        io = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": m["name"], "namespace": m["namespace"],
              "resourceVersion": m["resourceVersion"], "uid": m["uid"]}
        if field:
            io["fieldPath"] = field
        src = {"component": component}
        if host:
            src["host"] = host
        return {"apiVersion": "v1", "count": count, "eventTime": None, "firstTimestamp": first, "involvedObject": io, "kind": "Event",
                "lastTimestamp": last, "message": message,
                "metadata": {"creationTimestamp": first, "name": name, "namespace": m["namespace"], "resourceVersion": self.next_rv(),
                             "uid": self.uid("Event", m["namespace"], name)},
                "reason": reason, "reportingComponent": component, "reportingInstance": host or "", "source": src, "type": type_}

    def pod_events(self, dep, pod, age, started):
        """About one event per two pods: Warnings for the broken ones, Normal ones for a sample of the rest."""
        node = pod["spec"]["nodeName"]
        field = "spec.containers{app}"
        image = pod["spec"]["containers"][0]["image"]
        if dep["kind"] == "config":
            n = min(age // 10, 500)
            return [self.event(pod, "Failed", f'Error: configmap "{dep["name"]}-config" not found', started, self.ts(self.rng.randint(1, 30)), n,
                               "Warning", host=node, field=field)]
        if dep["kind"] == "oom":
            return [self.event(pod, "BackOff", f"Back-off restarting failed container app in pod {pod['metadata']['name']}_{dep['ns']}({pod['metadata']['uid']})",
                               self.ts(min(age, 3500)), self.ts(self.rng.randint(1, 60)), self.rng.randint(20, 300), "Warning", host=node, field=field)]
        r = self.rng.random()
        if r < 0.35:
            return [self.event(pod, "Pulled", f'Container image "{image}" already present on machine', started, started, 1, host=node, field=field)]
        if r < 0.44:
            return [self.event(pod, "Started", "Started container app", started, started, 1, host=node, field=field)]
        if r < 0.49:
            t = self.rng.randint(2 * 3600, 20 * 3600)
            return [self.event(pod, "Unhealthy", "Readiness probe failed: Get \"http://%s:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                               % pod["status"]["podIP"], self.ts(t + 20), self.ts(t), self.rng.randint(1, 3), "Warning", host=node, field=field)]
        return []

    # ---- services ------------------------------------------------------------------------

    def services(self):
        services, endpoints = [], []
        for s in range(self.a.services):
            dep = self.deps[s % len(self.deps)]
            ns, dname = dep["ns"], dep["name"]
            name = dname if s < len(self.deps) else f"{dname}-{s // len(self.deps)}"
            created = self.ts(dep["created"])
            ip = f"10.96.{(s // 250) % 256}.{s % 250 + 2}"
            services.append({"apiVersion": "v1", "kind": "Service",
                             "metadata": self.meta("Service", name, ns, created, labels={"app": dname}),
                             "spec": {"clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
                                      "ipFamilyPolicy": "SingleStack",
                                      "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}],
                                      "selector": {"app": dname}, "sessionAffinity": "None", "type": "ClusterIP"},
                             "status": {"loadBalancer": {}}})
            ready, not_ready = [], []
            for p in self.pods_by_dep.get(dep["i"], []):
                addr = {"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                        "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns, "uid": p["metadata"]["uid"]}}
                (ready if dep["kind"] == "ok" else not_ready).append(addr)
            ep = {"apiVersion": "v1", "kind": "Endpoints",
                  "metadata": self.meta("Endpoints", name, ns, created, labels={"app": dname},
                                        annotations={"endpoints.kubernetes.io/last-change-trigger-time": self.ts(self.rng.randint(600, 86400))})}
            if ready or not_ready:
                sub = {}
                if ready:
                    sub["addresses"] = ready
                if not_ready:
                    sub["notReadyAddresses"] = not_ready
                sub["ports"] = [{"name": "http", "port": 8080, "protocol": "TCP"}]
                ep["subsets"] = [sub]
            endpoints.append(ep)
        return services, endpoints


def write_list(path, items, pretty):
    doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    with open(path, "w") as f:
        if pretty:
            json.dump(doc, f, indent=4)
        else:
            json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


def main(argv):
    a = parse_args(argv)
    g = Gen(a)
    namespaces = g.namespaces()
    g.plan()
    deployments, replicasets, pods, configmaps, events = g.workloads()
    nodes = g.nodes()
    services, endpoints = g.services()
    events.sort(key=lambda e: (e["metadata"]["namespace"], e["lastTimestamp"], e["metadata"]["name"]))
    os.makedirs(a.output, exist_ok=True)
    files = [("namespaces.json", "Namespace", namespaces), ("nodes.json", "Node", nodes),
             ("deployments.apps.json", "Deployment", deployments), ("replicasets.apps.json", "ReplicaSet", replicasets),
             ("pods.json", "Pod", pods), ("services.json", "Service", services), ("endpoints.json", "Endpoints", endpoints),
             ("configmaps.json", "ConfigMap", configmaps), ("events.json", "Event", events)]
    for fname, _, items in files:
        write_list(os.path.join(a.output, fname), items, a.pretty)
    meta = {"schema": "kaptain.snapshot/v1", "context": "synthetic", "server_version": "v1.29.4", "captured_at": a.captured_at,
            "kinds": [k for _, k, _ in files], "skipped": []}
    with open(os.path.join(a.output, "kaptain-snapshot.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    pod_bytes = os.path.getsize(os.path.join(a.output, "pods.json"))
    print(f"wrote {a.output}: {len(pods)} pods ({pod_bytes // max(1, len(pods))} bytes each), {len(deployments)} deployments, "
          f"{len(replicasets)} replicasets, {len(services)} services, {len(configmaps)} configmaps, {len(events)} events, "
          f"{len(nodes)} nodes, {len(namespaces)} namespaces; broken: {len(g.config_broken)} missing-ConfigMap, "
          f"{len(g.oom_broken)} OOMKilled deployments", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
