#!/usr/bin/env python3
"""Benchmark of the healing operator: time from a simulated failure to its HealingAction.

Starts the test control plane with simulated nodes (`kaptain-testenv up`), installs Kaptain's
CRDs, creates Deployments until >= --pods pods are Running, and a ClusterHealingPolicy that
answers `pod.oom-killed` (mode `approval` by default, so proposals change nothing and the
cluster stays steady). Then starts `kaptain operator` as a separate process, waits until it
leads and its watches have synced, and injects --failures failures one at a time: it sets the
simulated kubelet's annotation `sim.kaptain.dev/memory-usage` above the memory limit on one
Running pod (of a different Deployment each time), so that the pod is OOM-killed about a
second later.

For each failure the bench watches that pod and every HealingAction (two API watches, one
clock) and measures from the moment the pod's status shows the OOM kill to the moment the
HealingAction for it is seen. It prints p50/p90/p99/max of those times, the operator's own
`kaptain_heal_finding_to_action_seconds` (first seen → created), its peak RSS (VmHWM from
/proc/PID/status), its RSS after the watches synced, and its CPU time.
Goals (issue #4): p99 under 2 s, RSS under 150 MB with >= 5,000 pods watched.

Needs scripts/provision-k8s.sh to have run (scripts/test.sh does).
"""
import argparse, http.client, json, os, re, shutil, ssl, subprocess, sys, tempfile, threading, time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPERATOR_NS = "kaptain-system"


class Api:
    """A tiny HTTPS client of the test API server (token auth, self-signed certificate)."""

    def __init__(self, server, token):
        u = urllib.parse.urlparse(server)
        self.host, self.port, self.token = u.hostname, u.port, token
        self.ctx = ssl._create_unverified_context()

    def conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json"):
        c = self.conn()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = ctype
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def watch(self, path, on_event, stop, timeout_seconds=1800):
        """Streams watch events of `path` to on_event(type, object, monotonic time) until
        on_event returns True or `stop` is set."""
        sep = "&" if "?" in path else "?"
        c = self.conn(timeout=timeout_seconds + 30)
        c.request("GET", f"{path}{sep}watch=1&timeoutSeconds={timeout_seconds}",
                  headers={"Authorization": f"Bearer {self.token}"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"watch {path}: {r.status} {r.read()[:300]!r}")
        buf = b""
        try:
            while not stop.is_set():
                chunk = r.read1(65536)
                if not chunk:
                    return
                at = time.monotonic()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    if on_event(ev["type"], ev["object"], at):
                        return
        finally:
            c.close()


def manifests(namespaces, deployments, replicas):
    docs = []  # the operator namespace is created by main() (it may exist already)
    for n in range(namespaces):
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}})
    for d in range(deployments):
        ns = f"bench-{d % namespaces}"
        name = f"app-{d}"
        labels = {"app": name}
        docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                     "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                              "template": {"metadata": {"labels": labels},
                                           "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                                               "name": "app", "image": f"registry.example.com/app:{d % 7}",
                                               "ports": [{"containerPort": 8080}],
                                               "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                             "limits": {"memory": "64Mi"}},
                                               "env": [{"name": "APP", "value": name}]}]}}}})
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                     "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    return "\n".join(json.dumps(d) for d in docs)


def policy(mode):
    return {"apiVersion": "kaptain.dev/v1alpha1", "kind": "ClusterHealingPolicy",
            "metadata": {"name": "bench-oom"},
            "spec": {"mode": mode, "minConfidence": 0.5, "match": {"checks": ["pod.oom-killed"]},
                     "actions": [{"raiseResources": {"resource": "memory", "factor": 2, "max": "1Gi"}}],
                     "rateLimit": {"actionsPerHour": 100000, "cooldownPerObject": "1m"},
                     "blastRadius": {"maxPods": 100, "maxPercentOfReplicas": 100}}}


