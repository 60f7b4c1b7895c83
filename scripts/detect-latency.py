#!/usr/bin/env python3
"""Detection latency of `kaptain diagnose` on the real control plane (issue #17).

Starts `kaptain-testenv up` (etcd, kube-apiserver, controller-manager and scheduler v1.20.2
with simulated nodes, on free loopback ports), applies every scenario of tests/scenarios/ to
its own namespace (the scenario's name; its manifests create it), and polls
`kaptain diagnose -n NS -o json` every 5 s. For each scenario it records the seconds from the
apply of its broken state (the last `apply` phase; earlier phases are applied and waited for
first) to the first report holding the expected root cause's check id on the expected object,
and whether that finding says "certain now". The healthy scenario is polled for the whole run,
through a rolling update of its Deployments (`kubectl set image` to another valid tag and
`kubectl set env`), and every finding at medium or above on it is reported.

    python3 scripts/detect-latency.py              # every scenario (about 7 minutes)
    python3 scripts/detect-latency.py --quick      # a few certain-now scenarios + healthy (~3 min)
    python3 scripts/detect-latency.py --only service-selector-typo,missing-configmap
    python3 scripts/detect-latency.py --no-build --timeout 120 --markdown

Scenarios run side by side (each in its own namespace, as the scenario suite does), which is
what makes a full run take minutes rather than an hour; a poll runs one `diagnose -n NS` per
scenario still waiting. Scenarios that need the simulated kubelet's test-only controls
(`set_node_ready`) are listed as skipped; extra `nodes:` are created as plain Node objects
(labels and taints, no kubelet behind them). Every process started here is stopped on exit.
Exit code: 0 when the run completed (whatever the latencies), 2 on an error.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios"
QUICK = [
    "service-selector-typo",
    "missing-configmap",
    "missing-secret-key",
    "ingress-missing-service",
    "unbound-pvc",
]
MEDIUM_UP = {"medium", "high", "critical"}


def log(msg):
    print(f"detect-latency: {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"detect-latency: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


# ---- processes ---------------------------------------------------------------------------

class Env:
    """The control plane and the binaries; stops everything it started on exit."""

    def __init__(self, work):
        self.work = work
        self.procs = []
        self.kaptain = None
        self.testenv = None
        self.env = dict(os.environ)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs = []

    def build(self, skip):
        if not skip:
            log("building kaptain and kaptain-testenv")
            r = subprocess.run(
                ["cargo", "build", "--locked", "-q", "-p", "kaptain", "--bin", "kaptain",
                 "-p", "kaptain-testenv", "--bin", "kaptain-testenv"], cwd=ROOT)
            if r.returncode != 0:
                die("cargo build failed")
        meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                              cwd=ROOT, capture_output=True, text=True)
        if meta.returncode != 0:
            die(f"cargo metadata failed: {meta.stderr.strip()}")
        target = Path(json.loads(meta.stdout)["target_directory"]) / "debug"
        self.kaptain, self.testenv = target / "kaptain", target / "kaptain-testenv"
        for b in (self.kaptain, self.testenv):
            if not b.is_file():
                die(f"{b} is missing (run without --no-build)")

    def start(self, nodes):
        if not self.env.get("KAPTAIN_K8S_BIN"):
            r = subprocess.run([str(ROOT / "scripts" / "provision-k8s.sh")],
                               capture_output=True, text=True)
            if r.returncode != 0:
                die(f"scripts/provision-k8s.sh failed: {r.stderr.strip()[-300:]}")
            self.env["KAPTAIN_K8S_BIN"] = r.stdout.strip()
        out = open(self.work / "testenv.out", "w+")
        err = open(self.work / "testenv.log", "w")
        log("starting a control plane with simulated nodes")
        p = subprocess.Popen([str(self.testenv), "up", "--nodes", str(nodes)], stdout=out,
                             stderr=err, env=self.env, start_new_session=True)
        self.procs.append(p)
        deadline = time.time() + 180
        while time.time() < deadline:
            out.seek(0)
            for line in out.read().splitlines():
                if line.startswith("KUBECONFIG="):
                    self.env["KUBECONFIG"] = line.split("=", 1)[1]
                    return
            if p.poll() is not None:
                tail = (self.work / "testenv.log").read_text()[-800:]
                die(f"kaptain-testenv up exited ({p.returncode}): {tail.strip()}")
            time.sleep(0.5)
        die("kaptain-testenv up printed no KUBECONFIG within 180 s")

    def kubectl(self, *args, stdin=None, check=True):
        r = subprocess.run(["kubectl", "--request-timeout=60s", *args], input=stdin,
                           capture_output=True, text=True, env=self.env)
        if check and r.returncode != 0:
            die(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def diagnose(self, ns):
        """(seconds since the epoch when the report was ready, report)."""
        r = subprocess.run([str(self.kaptain), "diagnose", "-n", ns, "-o", "json",
                            "--min-severity", "info"], capture_output=True, text=True,
                           env=self.env)
        done = time.time()
        if r.returncode not in (0, 1):
            log(f"diagnose -n {ns} failed ({r.returncode}): {r.stderr.strip()[:300]}")
            return done, None
        try:
            return done, json.loads(r.stdout)
        except json.JSONDecodeError as e:
            log(f"diagnose -n {ns}: not JSON ({e})")
            return done, None


# ---- scenarios ---------------------------------------------------------------------------

class Scenario:
    def __init__(self, name):
        self.name = name
        self.dir = SCENARIOS / name
        try:
            self.expected = yaml.safe_load((self.dir / "expected.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            die(f"{self.dir / 'expected.yaml'}: {e}")
        phases = self.expected.get("phases") or [
            {"apply": "manifests.yaml", "wait_for": self.expected.get("wait_for", [])}]
        self.phases = phases
        self.skip = None
        if any("set_node_ready" in p for p in phases):
            self.skip = "needs set_node_ready, which kaptain-testenv up does not offer"
        roots = self.expected.get("root_causes") or []
        self.root = roots[0] if roots else None
        self.t0 = None          # when the broken state was applied
        self.found = None       # seconds to detection
        self.certain = None     # the finding says "certain now"
        self.error = None

    def matches(self, f):
        r = self.root
        o = f.get("object") or {}
        if f.get("id") != r["id"] or o.get("kind") != r["kind"]:
            return False
        name = o.get("name", "")
        if "name" in r:
            return name == r["name"]
        return name.startswith(r.get("name_prefix", ""))


def ready(env, ns, w):
    """Whether one `{kind, name, ready: true}` wait of a setup phase holds."""
    kind, name = w["kind"], w["name"]
    out = env.kubectl("-n", ns, "get", kind.lower(), name, "-o", "json", check=False)
    if not out:
        return False
    o = json.loads(out)
    st, spec = o.get("status") or {}, o.get("spec") or {}
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        return (st.get("observedGeneration", 0) >= o["metadata"].get("generation", 1)
                and st.get("updatedReplicas") == want and st.get("availableReplicas") == want)
    if kind == "ResourceQuota":
        return bool(st.get("hard"))
    return True


def node_manifest(n):
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n["name"], "labels": n.get("labels") or {}},
        "spec": {"taints": n.get("taints") or []},
    })


def set_up(env, s):
    """Applies the scenario's phases; the last apply is the broken state (t0)."""
    try:
        for n in s.expected.get("nodes") or []:
            env.kubectl("apply", "-f", "-", stdin=node_manifest(n))
        applies = [p for p in s.phases if "apply" in p]
        for i, p in enumerate(applies):
            last = i == len(applies) - 1
            env.kubectl("apply", "-f", str(s.dir / p["apply"]))
            if last:
                s.t0 = time.time()
                return
            deadline = time.time() + 180
            waits = [w for w in p.get("wait_for") or [] if w.get("ready")]
            while not all(ready(env, s.name, w) for w in waits):
                if time.time() > deadline:
                    s.error = f"setup phase {i + 1} not ready within 180 s"
                    return
                time.sleep(2)
    except SystemExit:
        s.error = "kubectl apply failed"


