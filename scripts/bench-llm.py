#!/usr/bin/env python3
"""LLM benchmark: the embedded runtime against llama.cpp's server on the test GGUF, and
`kaptain` end to end, one run.

Prints, per runner (Kaptain's embedded runtime via the llm_bench example; llama.cpp's server,
llama-cpp-python, on the same GGUF with --n_threads 2): model load time, time to first token
and generation tokens/s for the same rendered ~200-token prompt generating 64 tokens (greedy,
stop tokens ignored / biased away), prompt tokens/s, peak RSS, and (embedded only) the
JSON-Schema constraint's ms per token and constrained tokens/s. Then the ratios embedded /
llama.cpp (issue 12's goal: tokens/s ratio >= 0.7) and the end-to-end row: wall time and peak
RSS of the release `kaptain` answering "why is checkout failing?" over examples/broken-shop
with no model (`kaptain ask`, goal < 2 s) and with the embedded model (goal < 15 s; through
`kaptain chat`, since `ask` reads that question whole and never hands it to the model).
Nothing is asserted: it prints.

    scripts/bench-llm.py [--model FILE] [--prompt-tokens 200] [--gen-tokens 64] [--no-e2e] [--json]

llama.cpp's server comes from KAPTAIN_LLAMA_SERVER_PYTHON, else scripts/provision-llama-server.sh;
it is stopped at the end however the run ends. Each runner is a function (model, args,
results so far) returning a dict of figures (or None when it cannot run here); add one to
RUNNERS to compare.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"bench-llm: {msg}", file=sys.stderr, flush=True)


def model_file(given):
    if given:
        return given
    out = subprocess.run([os.path.join(ROOT, "scripts", "provision-llm-model.sh")],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


_BUILT = []


def release_build():
    """The llm_bench example and the kaptain binary, built once in one cargo run (one feature
    resolution, so neither rebuilds the other's dependencies); the release directory."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if not _BUILT:
        log("building the llm_bench example and kaptain (release)")
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "kaptain-llm", "--example", "llm_bench",
                        "-p", "kaptain", "--bin", "kaptain"], cwd=ROOT, env=env, check=True)
        _BUILT.append(True)
    return os.path.join(env["CARGO_TARGET_DIR"], "release")