def count_pods(kubeconfig):
    p = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-A", "--no-headers",
                        "-o", "custom-columns=P:.status.phase"], capture_output=True, text=True)
    phases = p.stdout.split()
    return len(phases), phases.count("Running")


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def kib(v):
    return int(v.split()[0]) if v else 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def http_text(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    except OSError:
        return 0, ""
    finally:
        c.close()


def metric(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def oom_killed(pod):
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        for k in ("state", "lastState"):
            t = (cs.get(k) or {}).get("terminated") or {}
            if t.get("reason") == "OOMKilled":
                return True
    return False


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q / 100 * len(xs) + 0.5)) - 1))
    return xs[i]


class Actions:
    """Every HealingAction the bench has seen, by the name of its finding's object."""

    def __init__(self, api):
        self.seen, self.lock, self.stop = {}, threading.Condition(), threading.Event()
        self.api = api
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                self.api.watch("/apis/kaptain.dev/v1alpha1/healingactions", self.on_event, self.stop)
            except Exception as e:  # the watch ended or failed: start it again
                if not self.stop.is_set():
                    print(f"  (HealingAction watch: {e}; restarting)", file=sys.stderr)
                    time.sleep(0.5)

    def on_event(self, kind, obj, at):
        if kind == "ADDED":
            o = obj["spec"]["finding"]["object"]
            key = (o.get("namespace"), o["name"])
            with self.lock:
                if key not in self.seen:
                    self.seen[key] = (at, obj)
                    self.lock.notify_all()
        return False

    def wait_for(self, key, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while key not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.seen[key]


def inject(api, ns, pod, usage):
    """Sets the OOM annotation on a pod and returns the monotonic time the bench sees the
    pod's status show the OOM kill (watching that pod)."""
    stop = threading.Event()
    seen = {}
    ready = threading.Event()

    def on_event(kind, obj, at):
        ready.set()
        if oom_killed(obj):
            seen["at"] = at
            return True
        return False

    def watch():
        try:
            api.watch(f"/api/v1/namespaces/{ns}/pods?fieldSelector=metadata.name%3D{pod}", on_event, stop, 120)
        except Exception as e:
            seen["error"] = str(e)
        ready.set()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    ready.wait(30)  # the watch's initial ADDED event: it is listening
    api.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod}",
                {"metadata": {"annotations": {"sim.kaptain.dev/memory-usage": usage}}},
                "application/merge-patch+json")
    t.join(120)
    stop.set()
    if "at" not in seen:
        raise RuntimeError(f"pod {ns}/{pod} was not OOM-killed ({seen.get('error', 'timeout')})")
    return seen["at"]


