#!/usr/bin/env python3
"""Offline benchmark for `kaptain diagnose --from`.

Generates a synthetic snapshot (scripts/gen-synthetic.py; default 10,000 pods, 2,000
Deployments with ReplicaSets, 2,000 Services, events), then measures in one run, with the
release binary:
  - `kaptain diagnose --from DIR -o json` wall time, objects/s and peak RSS;
  - `kaptain parse-only DIR` wall time: the same files merely parsed with serde_json into
    serde_json::Value in the same binary (files in parallel);
and prints the ratio diagnose / parse-only. Goal: ratio <= 1.5, 10k pods well under 2 s.
"""
import argparse, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(cmd):
    """Runs cmd; returns (result, wall seconds, peak RSS in KiB of that process alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Result(proc.returncode, out.read(), err.read()), dt, usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--deployments", type=int, default=2000)
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the best is kept")
    ap.add_argument("--dir", help="reuse/generate the snapshot here")
    a = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kaptain"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "kaptain")
    d = a.dir or tempfile.mkdtemp(prefix="kaptain-bench-")
    if not os.path.exists(os.path.join(d, "kaptain-snapshot.json")):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-synthetic.py"), "--pods", str(a.pods),
                        "--deployments", str(a.deployments), "--services", str(a.services), "-o", d], check=True)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)

    # Parse-only first, so the peak RSS reading after it is the baseline's.
    best_parse, parse_rss = None, 0
    for _ in range(a.repeat):
        p, dt, parse_rss = run([exe, "parse-only", d])
        if p.returncode != 0:
            sys.exit("parse-only failed: " + p.stderr.decode())
        best_parse = dt if best_parse is None else min(best_parse, dt)
    best_diag, rss, findings, objects = None, 0, 0, 0
    for _ in range(a.repeat):
        p, dt, r = run([exe, "diagnose", "--from", d, "-o", "json", "--min-severity", "info"])
        rss = max(rss, r)
        if p.returncode not in (0, 1):
            sys.exit("diagnose failed: " + p.stderr.decode())
        best_diag = dt if best_diag is None else min(best_diag, dt)
        findings = len(json.loads(p.stdout)["findings"])
    objects = int(subprocess.run([exe, "parse-only", d], stdout=subprocess.PIPE).stdout.split()[0])

    print(f"snapshot: {d} ({objects} objects, {size / 1e6:.1f} MB, {a.pods} pods)")
    print(f"diagnose --from: {best_diag:.3f} s  ({objects / best_diag:,.0f} objects/s, {findings} findings)")
    print(f"parse-only (serde_json::Value): {best_parse:.3f} s")
    print(f"peak RSS: diagnose {rss / 1024:.0f} MB, parse-only {parse_rss / 1024:.0f} MB")
    print(f"ratio diagnose / parse-only: {best_diag / best_parse:.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