# ---- the run ---------------------------------------------------------------------------

def fmt_secs(s):
    return f"{s:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"only {', '.join(QUICK)} and healthy, shorter windows")
    ap.add_argument("--only", help="comma-separated scenario names (healthy is always polled)")
    ap.add_argument("--timeout", type=int, help="seconds per scenario (default 360; quick 120)")
    ap.add_argument("--poll", type=float, default=5.0, help="seconds between polls (default 5)")
    ap.add_argument("--healthy-seconds", type=int,
                    help="how long to poll healthy after its rolling update starts (default 240; quick 75)")
    ap.add_argument("--nodes", type=int, default=3, help="simulated nodes (default 3)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    a = ap.parse_args()
    if a.poll <= 0 or (a.timeout is not None and a.timeout <= 0):
        die("--poll and --timeout must be positive")
    timeout = a.timeout or (120 if a.quick else 360)
    healthy_window = a.healthy_seconds if a.healthy_seconds is not None else (75 if a.quick else 240)
    all_names = sorted(p.name for p in SCENARIOS.iterdir() if (p / "expected.yaml").is_file())
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in all_names]
        if unknown:
            die(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(all_names)}")
    elif a.quick:
        names = QUICK
    else:
        names = all_names
    names = [n for n in names if n != "healthy"]
    scenarios = [Scenario(n) for n in names]
    has_healthy = "healthy" in all_names

    work = Path(tempfile.mkdtemp(prefix="kaptain-latency."))
    env = Env(work)

    def on_signal(signum, _frame):
        env.stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        env.build(a.no_build)
        env.start(a.nodes)
        run(env, scenarios, has_healthy, timeout, healthy_window, a)
    finally:
        env.stop()
        for f in work.iterdir():
            f.unlink()
        work.rmdir()


