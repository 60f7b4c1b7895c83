#!/usr/bin/env python3
"""Live scale benchmark for `kaptain diagnose -A`.

Starts the test control plane with simulated nodes (`kaptain-testenv up`), creates
Deployments (with their ReplicaSets and pods, made Running by the simulated kubelet, which also
writes the kubelet's events) and Services until >= --pods pods exist, then measures in one run:

  - `kaptain diagnose -A -o json` wall time (best of --repeat) and its peak RSS;
  - `kubectl get <the same kinds> -A -o json > /dev/null` wall time;
  - the raw floor: one unpaginated GET per kind, all issued concurrently (curl);

and prints kaptain ÷ kubectl and kaptain ÷ raw. Goals: <= 0.3 of kubectl, <= 2.0 of the raw
floor, RSS under 250 MB. Needs scripts/provision-k8s.sh to have run (scripts/test.sh does).

To iterate on one populated cluster (creating 10,000 pods takes minutes):

  scripts/bench-live.py --keep                  # create, measure, print KUBECONFIG=..., keep running
  scripts/bench-live.py --kubeconfig PATH       # measure again against that cluster (no setup)
  scripts/bench-live.py --keep --repeat 0       # only create, print KUBECONFIG=... and wait

--keep tears the cluster down on Ctrl-C or SIGTERM. The API server expires Events after an hour
(its default --event-ttl), so a kept cluster loses its ~40k kubelet Events after that: measure
within the hour. --save-findings FILE writes the findings (check id, fingerprint, object, severity),
sorted, to compare a change's output with the output before it; --exe measures a given binary
(e.g. a copy of the one before a change) without building.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (API path prefix, resource) of every kind Kaptain lists that a v1.20 server serves.
KINDS = [
    ("/api/v1", "pods"), ("/api/v1", "nodes"), ("/api/v1", "namespaces"), ("/api/v1", "services"),
    ("/api/v1", "endpoints"), ("/api/v1", "configmaps"), ("/api/v1", "secrets"),
    ("/api/v1", "serviceaccounts"), ("/api/v1", "persistentvolumeclaims"),
    ("/api/v1", "persistentvolumes"), ("/api/v1", "events"), ("/api/v1", "resourcequotas"),
    ("/apis/apps/v1", "deployments"), ("/apis/apps/v1", "replicasets"),
    ("/apis/apps/v1", "statefulsets"), ("/apis/apps/v1", "daemonsets"), ("/apis/batch/v1", "jobs"),
    ("/apis/networking.k8s.io/v1", "ingresses"), ("/apis/networking.k8s.io/v1", "ingressclasses"),
    ("/apis/networking.k8s.io/v1", "networkpolicies"), ("/apis/storage.k8s.io/v1", "storageclasses"),
    ("/apis/admissionregistration.k8s.io/v1", "validatingwebhookconfigurations"),
    ("/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
]


class Result:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


def run(cmd, env=None):
    """Runs cmd; returns (result, wall seconds, peak RSS KiB of that process alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        return Result(os.waitstatus_to_exitcode(status), out.read(), err.read()), dt, usage.ru_maxrss


def manifests(namespaces, deployments, replicas):
    docs = []
    for n in range(namespaces):
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}})
    for d in range(deployments):
        ns = f"bench-{d % namespaces}"
        name = f"app-{d}"
        labels = {"app": name}
        docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                     "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                              "template": {"metadata": {"labels": labels},
                                           "spec": {"containers": [{
                                               "name": "app", "image": f"registry.example.com/app:{d % 7}",
                                               "ports": [{"containerPort": 8080}],
                                               "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                             "limits": {"memory": "64Mi"}},
                                               "env": [{"name": "APP", "value": name}]}]}}}})
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                     "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    return "\n".join(json.dumps(d) for d in docs)


def count_pods(kubeconfig):
    p = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-A", "--no-headers",
                        "-o", "custom-columns=P:.status.phase"], capture_output=True, text=True)
    phases = p.stdout.split()
    return len(phases), phases.count("Running")


