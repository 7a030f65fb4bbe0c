#!/usr/bin/env python3
"""loom-post's cost-gated CSE next to binaryen's `wasm-opt --local-cse`, on real
Rust-built modules.

For every module (default: the shared corpus; `corpus/fetch` prints one path per
line) it runs, each timed as the median of --runs runs:

  loom-post   `loom-post optimize IN -o OUT --format json --passes cse` (the whole
              CLI: read, CSE, validate, write); code bytes before/after from its JSON
  wasm-opt    `wasm-opt [FLAGS] IN -o OUT0`              (no passes: read + write)
              `wasm-opt [FLAGS] --local-cse IN -o OUT1`  (timed)
              FLAGS: none first (binaryen 108 takes the features from a
              `target_features` section, else MVP); `--all-features` when that fails.

Savings are each tool against its own baseline, never a re-encode against a
non-re-encode (BRIEF.md): loom-post saved = input code - output code (loom-post
keeps every byte it does not optimize); wasm-opt saved = OUT0 code - OUT1 code
(binaryen re-encodes everything, so its plain write is its baseline). Code
sizes are code-section payload bytes (loom_post.wasm.module.read_module().code_size,
what `wasm-objdump -h` reports).

Prints a Markdown table, totals and medians, "never larger" and "loom >= wasm-opt"
counts, and failures.
Usage:  python3 bench/bench_cse.py [--runs N] [--fetch SCRIPT] [--json FILE] [MODULE.wasm ...]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from loom_post.wasm.module import read_module  # noqa: E402
from corpus import corpus_paths, default_fetch  # noqa: E402


def loom_post_cmd():
    exe = shutil.which("loom-post")
    return [exe] if exe else [sys.executable, "-m", "loom_post"]


def timed(cmd, runs):
    """(median seconds, last CompletedProcess) of `runs` runs; stops at a failure."""
    times, proc = [], None
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:  # an empty result cache: every run is cold
            env = dict(os.environ, XDG_CACHE_HOME=cache)
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            break
    return statistics.median(times), proc


def code_size(path):
    with open(path, "rb") as f:
        return read_module(f.read()).code_size


def first_line(text):
    for ln in (text or "").splitlines():
        if ln.strip():
            return ln.strip()[:160]
    return "(no message)"


def bench_one(path, runs, wasm_opt, tmp):
    name = os.path.basename(path)[:-5] if path.endswith(".wasm") else os.path.basename(path)
    row = {"module": name, "path": path, "input_code": code_size(path)}
    # loom-post
    out = os.path.join(tmp, name + ".loom.wasm")
    # CSE alone: the other default passes are measured in bench_passes.py.
    t, proc = timed(loom_post_cmd() + ["optimize", path, "-o", out, "--format", "json",
                                       "--passes", "cse"], runs)
    row["loom_s"] = t
    try:
        doc = json.loads(proc.stdout)
        m = doc["modules"][0]
        if "error" in m:
            raise ValueError(m["error"])
        row["loom_before"], row["loom_after"] = m["code_bytes_before"], m["code_bytes_after"]
        row["loom_dedup"] = m.get("deduplicated")
        row["loom_functions"] = m.get("functions_changed")
        row["loom_reencoding"] = m.get("bytes_saved_by_reencoding", 0) or 0
        if os.path.exists(out):
            assert code_size(out) == row["loom_after"], "JSON code_bytes_after disagrees with the file"
        row["loom_saved"] = row["loom_before"] - row["loom_after"]
    except (ValueError, KeyError, IndexError) as e:
        row["loom_error"] = f"exit {proc.returncode}: {first_line(proc.stderr) or e}"
    # wasm-opt: plain write and --local-cse, with the same feature flags
    if wasm_opt:
        out0 = os.path.join(tmp, name + ".wo0.wasm")
        out1 = os.path.join(tmp, name + ".wo1.wasm")
        for flags in ([], ["--all-features"]):
            p0 = subprocess.run([wasm_opt] + flags + [path, "-o", out0], capture_output=True, text=True)
            if p0.returncode == 0:
                row["wo_flags"] = " ".join(flags) or "(default)"
                break
            row.setdefault("wo_notes", []).append(
                f"{' '.join(flags) or 'default features'}: {first_line(p0.stderr)}")
        if "wo_flags" in row:
            flags = [] if row["wo_flags"] == "(default)" else row["wo_flags"].split()
            t1, p1 = timed([wasm_opt] + flags + ["--local-cse", path, "-o", out1], runs)
            if p1.returncode == 0:
                row["wo_s"] = t1
                row["wo_plain"], row["wo_cse"] = code_size(out0), code_size(out1)
                row["wo_saved"] = row["wo_plain"] - row["wo_cse"]
            else:
                row["wo_error"] = f"--local-cse: {first_line(p1.stderr)}"
        else:
            row["wo_error"] = "; ".join(row.get("wo_notes", []))
    return row


def pct(part, whole):
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def markdown(rows):
    lines = ["| module | input code B | loom-post saved B | of which LEB re-encoding B | "
             "wasm-opt --local-cse saved B | loom-post s | wasm-opt --local-cse s | time ratio loom/wasm-opt |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        loom = (f"{r['loom_saved']} ({pct(r['loom_saved'], r['input_code'])})"
                if "loom_saved" in r else "failed")
        wo = (f"{r['wo_saved']} ({pct(r['wo_saved'], r['wo_plain'])})" if "wo_saved" in r else "failed")
        ratio = f"{r['loom_s'] / r['wo_s']:.1f}x" if "wo_s" in r and "loom_saved" in r else "-"
        wo_s = f"{r['wo_s']:.2f}" if "wo_s" in r else "-"
        reenc = r.get("loom_reencoding", "-") if "loom_saved" in r else "-"
        lines.append(f"| {r['module']} | {r['input_code']} | {loom} | {reenc} | {wo} | {r['loom_s']:.2f} | {wo_s} | {ratio} |")
    ok = [r for r in rows if "loom_saved" in r]
    both = [r for r in ok if "wo_saved" in r]
    tot_in = sum(r["input_code"] for r in ok)
    tot_loom = sum(r["loom_saved"] for r in ok)
    tot_wo = sum(r["wo_saved"] for r in both)
    tot_wo_base = sum(r["wo_plain"] for r in both)
    tot_ls = sum(r["loom_s"] for r in ok)
    tot_ws = sum(r["wo_s"] for r in both)
    tot_re = sum(r.get("loom_reencoding", 0) for r in ok)
    lines.append(f"| **total** | {tot_in} | {tot_loom} ({pct(tot_loom, tot_in)}) | {tot_re} | "
                 f"{tot_wo} ({pct(tot_wo, tot_wo_base)}) | {tot_ls:.2f} | {tot_ws:.2f} | "
                 f"{(tot_ls / tot_ws) if tot_ws else 0:.1f}x |")
    if ok:
        med = lambda xs: statistics.median(xs) if xs else 0  # noqa: E731
        lines.append(
            f"| **median** | {med([r['input_code'] for r in ok]):.0f} | "
            f"{pct(med([r['loom_saved'] / r['input_code'] for r in ok]), 1)} | - | "
            f"{pct(med([r['wo_saved'] / r['wo_plain'] for r in both]), 1)} | "
            f"{med([r['loom_s'] for r in ok]):.2f} | {med([r['wo_s'] for r in both]):.2f} | "
            f"{med([r['loom_s'] / r['wo_s'] for r in both]):.1f}x |")
    never_larger = sum(1 for r in ok if r["loom_after"] <= r["loom_before"])
    wo_grew = sum(1 for r in both if r["wo_saved"] < 0)
    ge = sum(1 for r in both if r["loom_saved"] >= r["wo_saved"])
    ge_cse = sum(1 for r in both if r["loom_saved"] - r.get("loom_reencoding", 0) >= r["wo_saved"])
    lines += ["",
              f"- never larger (loom-post output code <= input code): {never_larger} of {len(ok)} modules",
              f"- loom-post saves >= wasm-opt --local-cse: {ge} of {len(both)} modules "
              f"({ge_cse} counting CSE alone, without LEB re-encoding of changed functions)",
              f"- wasm-opt --local-cse grew the code (vs its plain write): {wo_grew} of {len(both)} modules",
              f"- loom-post MB of code per second (total): "
              f"{tot_in / 1e6 / tot_ls if tot_ls else 0:.2f}; wasm-opt --local-cse: "
              f"{sum(r['wo_plain'] for r in both) / 1e6 / tot_ws if tot_ws else 0:.2f}"]
    flags = sorted({r.get("wo_flags") for r in both if r.get("wo_flags")})
    lines.append("- wasm-opt feature flags used: " + ", ".join(
        f"{f} ({sum(1 for r in both if r.get('wo_flags') == f)})" for f in flags))
    fails = [r for r in rows if "loom_error" in r or "wo_error" in r]
    if fails:
        lines += ["", "Failures:"]
        for r in fails:
            for key in ("loom_error", "wo_error"):
                if key in r:
                    lines.append(f"- {r['module']} ({'loom-post' if key == 'loom_error' else 'wasm-opt'}): {r[key]}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fetch", default=default_fetch())
    ap.add_argument("--wasm-opt", default=shutil.which("wasm-opt"))
    ap.add_argument("--json", help="also write the raw rows here")
    args = ap.parse_args(argv)
    paths = args.modules or (corpus_paths(args.fetch) if args.fetch else [])
    if not paths:
        print("no modules: pass paths or make the corpus fetch script reachable", file=sys.stderr)
        return 2
    if not args.wasm_opt:
        print("note: wasm-opt not found; its columns say failed", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in sorted(paths, key=code_size):
            print(f"... {os.path.basename(p)}", file=sys.stderr)
            rows.append(bench_one(p, args.runs, args.wasm_opt, tmp))
    version = subprocess.run([args.wasm_opt, "--version"], capture_output=True, text=True).stdout.strip() \
        if args.wasm_opt else "none"
    print(f"{len(rows)} modules, median of {args.runs} runs; {version}; "
          f"loom-post: `{' '.join(os.path.basename(c) for c in loom_post_cmd())} optimize`\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