def run_embedded(model, a, results):
    """Kaptain's embedded runtime (candle, in-process), via the llm_bench example."""
    exe = os.path.join(release_build(), "examples", "llm_bench")
    log(f"running {exe}")
    out = subprocess.run([exe, model, str(a.prompt_tokens), str(a.gen_tokens)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_mib(pid):
    """Peak RSS (VmHWM) of a live process, MiB; None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def http_json(url, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def llama_python():
    """The venv python with llama_cpp.server: KAPTAIN_LLAMA_SERVER_PYTHON, else provisioned."""
    py = os.environ.get("KAPTAIN_LLAMA_SERVER_PYTHON", "").strip()
    if py:
        return py
    log("KAPTAIN_LLAMA_SERVER_PYTHON is not set: provisioning llama-cpp-python (minutes the first time)")
    out = subprocess.run([os.path.join(ROOT, "scripts", "provision-llama-server.sh")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        log(f"provision-llama-server.sh failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    return out.stdout.strip().splitlines()[-1]


# llama.cpp's own figures, printed after each completion (llama-cpp-python's verbose mode).
PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
EVAL = re.compile(r"(?<!prompt )eval time =\s*([\d.]+) ms /\s*(\d+) runs")


def stream_completion(base, body):
    """A streamed /v1/completions: (ttft_s, chunk arrival times, text, finish_reason)."""
    req = urllib.request.Request(f"{base}/v1/completions", data=json.dumps(dict(body, stream=True)).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.monotonic()
    ttft, times, text, finish = None, [], [], None
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            choice = json.loads(data)["choices"][0]
            if choice.get("text"):
                now = time.monotonic()
                if ttft is None:
                    ttft = now - t0
                times.append(now)
                text.append(choice["text"])
            finish = choice.get("finish_reason") or finish
    return ttft, times, "".join(text), finish


def run_llama_server(model, a, results):
    """llama.cpp's server (llama-cpp-python) on the same GGUF; None when it cannot run here.

    The same rendered prompt as the embedded runner (its chat template applied, sent to
    /v1/completions as text), greedy, `max_tokens` = `min_tokens` = the generated count and the
    model's stop tokens biased away (the API has no `ignore_eos`), so that it generates the
    same number of tokens. Load: from the start of the process until /v1/models answers.
    TTFT: the first streamed chunk with text. Tokens/s: llama.cpp's own `eval time` line for
    the measured request (fallback: (n-1) / (last chunk - first chunk) on the stream)."""
    emb = results.get("embedded")
    if not emb or "prompt" not in emb:
        log("llama.cpp: needs the embedded runner's rendered prompt; not run")
        return None
    py = llama_python()
    if not py:
        return None
    port = free_port()
    logf = tempfile.NamedTemporaryFile(prefix="bench-llm-llama-server-", suffix=".log", delete=False)
    cmd = [py, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", "2"]
    log(f"starting {' '.join(cmd)}")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        load_s = None
        while time.monotonic() - t0 < 300:
            if proc.poll() is not None:
                break
            try:
                http_json(f"{base}/v1/models", timeout=5)
                load_s = time.monotonic() - t0
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        if load_s is None:
            with open(logf.name, errors="replace") as f:
                tail = f.read()[-2000:]
            log(f"llama.cpp: the server did not become ready:\n{tail}")
            return None
        n = a.gen_tokens
        body = {"prompt": emb["prompt"], "max_tokens": n, "min_tokens": n, "temperature": 0.0,
                "top_k": 1, "repeat_penalty": 1.0,
                "logit_bias": {str(t): -100.0 for t in emb.get("stop_tokens", [])}}
        # One warm-up request, as the embedded runner does, then the measured one, streamed.
        # The warm-up's prompt differs from the first token on: llama-cpp-python reuses the
        # longest cached prefix, and the measured request must process its whole prompt, as
        # the embedded runner does.
        warm = http_json(f"{base}/v1/completions", dict(body, prompt="Warm-up.\n" + emb["prompt"]))
        log_pos = os.path.getsize(logf.name)
        ttft, times, text, finish = stream_completion(base, body)
        time.sleep(0.5)  # the timings are printed after the last chunk
        with open(logf.name, errors="replace") as f:
            f.seek(log_pos)
            timings = f.read()
        out = {"runner": "llama.cpp", "server": "llama-cpp-python " + llama_version(py),
               "threads": 2, "load_s": load_s, "ttft_s": ttft,
               "generated_tokens": warm["usage"]["completion_tokens"],
               "finish_reason": finish, "answer_start": text[:80]}
        pe, ev = PROMPT_EVAL.findall(timings), EVAL.findall(timings)
        if pe:
            ms, toks = float(pe[-1][0]), int(pe[-1][1])
            out["prompt_tokens"] = toks
            if ms > 0:
                out["prompt_tokens_per_s"] = toks / (ms / 1000.0)
        if ev and float(ev[-1][0]) > 0:
            ms, runs = float(ev[-1][0]), int(ev[-1][1])
            out["tokens_per_s"] = runs / (ms / 1000.0)
            out["tokens_per_s_from"] = "llama.cpp eval time"
        elif len(times) > 1:
            out["tokens_per_s"] = (len(times) - 1) / (times[-1] - times[0])
            out["tokens_per_s_from"] = "stream chunks"
        out["peak_rss_mib"] = vm_hwm_mib(proc.pid)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
        os.unlink(logf.name)


def llama_version(py):
    out = subprocess.run([py, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def timed_kaptain(exe, args, env, stdin=None):
    """Runs the binary under /usr/bin/time -v: (wall s, peak RSS MiB, exit code, stdout)."""
    with tempfile.NamedTemporaryFile(prefix="bench-llm-time-", delete=False) as tf:
        pass
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, exe] + args, cwd=ROOT, env=env,
                       input=stdin, capture_output=True, text=True)
    wall = time.monotonic() - t0
    rss = None
    with open(tf.name) as f:
        for line in f:
            if "Maximum resident set size" in line:
                rss = int(line.split(":")[1]) / 1024.0
    os.unlink(tf.name)
    return wall, rss, p.returncode, p.stdout, p.stderr


def run_e2e(model, a):
    """`kaptain ask` over examples/broken-shop with no model, and the embedded model
    investigating the same question through `kaptain chat` (release build)."""
    exe = os.path.join(release_build(), "kaptain")
    home = tempfile.mkdtemp(prefix="bench-llm-home-")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAPTAIN_LLM_", "KAPTAIN_CONFIG"))}
    base.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, "config"),
                XDG_CACHE_HOME=os.path.join(home, "cache"), NO_COLOR="1")
    q = a.question
    out = {"question": q, "from": "examples/broken-shop"}
    ask = ["ask", q, "--from", "examples/broken-shop"]
    timed_kaptain(exe, ask, base)  # warm-up (page cache)
    wall, rss, code, _, err = timed_kaptain(exe, ask, base)
    out["no_model"] = {"command": "kaptain " + " ".join(ask), "wall_s": wall, "peak_rss_mib": rss,
                       "exit": code}
    if code != 0:
        log(f"kaptain ask exited {code}: {err.strip()}")
    # `ask` hands a question to the investigator only when the rule reader could not read all
    # of it, and it reads this one whole; `chat` hands every line to the investigator when a
    # model is set.
    env_m = dict(base, KAPTAIN_LLM_PROVIDER="embedded", KAPTAIN_LLM_MODEL_FILE=model)
    chat = ["chat", "--from", "examples/broken-shop"]
    log("kaptain chat with the embedded model (one question)")
    wall, rss, code, stdout, err = timed_kaptain(exe, chat, env_m, stdin=q + "\n")
    tail = [l for l in stdout.splitlines() if l.startswith("Asked ")]
    out["embedded"] = {"command": f"echo {q!r} | kaptain chat --from examples/broken-shop",
                       "wall_s": wall, "peak_rss_mib": rss, "exit": code,
                       "summary": tail[-1] if tail else None,
                       "tools_called": "Tools called:" in stdout}
    if code != 0 or not tail:
        log(f"kaptain chat exited {code}: {err.strip()[-500:]}")
    shutil.rmtree(home, ignore_errors=True)
    return out


RUNNERS = [("embedded", run_embedded), ("llama.cpp", run_llama_server)]

ROWS = [
    ("load_s", "model load (s)", "{:.2f}"),
    ("prompt_tokens", "prompt tokens", "{}"),
    ("generated_tokens", "generated tokens", "{}"),
    ("ttft_s", "time to first token (s)", "{:.3f}"),
    ("prompt_tokens_per_s", "prompt tokens/s", "{:.1f}"),
    ("tokens_per_s", "generation tokens/s", "{:.1f}"),
    ("constrained_tokens_per_s", "constrained tokens/s (tool call)", "{:.1f}"),
    ("mask_ms_per_token", "constraint mask ms/token", "{:.2f}"),
    ("peak_rss_mib", "peak RSS (MiB)", "{:.0f}"),
]


E2E_GOALS = {"no_model": 2.0, "embedded": 15.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--prompt-tokens", type=int, default=200)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--question", default="why is checkout failing?",
                    help="the end-to-end question over examples/broken-shop")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end kaptain runs")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args()
    model = model_file(a.model)
    load_start = os.getloadavg()[0]  # other work on the machine skews every figure
    results = {}
    for name, fn in RUNNERS:
        r = fn(model, a, results)
        if r is None:
            log(f"{name}: not run")
        else:
            results[name] = r
    e2e = None if a.no_e2e else run_e2e(model, a)
    prompt = results.get("embedded", {}).pop("prompt", None)
    ratios = {}
    if "embedded" in results and "llama.cpp" in results:
        e, l = results["embedded"], results["llama.cpp"]
        for key in ("tokens_per_s", "prompt_tokens_per_s"):
            if e.get(key) and l.get(key):
                ratios[f"{key}_embedded_over_llama_cpp"] = e[key] / l[key]
        if e.get("ttft_s") and l.get("ttft_s"):
            ratios["ttft_llama_cpp_over_embedded"] = l["ttft_s"] / e["ttft_s"]
    if a.json:
        print(json.dumps({"model": model, "cores": os.cpu_count(),
                          "load_average": {"start": load_start, "end": os.getloadavg()[0]}, "runners": results,
                          "ratios": ratios, "e2e": e2e, "prompt": prompt}, indent=2))
        return
    names = list(results)
    print(f"model: {model}  (cores: {os.cpu_count()}, load average at the start "
          f"{load_start:.1f}, at the end {os.getloadavg()[0]:.1f})")
    print(f"{'':36}" + "".join(f"{n:>14}" for n in names))
    for key, label, fmt in ROWS:
        cells = [fmt.format(results[n][key]) if results[n].get(key) is not None else "-" for n in names]
        print(f"{label:36}" + "".join(f"{c:>14}" for c in cells))
    if "llama.cpp" in results:
        l = results["llama.cpp"]
        print(f"llama.cpp: {l.get('server')}, {l.get('threads')} threads, load = process start until "
              f"/v1/models answers; tokens/s from {l.get('tokens_per_s_from', '-')}; "
              f"finish_reason {l.get('finish_reason')}")
    for key, label in [("tokens_per_s_embedded_over_llama_cpp", "tokens/s ratio embedded / llama.cpp (goal >= 0.7)"),
                       ("prompt_tokens_per_s_embedded_over_llama_cpp", "prompt tokens/s ratio embedded / llama.cpp"),
                       ("ttft_llama_cpp_over_embedded", "time to first token ratio llama.cpp / embedded")]:
        if key in ratios:
            print(f"{label}: {ratios[key]:.2f}")
    if "embedded" in results and results["embedded"].get("tool_call"):
        print(f"constrained tool call: {json.dumps(results['embedded']['tool_call'])}")
    if e2e:
        print(f"end to end, {e2e['question']!r} over {e2e['from']} (release build):")
        for key, label in [("no_model", "no model (kaptain ask)"),
                           ("embedded", "embedded model (kaptain chat: ask reads this question whole, "
                                        "so only chat hands it to the investigator)")]:
            r = e2e[key]
            goal = E2E_GOALS[key]
            verdict = "meets" if r["wall_s"] < goal else "misses"
            rss = f", peak RSS {r['peak_rss_mib']:.0f} MiB" if r.get("peak_rss_mib") else ""
            print(f"  {label}: {r['wall_s']:.2f} s{rss}, exit {r['exit']} "
                  f"({verdict} the goal < {goal:.0f} s)")
            if r.get("summary"):
                print(f"    {r['summary']}")


if __name__ == "__main__":
    main()