def measure(a, exe, kubeconfig):
    """Runs every measurement against a populated cluster and prints the results."""
    cfg = json.load(open(kubeconfig))
    server = cfg["clusters"][0]["cluster"]["server"]
    token = cfg["users"][0]["user"]["token"]
    kaptain_best, rss, findings, by_id, report = None, 0, 0, {}, []
    for _ in range(a.repeat):
        r, dt, peak = run([exe, "diagnose", "-A", "-o", "json", "--kubeconfig", kubeconfig])
        if r.returncode not in (0, 1):
            sys.exit("kaptain failed: " + r.stderr.decode())
        kaptain_best = dt if kaptain_best is None else min(kaptain_best, dt)
        rss = max(rss, peak)
        report = json.loads(r.stdout)["findings"]
        findings = len(report)
        by_id = {}
        for f in report:
            by_id[f["id"]] = by_id.get(f["id"], 0) + 1
    if a.save_findings:
        # No titles: they hold relative times ("5m ago") that change from run to run.
        rows = sorted({(f["id"], f["fingerprint"], f["object"].get("kind", ""), f["object"].get("namespace") or "",
                        f["object"].get("name", ""), f["severity"]) for f in report})
        with open(a.save_findings, "w") as out:
            for row in rows:
                out.write("\t".join(row) + "\n")
    cache_best = None
    for _ in range(a.repeat):
        r, dt, _ = run([exe, "diagnose", "-A", "-o", "json", "--page-size", "0", "--kubeconfig", kubeconfig])
        cache_best = dt if cache_best is None else min(cache_best, dt)
    resources = ",".join(r if p.startswith("/api/") else f"{r}.{p.split('/')[2]}" for p, r in KINDS)
    kubectl_best = None
    for _ in range(a.repeat):
        r, dt, _ = run(["kubectl", "--kubeconfig", kubeconfig, "get", resources, "-A", "-o", "json"])
        if r.returncode != 0:
            sys.exit("kubectl failed: " + r.stderr.decode())
        kubectl_best = dt if kubectl_best is None else min(kubectl_best, dt)
    raw_best = None
    for _ in range(a.repeat):
        t = time.perf_counter()
        procs = [subprocess.Popen(["curl", "-sk", "-o", "/dev/null", "-H", f"Authorization: Bearer {token}",
                                   f"{server}{p}/{r}"]) for p, r in KINDS]
        for p in procs:
            p.wait()
        dt = time.perf_counter() - t
        raw_best = dt if raw_best is None else min(raw_best, dt)

    total, running = count_pods(kubeconfig)
    print(f"cluster: {total} pods ({running} running), {a.nodes} nodes, {len(KINDS)} kinds listed")
    print(f"kaptain diagnose -A: {kaptain_best:.2f} s, peak RSS {rss / 1024:.0f} MB, {findings} findings "
          f"({', '.join(f'{k} x{v}' for k, v in sorted(by_id.items()))})")
    print(f"kaptain diagnose -A --page-size 0 (watch cache, unpaginated): {cache_best:.2f} s "
          f"(ratio to raw floor {cache_best / raw_best:.2f})")
    print(f"kubectl get (same kinds) -A -o json: {kubectl_best:.2f} s")
    print(f"raw concurrent unpaginated GETs: {raw_best:.2f} s")
    print(f"ratio kaptain / kubectl: {kaptain_best / kubectl_best:.2f}  (goal <= 0.3)")
    print(f"ratio kaptain / raw floor: {kaptain_best / raw_best:.2f}  (goal <= 2.0)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--replicas", type=int, default=5, help="pods per Deployment")
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (0: measure nothing)")
    ap.add_argument("--keep", action="store_true",
                    help="after measuring, print KUBECONFIG=... and keep the cluster until Ctrl-C/SIGTERM")
    ap.add_argument("--kubeconfig", help="measure against this already populated cluster (left by --keep)")
    ap.add_argument("--save-findings", metavar="FILE", help="write the findings, sorted, to FILE")
    ap.add_argument("--exe", help="kaptain binary to measure (default: build target/release/kaptain); "
                                  "kaptain-testenv is taken from the same directory")
    a = ap.parse_args()
    if not shutil.which("kubectl"):
        sys.exit("kubectl not found: run scripts/provision-k8s.sh first")

    if a.exe:
        exe = os.path.abspath(a.exe)
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "kaptain", "-p", "kaptain-testenv"], cwd=ROOT,
                       check=True)
        exe = os.path.join(ROOT, "target", "release", "kaptain")
    testenv = os.path.join(os.path.dirname(exe), "kaptain-testenv")
    if a.kubeconfig:
        if a.repeat > 0:
            measure(a, exe, a.kubeconfig)
        return
    env = dict(os.environ, KAPTAIN_K8S_BIN=subprocess.run([os.path.join(ROOT, "scripts", "provision-k8s.sh")],
                                                          capture_output=True, text=True, check=True).stdout.strip())
    per_node = a.pods // a.nodes + 20
    up = subprocess.Popen([testenv, "up", "--nodes", str(a.nodes),
                           "--node-cpu", "256", "--node-memory", "1024Gi", "--node-pods", str(per_node)],
                          stdout=subprocess.PIPE, text=True, env=env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        line = up.stdout.readline().strip()
        m = re.match(r"KUBECONFIG=(.+)", line)
        if not m:
            sys.exit(f"kaptain-testenv up did not print KUBECONFIG (got {line!r})")
        kubeconfig = m.group(1)

        deployments = a.pods // a.replicas
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(manifests(a.namespaces, deployments, a.replicas))
        t0 = time.perf_counter()
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "create", "-f", f.name],
                       check=True, stdout=subprocess.DEVNULL)
        while True:
            total, running = count_pods(kubeconfig)
            print(f"\r  {total} pods, {running} running ({time.perf_counter() - t0:.0f} s)", end="", file=sys.stderr)
            if running >= a.pods:
                break
            if time.perf_counter() - t0 > 1800:
                sys.exit("\ntimed out waiting for pods")
            time.sleep(5)
        print(file=sys.stderr)
        print(f"created {deployments} deployments, {deployments} services", flush=True)
        if a.repeat > 0:
            measure(a, exe, kubeconfig)
        if a.keep:
            print(f"KUBECONFIG={kubeconfig}", flush=True)
            print("keeping the cluster up until Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
            while up.poll() is None:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        up.terminate()
        up.wait(timeout=30)


if __name__ == "__main__":
    main()
