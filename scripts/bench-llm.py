#!/usr/bin/env python3
"""LLM benchmark: the embedded runtime's figures on the test GGUF, one run.

Prints, per runner: model load time, time to first token and generation tokens/s for a
~200-token prompt generating 64 tokens, and (embedded only) ms per token of the JSON-Schema
constraint mask and the peak RSS of a process with the model loaded. When a second runner
ran (llama.cpp's server on the same GGUF), ratios embedded / llama.cpp are printed
(issue 12's goal: tokens/s ratio >= 0.7).

    scripts/bench-llm.py [--model FILE] [--prompt-tokens 200] [--gen-tokens 64] [--json]

Each runner is a function returning a dict of figures (or None when it cannot run here);
add one to RUNNERS to compare.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"bench-llm: {msg}", file=sys.stderr, flush=True)


def model_file(given):
    if given:
        return given
    out = subprocess.run([os.path.join(ROOT, "scripts", "provision-llm-model.sh")],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def run_embedded(model, prompt_tokens, gen_tokens):
    """Kaptain's embedded runtime (candle, in-process), via the llm_bench example."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    log("building the llm_bench example (release)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kaptain-llm", "--example", "llm_bench"],
                   cwd=ROOT, env=env, check=True)
    exe = os.path.join(env["CARGO_TARGET_DIR"], "release", "examples", "llm_bench")
    log(f"running {exe}")
    out = subprocess.run([exe, model, str(prompt_tokens), str(gen_tokens)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_llama_server(model, prompt_tokens, gen_tokens):
    """llama.cpp's server on the same GGUF (scripts/provision-llama-server.sh); None when it
    is not provisioned. To be filled in: the same prompt, ignore_eos, n_predict=gen_tokens,
    greedy; load_s, ttft_s, tokens_per_s from its timings."""
    return None


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--prompt-tokens", type=int, default=200)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args()
    model = model_file(a.model)
    results = {}
    for name, fn in RUNNERS:
        r = fn(model, a.prompt_tokens, a.gen_tokens)
        if r is None:
            log(f"{name}: not run")
        else:
            results[name] = r
    if a.json:
        print(json.dumps(results, indent=2))
        return
    names = list(results)
    print(f"model: {model}  (cores: {os.cpu_count()})")
    print(f"{'':36}" + "".join(f"{n:>14}" for n in names))
    for key, label, fmt in ROWS:
        cells = [fmt.format(results[n][key]) if key in results[n] else "-" for n in names]
        print(f"{label:36}" + "".join(f"{c:>14}" for c in cells))
    if "embedded" in results and "llama.cpp" in results:
        e, l = results["embedded"], results["llama.cpp"]
        for key, label in [("tokens_per_s", "tokens/s ratio embedded / llama.cpp (goal >= 0.7)"),
                           ("prompt_tokens_per_s", "prompt tokens/s ratio embedded / llama.cpp")]:
            if e.get(key) and l.get(key):
                print(f"{label}: {e[key] / l[key]:.2f}")
        if e.get("ttft_s") and l.get("ttft_s"):
            print(f"time to first token ratio llama.cpp / embedded: {l['ttft_s'] / e['ttft_s']:.2f}")
    if "embedded" in results and results["embedded"].get("tool_call"):
        print(f"constrained tool call: {json.dumps(results['embedded']['tool_call'])}")


if __name__ == "__main__":
    main()