def run(env, scenarios, has_healthy, timeout, healthy_window, a):
    healthy_bad = []   # (seconds since healthy apply, phase, finding line)
    healthy_polls = 0
    h_t0 = None
    rollout_at = None
    if has_healthy:
        env.kubectl("apply", "-f", str(SCENARIOS / "healthy" / "manifests.yaml"))
        h_t0 = time.time()
    active = [s for s in scenarios if not s.skip]
    setups = [threading.Thread(target=set_up, args=(env, s), daemon=True) for s in active]
    for t in setups:
        t.start()
    log(f"applied {len(active)} scenario(s); polling every {a.poll:g} s")

    def poll_one(s):
        done, rep = env.diagnose(s.name)
        if rep is None or s.t0 is None:
            return
        for f in rep.get("findings") or []:
            if s.matches(f):
                s.found = done - s.t0
                s.certain = any(str(e.get("detail", "")).startswith("certain now:")
                                for e in f.get("evidence") or [])
                return

    ticks = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        while True:
            tick = time.time()
            waiting = [s for s in active if s.t0 is not None and s.found is None and not s.error
                       and tick - s.t0 <= timeout]
            jobs = [pool.submit(poll_one, s) for s in waiting]
            if has_healthy:
                done, rep = env.diagnose("healthy")
                healthy_polls += 1
                phase = "rolling update" if rollout_at else "first apply"
                for f in (rep or {}).get("findings") or []:
                    if f.get("severity") in MEDIUM_UP:
                        o = f.get("object") or {}
                        healthy_bad.append((done - h_t0, phase,
                                            f"{f['severity']} {f['id']} {o.get('kind')}/{o.get('name')}: {f.get('title', '')}"))
                # The rolling update starts once web is ready and the first apply has been
                # polled for 30 s (or after 2 minutes whatever the state).
                since = time.time() - h_t0
                web = {"kind": "Deployment", "name": "web"}
                if rollout_at is None and ((since >= 30 and ready(env, "healthy", web)) or since > 120):
                    roll_healthy(env)
                    rollout_at = time.time()
                    log("healthy: rolling update started (set image web, set env api)")
            for j in jobs:
                j.result()
            ticks.append(time.time() - tick)
            pending = [s for s in active if s.found is None and not s.error
                       and (s.t0 is None or time.time() - s.t0 <= timeout)]
            healthy_done = not has_healthy or (rollout_at and time.time() - rollout_at >= healthy_window)
            if not pending and healthy_done:
                break
            time.sleep(max(0.0, a.poll - (time.time() - tick)))
    rolled = None
    if rollout_at:
        web = {"kind": "Deployment", "name": "web"}
        image = env.kubectl("-n", "healthy", "get", "deployment", "web", "-o",
                            "jsonpath={.spec.template.spec.containers[0].image}", check=False)
        rolled = f"web {image}, {'rolled out' if ready(env, 'healthy', web) else 'still rolling'}"
    report(scenarios, timeout, has_healthy, healthy_polls, healthy_bad, h_t0, rollout_at, a.markdown,
           rolled)
    if ticks:
        print(f"a poll round (every waiting scenario + healthy) took {statistics.mean(ticks):.1f} s "
              f"on average, {max(ticks):.1f} s at most (rounds start every {a.poll:g} s or when "
              f"the previous one ends)")


