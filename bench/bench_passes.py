#!/usr/bin/env python3
"""Code bytes per pass configuration next to wasm-opt, on the corpus and the example.

For every module (default: the shared corpus and examples/kernel-sched), in one
run: code-section payload bytes of the input; of loom-post's optimize() with
`--passes cse` (the old default), each new pass alone (compact,
dedupe-functions, renumber-functions), and all default passes; of `wasm-opt IN -o OUT` (binaryen's
plain write: it re-encodes everything) and `wasm-opt -Oz`. wasm-opt runs with no
feature flags first (binaryen 108 takes them from `target_features`, else MVP)
and with `--all-features` when that fails. loom-post runs in-process, one job;
its time is the median of --runs runs of optimize() (decode, passes, encode,
validation), for `cse` and for all defaults.

Usage:  python3 bench/bench_passes.py [--runs N] [--json FILE] [MODULE.wasm ...]
"""

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from loom_post.passes.pipeline import optimize  # noqa: E402
from loom_post.wasm.errors import DecodeError  # noqa: E402
from loom_post.wasm.module import read_module  # noqa: E402

CONFIGS = [("cse", ["cse"]), ("compact", ["compact"]),
           ("dedupe", ["dedupe-functions"]), ("renumber", ["renumber-functions"]),
           ("defaults", None)]
TIMED = ("cse", "defaults")


def default_modules():
    corpus = os.environ.get("LOOM_CORPUS_DIR", os.path.expanduser("~/.cache/loom-post-corpus"))
    mods = sorted(glob.glob(os.path.join(corpus, "*.wasm")))
    example = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")
    return mods + ([example] if os.path.exists(example) else [])


def wasm_opt_code(path, flags, tmp):
    out = os.path.join(tmp, "wo.wasm")
    for extra in ([], ["--all-features"]):
        proc = subprocess.run(["wasm-opt", *extra, *flags, path, "-o", out], capture_output=True)
        if proc.returncode == 0:
            with open(out, "rb") as f:
                try:
                    return read_module(f.read()).code_size
                except DecodeError:  # binaryen 108's --all-features type encoding
                    return objdump_code_size(out)
    return None


def objdump_code_size(path):
    """Code payload bytes as `wasm-objdump -h` reports them, or None."""
    if not shutil.which("wasm-objdump"):
        return None
    text = subprocess.run(["wasm-objdump", "-h", path], capture_output=True, text=True).stdout
    m = re.search(r"^\s*Code start=\S+ end=\S+ \(size=(0x[0-9a-f]+)\)", text, re.M)
    return int(m.group(1), 16) if m else None


def bench_one(path, runs, tmp):
    with open(path, "rb") as f:
        data = f.read()
    row = {"module": os.path.basename(path)[:-5], "input": read_module(data).code_size}
    for name, passes in CONFIGS:
        times = []
        for _ in range(runs if name in TIMED else 1):
            t = time.perf_counter()
            res = optimize(data, passes=passes)
            times.append(time.perf_counter() - t)
        row[name] = res.code_bytes_after
        row[name + "_s"] = statistics.median(times)
    if shutil.which("wasm-opt"):
        row["wasm-opt"] = wasm_opt_code(path, [], tmp)
        row["wasm-opt -Oz"] = wasm_opt_code(path, ["-Oz"], tmp)
    return row


COLUMNS = ["input", "cse", "compact", "dedupe", "renumber", "defaults", "wasm-opt", "wasm-opt -Oz"]


def table(rows):
    """Markdown; a column's total and saving are over the modules it has a
    figure for (marked when that is not all of them)."""
    lines = ["| module | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for r in rows:
        cells = ["-" if r.get(c) is None else str(r[c]) for c in COLUMNS]
        lines.append(f"| {r['module']} | " + " | ".join(cells) + " |")
    totals, saved = [], []
    for c in COLUMNS:
        have = [r for r in rows if r.get(c) is not None]
        total, base = sum(r[c] for r in have), sum(r["input"] for r in have)
        mark = "" if len(have) == len(rows) else f" ({len(have)} modules)"
        totals.append(f"**{total}**{mark}")
        saved.append(f"{100.0 * (base - total) / base:.2f}%{mark}" if base else "-")
    lines.append("| **total** | " + " | ".join(totals) + " |")
    lines.append("| saved | " + " | ".join(saved) + " |")
    return "\n".join(lines), None


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.modules or default_modules():
            rows.append(bench_one(path, args.runs, tmp))
            print(f"  {rows[-1]['module']}: done", file=sys.stderr)
    text, _totals = table(rows)
    print(text)
    t_cse = sum(r["cse_s"] for r in rows)
    t_all = sum(r["defaults_s"] for r in rows)
    ratios = [r["defaults_s"] / r["cse_s"] for r in rows if r["cse_s"] > 0]
    print(f"\ntime, all defaults vs cse alone: {t_all:.2f} s / {t_cse:.2f} s = {t_all / t_cse:.2f}x "
          f"in total; median per module {statistics.median(ratios):.2f}x")
    worse = [r["module"] for r in rows if r.get("wasm-opt") is not None and r["defaults"] > r["wasm-opt"]]
    print(f"defaults larger than wasm-opt's plain write: {len(worse)} of {len(rows)} {worse or ''}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
