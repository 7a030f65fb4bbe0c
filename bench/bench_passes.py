#!/usr/bin/env python3
"""Code bytes per pass configuration next to wasm-opt, on the corpus and the example.

For every module (default: the shared corpus and examples/kernel-sched; `--raw`:
the raw cargo corpus of bench/rawcorpus), in one run: code-section payload bytes
of the input; of loom-post's optimize() with `--passes cse` (the old default),
each other pass alone (compact, dedupe-functions, merge-similar-functions,
renumber-functions), and all default passes (with what each pass saved inside
that run, JSON `passes`); of `wasm-opt IN -o OUT` (binaryen's plain write: it
re-encodes everything), `wasm-opt --local-cse` and `wasm-opt -Oz`; and of
loom-post's defaults run on wasm-opt -Oz's output. wasm-opt runs with no feature
flags first (binaryen 108 takes them from `target_features`, else MVP) and with
`--all-features` when that fails. loom-post runs in-process, one job; its time
is the median of --runs runs of optimize() (decode, passes, encode,
validation), for `cse` and for all defaults; `wasm-opt --local-cse`'s is the
median of as many runs of the process (reading and writing the file included).

`--binaryen-after` measures instead what single binaryen passes would still
save after loom-post's defaults: each module is optimized by loom-post, then
written by `wasm-opt` plain and with merge-similar-functions, code-folding and
the control-flow bundle (remove-unused-brs, remove-unused-names, merge-blocks,
vacuum); each is compared with the plain write of the same input.

Usage:  python3 bench/bench_passes.py [--raw] [--runs N] [--json FILE] [--binaryen-after] [MODULE.wasm ...]
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

from loom_post.passes.cached_run import optimize  # noqa: E402
from loom_post.wasm.errors import DecodeError  # noqa: E402
from loom_post.wasm.module import read_module  # noqa: E402

CONFIGS = [("cse", ["cse"]), ("compact", ["compact"]),
           ("dedupe", ["dedupe-functions"]), ("merge-similar", ["merge-similar-functions"]),
           ("renumber", ["renumber-functions"]), ("defaults", None)]
TIMED = ("cse", "defaults")
BINARYEN_AFTER = [("plain", []), ("merge-similar-functions", ["--merge-similar-functions"]),
                  ("code-folding", ["--code-folding"]),
                  ("control-flow bundle", ["--remove-unused-brs", "--remove-unused-names",
                                           "--merge-blocks", "--vacuum"])]
RAW_DIR = os.path.expanduser("~/.cache/loom-post-rawcorpus")


def default_modules():
    corpus = os.environ.get("LOOM_CORPUS_DIR", os.path.expanduser("~/.cache/loom-post-corpus"))
    mods = sorted(glob.glob(os.path.join(corpus, "*.wasm")))
    example = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")
    return mods + ([example] if os.path.exists(example) else [])


def wasm_opt_code(path, flags, tmp):
    return wasm_opt(path, flags, tmp)[0]


def wasm_opt(path, flags, tmp):
    """(code bytes, output bytes or None when loom-post cannot read them,
    seconds) of one wasm-opt run; (None, None, None) when it fails."""
    out = os.path.join(tmp, "wo.wasm")
    for extra in ([], ["--all-features"]):
        t = time.perf_counter()
        proc = subprocess.run(["wasm-opt", *extra, *flags, path, "-o", out], capture_output=True)
        seconds = time.perf_counter() - t
        if proc.returncode == 0:
            with open(out, "rb") as f:
                data = f.read()
            try:
                return read_module(data).code_size, data, seconds
            except DecodeError:  # binaryen 108's --all-features type encoding
                return objdump_code_size(out), None, seconds
    return None, None, None


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
        if passes is None:
            row["defaults_by_pass"] = {p: st.bytes_saved for p, st in res.passes.items()}
    if shutil.which("wasm-opt"):
        row["wasm-opt"] = wasm_opt_code(path, [], tmp)
        cse_runs = [wasm_opt(path, ["--local-cse"], tmp) for _ in range(runs)]
        row["wasm-opt --local-cse"] = cse_runs[0][0]
        if cse_runs[0][2] is not None:
            row["local-cse_s"] = statistics.median(r[2] for r in cse_runs)
        row["wasm-opt -Oz"], oz, _s = wasm_opt(path, ["-Oz"], tmp)
        row["-Oz then loom-post"] = None if oz is None else optimize(oz).code_bytes_after
    return row


def binaryen_after_one(path, tmp):
    """Code bytes of loom-post's defaults, then of wasm-opt's plain write and
    of each single pass in BINARYEN_AFTER on that output."""
    with open(path, "rb") as f:
        data = f.read()
    res = optimize(data)
    mid = os.path.join(tmp, "loom.wasm")
    with open(mid, "wb") as f:
        f.write(res.data)
    row = {"module": os.path.basename(path)[:-5], "input": res.code_bytes_before,
           "loom-post": res.code_bytes_after}
    for name, flags in BINARYEN_AFTER:
        row[name] = wasm_opt_code(mid, flags, tmp)
    return row


def binaryen_after_table(rows):
    names = [n for n, _f in BINARYEN_AFTER]
    have = [r for r in rows if all(r.get(n) is not None for n in names)]
    lines = ["| | input | loom-post defaults | then wasm-opt plain | " + " | ".join(
        f"{n}: saved vs plain" for n in names[1:]) + " |", "|---|" + "---:|" * (len(names) + 2)]
    for r in have:
        lines.append(f"| {r['module']} | {r['input']} | {r['loom-post']} | {r['plain']} | " + " | ".join(
            str(r["plain"] - r[n]) for n in names[1:]) + " |")
    tot = {k: sum(r[k] for r in have) for k in ["input", "loom-post"] + names}
    lines.append(f"| **total ({len(have)} of {len(rows)})** | {tot['input']} | {tot['loom-post']} | "
                 f"{tot['plain']} | " + " | ".join(
                     f"{tot['plain'] - tot[n]} ({100.0 * (tot['plain'] - tot[n]) / tot['plain']:.2f}%)"
                     for n in names[1:]) + " |")
    return "\n".join(lines)


COLUMNS = ["input", "cse", "compact", "dedupe", "merge-similar", "renumber", "defaults", "wasm-opt",
           "wasm-opt --local-cse", "wasm-opt -Oz", "-Oz then loom-post"]


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


def summary(rows):
    """The lines under the table: time ratios, each pass's share of the
    defaults, what loom-post still saves after -Oz."""
    out = []
    t_cse = sum(r["cse_s"] for r in rows)
    t_all = sum(r["defaults_s"] for r in rows)
    ratios = [r["defaults_s"] / r["cse_s"] for r in rows if r["cse_s"] > 0]
    out.append(f"time, all defaults vs cse alone: {t_all:.2f} s / {t_cse:.2f} s = {t_all / t_cse:.2f}x "
               f"in total; median per module {statistics.median(ratios):.2f}x")
    timed = [r for r in rows if r.get("local-cse_s")]
    if timed:
        t_lc = sum(r["local-cse_s"] for r in timed)
        t_def = sum(r["defaults_s"] for r in timed)
        med = statistics.median(r["defaults_s"] / r["local-cse_s"] for r in timed)
        out.append(f"time, all defaults vs wasm-opt --local-cse: {t_def:.2f} s / {t_lc:.2f} s = "
                   f"{t_def / t_lc:.2f}x in total; median per module {med:.2f}x")
    shares = {}
    for r in rows:
        for name, saved in r["defaults_by_pass"].items():
            shares[name] = shares.get(name, 0) + saved
    out.append("bytes saved by each pass inside the defaults run: "
               + ", ".join(f"{name} {saved}" for name, saved in shares.items()))
    after = [r for r in rows if r.get("-Oz then loom-post") is not None]
    if after:
        oz = sum(r["wasm-opt -Oz"] for r in after)
        gain = oz - sum(r["-Oz then loom-post"] for r in after)
        paid = sum(1 for r in after if r["-Oz then loom-post"] < r["wasm-opt -Oz"])
        out.append(f"loom-post after wasm-opt -Oz: {gain} B saved of {oz} ({100.0 * gain / oz:.2f}%), "
                   f"smaller in {paid} of {len(after)} modules")
    worse = [r["module"] for r in rows if r.get("wasm-opt") is not None and r["defaults"] > r["wasm-opt"]]
    out.append(f"defaults larger than wasm-opt's plain write: {len(worse)} of {len(rows)} {worse or ''}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--raw", action="store_true", help="the raw cargo corpus (bench/rawcorpus)")
    ap.add_argument("--binaryen-after", action="store_true",
                    help="what single binaryen passes still save after loom-post's defaults")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    paths = args.modules or (sorted(glob.glob(os.path.join(RAW_DIR, "*.wasm"))) if args.raw
                             else default_modules())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            if args.binaryen_after:
                rows.append(binaryen_after_one(path, tmp))
            else:
                rows.append(bench_one(path, args.runs, tmp))
            print(f"  {rows[-1]['module']}: done", file=sys.stderr)
    if args.binaryen_after:
        print(binaryen_after_table(rows))
    else:
        print(table(rows)[0])
        print()
        print(summary(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