def roll_healthy(env):
    """A rolling update of the healthy Deployments: web to another valid tag, api an env change."""
    dep = json.loads(env.kubectl("-n", "healthy", "get", "deployment", "web", "-o", "json"))
    c = dep["spec"]["template"]["spec"]["containers"][0]
    repo = c["image"].rsplit(":", 1)[0]
    env.kubectl("-n", "healthy", "set", "image", "deployment/web", f"{c['name']}={repo}:2.1")
    env.kubectl("-n", "healthy", "set", "env", "deployment/api", "LATENCY_ROLL=1")


def report(scenarios, timeout, has_healthy, polls, bad, h_t0, rollout_at, markdown, rolled):
    rows = []
    for s in scenarios:
        exp = s.root["id"] if s.root else "-"
        if s.skip:
            rows.append((s.name, exp, "-", f"skipped: {s.skip}"))
        elif s.error:
            rows.append((s.name, exp, "-", f"error: {s.error}"))
        elif s.found is None:
            rows.append((s.name, exp, "-", f"not within {timeout} s"))
        else:
            rows.append((s.name, exp, "yes" if s.certain else "no", fmt_secs(s.found)))
    head = ("scenario", "expected root cause", "certain now", "seconds")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            print("| " + " | ".join(f"`{c}`" if i == 1 else c for i, c in enumerate(r)) + " |")
    else:
        w = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
        for r in [head] + rows:
            print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    found = [s for s in scenarios if s.found is not None]
    ran = [s for s in scenarios if not s.skip]
    skipped = len(scenarios) - len(ran)
    if found:
        secs = [s.found for s in found]
        print(f"\ndetected {len(found)} of {len(ran)} run"
              f"{f' ({skipped} skipped)' if skipped else ''}: median {statistics.median(secs):.0f} s, "
              f"max {max(secs):.0f} s")
        certain = [s.found for s in found if s.certain]
        if certain:
            within = sum(1 for x in certain if x <= 30)
            print(f"certain now: {len(certain)}, {within} within 30 s (median "
                  f"{statistics.median(certain):.0f} s, max {max(certain):.0f} s)")
    else:
        print("\nno scenario detected")
    if not has_healthy:
        print("healthy: no healthy scenario in tests/scenarios/")
        return
    roll = f", rolling update at {rollout_at - h_t0:.0f} s ({rolled})" if rollout_at else ""
    if not bad:
        print(f"healthy: {polls} polls over {time.time() - h_t0:.0f} s{roll}: "
              f"no finding at medium or above")
    else:
        print(f"healthy: {polls} polls{roll}: {len(bad)} finding(s) at medium or above:")
        seen = set()
        for t, phase, line in bad:
            if line in seen:
                continue
            seen.add(line)
            print(f"  at {t:.0f} s ({phase}): {line}")


if __name__ == "__main__":
    main()