def choose_pods(api, n, namespaces):
    """One Running pod each of n Deployments none of whose pods was made to fail before (a
    cluster kept from an earlier run has some), spread over the namespaces."""
    groups = {}
    for p in api.request("GET", "/api/v1/pods")["items"]:
        ns = p["metadata"]["namespace"]
        app = (p["metadata"].get("labels") or {}).get("app")
        if not ns.startswith("bench-") or not app:
            continue
        groups.setdefault((ns, app), []).append(p)
    fresh = [(k, ps) for k, ps in sorted(groups.items())
             if not any("sim.kaptain.dev/memory-usage" in (p["metadata"].get("annotations") or {}) for p in ps)]
    by_ns = {}
    for (ns, app), ps in fresh:
        running = [p["metadata"]["name"] for p in ps
                   if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        if running:
            by_ns.setdefault(ns, []).append(running[0])
    out, i = [], 0
    while len(out) < n and any(by_ns.values()):
        ns = f"bench-{i % namespaces}"
        if by_ns.get(ns):
            out.append((ns, by_ns[ns].pop(0)))
        i += 1
    if len(out) < n:
        sys.exit(f"only {len(out)} Deployments have no failed pod yet; start a fresh cluster")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--replicas", type=int, default=5, help="pods per Deployment")
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=25)
    ap.add_argument("--failures", type=int, default=40, help="failures injected, one at a time")
    ap.add_argument("--mode", default="approval", choices=["approval", "dry-run", "auto"],
                    help="the policy's mode (approval: proposals only, the cluster stays steady)")
    ap.add_argument("--operator-log", default=None, help="where to write the operator's log")
    ap.add_argument("--bin-dir", default=None,
                    help="take kaptain and kaptain-testenv from here instead of building them (release)")
    ap.add_argument("--kubeconfig", default=None,
                    help="use the cluster of a running `kaptain-testenv up` (pods are created only when "
                         "fewer than --pods run) instead of starting one")
    a = ap.parse_args()
    if not shutil.which("kubectl"):
        sys.exit("kubectl not found: run scripts/provision-k8s.sh first")

    bin_dir = a.bin_dir
    if bin_dir is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "kaptain", "-p", "kaptain-testenv"], cwd=ROOT,
                       check=True)
        bin_dir = os.path.join(ROOT, "target", "release")
    exe = os.path.join(bin_dir, "kaptain")
    up = None
    if a.kubeconfig is None:
        env = dict(os.environ, KAPTAIN_K8S_BIN=subprocess.run(
            [os.path.join(ROOT, "scripts", "provision-k8s.sh")], capture_output=True, text=True,
            check=True).stdout.strip())
        per_node = a.pods // a.nodes + 20
        up = subprocess.Popen([os.path.join(bin_dir, "kaptain-testenv"), "up", "--nodes", str(a.nodes),
                               "--node-cpu", "256", "--node-memory", "1024Gi", "--node-pods", str(per_node)],
                              stdout=subprocess.PIPE, text=True, env=env)
    op = None
    actions = None
    try:
        if up is not None:
            line = up.stdout.readline().strip()
            m = re.match(r"KUBECONFIG=(.+)", line)
            if not m:
                sys.exit(f"kaptain-testenv up did not print KUBECONFIG (got {line!r})")
            kubeconfig = m.group(1)
        else:
            kubeconfig = a.kubeconfig
        cfg = json.load(open(kubeconfig))
        api = Api(cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"])
        kc = ["kubectl", "--kubeconfig", kubeconfig]

        subprocess.run(kc + ["apply", "-f", os.path.join(ROOT, "deploy", "crds", "kaptain.dev_crds.yaml")],
                       check=True, stdout=subprocess.DEVNULL)
        # A cluster given with --kubeconfig (e.g. kept by bench-live.py) has no operator namespace.
        ns = subprocess.run(kc + ["create", "namespace", OPERATOR_NS], capture_output=True, text=True)
        if ns.returncode != 0 and "AlreadyExists" not in ns.stderr:
            sys.exit(f"cannot create namespace {OPERATOR_NS}: {ns.stderr.strip()}")
        deployments = -(-a.pods // a.replicas)
        t0 = time.perf_counter()
        if count_pods(kubeconfig)[1] < a.pods:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                f.write(manifests(a.namespaces, deployments, a.replicas))
            subprocess.run(kc + ["create", "-f", f.name], check=True, stdout=subprocess.DEVNULL)
        while True:
            total, running = count_pods(kubeconfig)
            print(f"\r  {total} pods, {running} running ({time.perf_counter() - t0:.0f} s)", end="", file=sys.stderr)
            if running >= a.pods:
                break
            if time.perf_counter() - t0 > 1800:
                sys.exit("\ntimed out waiting for pods")
            time.sleep(5)
        print(file=sys.stderr)
        for _ in range(60):
            try:
                api.request("POST", "/apis/kaptain.dev/v1alpha1/clusterhealingpolicies", policy(a.mode))
                break
            except RuntimeError as e:  # the CRD may not be served yet, or the policy exists
                if " 409 " in str(e):
                    break
                err = e
                time.sleep(1)
        else:
            sys.exit(f"cannot create the policy: {err}")

        port = free_port()
        log_path = a.operator_log or os.path.join(tempfile.gettempdir(), f"kaptain-bench-operator-{os.getpid()}.log")
        log = open(log_path, "w")
        t_start = time.perf_counter()
        op = subprocess.Popen([exe, "operator", "--kubeconfig", kubeconfig, "--namespace", OPERATOR_NS,
                               "--metrics-addr", f"127.0.0.1:{port}", "--identity", "bench"],
                              stdout=log, stderr=log)
        while True:
            status, _ = http_text(port, "/readyz")
            _, text = http_text(port, "/metrics")
            if status == 200 and metric(text, "kaptain_operator_leader") == 1 and \
                    metric(text, "kaptain_operator_reconcile_duration_seconds_count") > 0:
                break
            if op.poll() is not None:
                sys.exit(f"the operator exited ({op.returncode}); see {log_path}")
            if time.perf_counter() - t_start > 300:
                sys.exit(f"the operator did not become ready; see {log_path}")
            time.sleep(0.2)
        synced_s = time.perf_counter() - t_start
        # Let the first reconciles (the whole cluster is new to the operator) settle.
        time.sleep(5)
        rss_synced = kib(proc_status(op.pid).get("VmRSS"))
        cpu_before = cpu_seconds(op.pid)
        _, text = http_text(port, "/metrics")
        findings_before = metric(text, "kaptain_operator_findings")
        watched = metric(text, "kaptain_operator_watched_objects")

        actions = Actions(api)
        actions.thread.start()
        time.sleep(1)
        latencies, t_run = [], time.perf_counter()
        for d, (ns, pod) in enumerate(choose_pods(api, a.failures, a.namespaces)):
            failed_at = inject(api, ns, pod, "600Mi")
            got = actions.wait_for((ns, pod), 60)
            if got is None:
                sys.exit(f"no HealingAction for {ns}/{pod} within 60 s; see {log_path}")
            dt = got[0] - failed_at
            latencies.append(dt)
            print(f"  failure {d + 1}/{a.failures}: {ns}/{pod} OOM-killed → {got[1]['metadata']['name']} "
                  f"in {dt:.3f} s", file=sys.stderr)
        run_s = time.perf_counter() - t_run
        st = proc_status(op.pid)
        cpu_run = cpu_seconds(op.pid) - cpu_before
        _, text = http_text(port, "/metrics")

        total, running = count_pods(kubeconfig)
        rec_sum = metric(text, "kaptain_operator_reconcile_duration_seconds_sum")
        rec_n = metric(text, "kaptain_operator_reconcile_duration_seconds_count")
        print(f"cluster: {total} pods ({running} running), {deployments} deployments, {deployments} services, "
              f"{a.nodes} nodes; operator watching {watched:.0f} objects, {findings_before:.0f} findings before")
        print(f"operator: watches synced and leading {synced_s:.1f} s after start; policy mode {a.mode}")
        if latencies:
            print(f"failure → HealingAction, {len(latencies)} failures one at a time (pod status shows OOMKilled → "
                  f"HealingAction seen, both by watch): p50 {pct(latencies, 50):.3f} s, "
                  f"p90 {pct(latencies, 90):.3f} s, p99 {pct(latencies, 99):.3f} s, max {max(latencies):.3f} s  "
                  f"(goal p99 < 2 s)")
        if rec_n:
            print(f"reconciles: {rec_n:.0f}, mean {rec_sum / rec_n * 1000:.0f} ms")
        print(f"operator RSS: peak (VmHWM) {kib(st.get('VmHWM')) / 1024:.0f} MB, after sync "
              f"{rss_synced / 1024:.0f} MB, now {kib(st.get('VmRSS')) / 1024:.0f} MB  (goal < 150 MB)")
        if run_s > 0:
            print(f"operator CPU during the failures: {cpu_run:.1f} s over {run_s:.1f} s "
                  f"({100 * cpu_run / run_s:.0f}% of one core)")
        print(f"operator log: {log_path}")
    finally:
        if actions is not None:
            actions.stop.set()
        if op is not None and op.poll() is None:
            op.terminate()
            try:
                op.wait(timeout=15)
            except subprocess.TimeoutExpired:
                op.kill()
        if up is not None:
            up.terminate()
            up.wait(timeout=30)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    main()
