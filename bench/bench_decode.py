#!/usr/bin/env python3
"""Decode and write speed of loom-post's format layer on real Rust-built modules,
next to `wasm-opt IN -o OUT` (no passes) timed the same way in the same run.

For every module (default: the shared corpus, `corpus/fetch` prints one path per
line) it times, as the median of --runs runs:

  decode        read_module + decode_body of every function
  decode+write  the same, then encode_body of every function, replace_body with
                the re-encoding, to_bytes, and write the result to a file
  wasm-opt      wasm-opt --all-features IN -o OUT (binaryen reads, validates and
                writes the module; no optimization passes)

and prints a Markdown table plus the median seconds per MB of code section.
Usage:  python3 bench/bench_decode.py [--runs N] [--fetch SCRIPT] [MODULE.wasm ...]
"""

import argparse
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
from loom_post.wasm.instructions import decode_body, encode_body  # noqa: E402
from loom_post.errors import DecodeError, UnknownInstruction  # noqa: E402

TARGET_S_PER_MB = 1.0
MB = 1024 * 1024


def decode_only(data):
    module = read_module(data)
    unknown = 0
    for entry in module.code:
        try:
            decode_body(data, entry.body_start, entry.end)
        except UnknownInstruction:
            unknown += 1
    return module, unknown


def decode_and_write(data, out_path):
    module = read_module(data)
    unknown = 0
    for pos, entry in enumerate(module.code):
        try:
            body = decode_body(data, entry.body_start, entry.end)
        except UnknownInstruction:
            unknown += 1          # kept byte for byte, as the optimizer does
            continue
        module.replace_body(pos, encode_body(body.locals, body.instrs))
    out = module.to_bytes()
    with open(out_path, "wb") as f:
        f.write(out)
    return len(out)


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def wasm_opt_cmd(wasm_opt, src, dst):
    # binaryen 108 defaults to MVP features (or the target_features section), which
    # rejects many rustc outputs (atomics, bulk memory, mutable exported globals):
    # --all-features makes it accept every module of the corpus.
    return [wasm_opt, "--all-features", src, "-o", dst]


def bench_module(path, runs, wasm_opt, tmp):
    data = open(path, "rb").read()
    row = {"module": os.path.basename(path), "file_bytes": len(data)}
    try:
        module, unknown = decode_only(data)
    except DecodeError as e:
        row["error"] = f"loom-post cannot read it: {e}"
        return row
    row["code_bytes"] = module.code_size
    row["functions"] = len(module.code)
    row["not_understood"] = unknown
    out_path = os.path.join(tmp, "loom.wasm")
    row["decode_s"] = median_time(lambda: decode_only(data), runs)
    row["write_s"] = median_time(lambda: decode_and_write(data, out_path), runs)
    row["out_bytes"] = os.path.getsize(out_path)
    row["out_code_bytes"] = read_module(open(out_path, "rb").read()).code_size
    if wasm_opt:
        cmd = wasm_opt_cmd(wasm_opt, path, os.path.join(tmp, "wasm-opt.wasm"))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            row["wasm_opt_error"] = (proc.stderr.strip().splitlines() or ["failed"])[0][:120]
        else:
            row["wasm_opt_s"] = median_time(
                lambda: subprocess.run(cmd, capture_output=True, check=True), runs)
    return row


def fmt_row(r):
    if "error" in r:
        return f"| {r['module']} | - | - | - | - | - | - | {r['error']} |"
    mb = r["code_bytes"] / MB
    per_mb = r["write_s"] / mb if mb else 0.0
    if "wasm_opt_s" in r:
        wo = f"{r['wasm_opt_s']:.3f}"
        ratio = f"{r['write_s'] / r['wasm_opt_s']:.1f}x"
    else:
        wo, ratio = "failed", "-"
    notes = []
    if r["not_understood"]:
        notes.append(f"{r['not_understood']} functions not understood (kept)")
    if r.get("wasm_opt_error"):
        notes.append("wasm-opt: " + r["wasm_opt_error"])
    delta = r["out_code_bytes"] - r["code_bytes"]
    notes.append(f"re-encoded code {delta:+d} B")
    return (f"| {r['module']} | {r['code_bytes'] / 1024:.1f} | {r['decode_s']:.3f} | "
            f"{r['write_s']:.3f} | {per_mb:.2f} | {wo} | {ratio} | {'; '.join(notes)} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="modules to time (default: the corpus)")
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--fetch", default=default_fetch(), help="corpus fetch script")
    ap.add_argument("--wasm-opt", default=shutil.which("wasm-opt"), help="wasm-opt binary")
    args = ap.parse_args(argv)
    paths = args.modules
    if not paths:
        if not args.fetch:
            ap.error("no modules given and no corpus fetch script found")
        paths = corpus_paths(args.fetch)
    if not paths:
        print("no modules to time", file=sys.stderr)
        return 2
    if not args.wasm_opt:
        print("note: wasm-opt not found; its column is left empty", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            r = bench_module(path, args.runs, args.wasm_opt, tmp)
            rows.append(r)
            print(f"  timed {r['module']}", file=sys.stderr)
    rows.sort(key=lambda r: r.get("code_bytes", 0))
    wo_version = ""
    if args.wasm_opt:
        wo_version = subprocess.run([args.wasm_opt, "--version"], capture_output=True,
                                    text=True).stdout.strip()
    print(f"Python {sys.version.split()[0]}, median of {args.runs} runs; "
          f"{wo_version or 'no wasm-opt'} run as `wasm-opt --all-features IN -o OUT`.\n")
    print("| module | code KB | decode s | decode+write s | s per MB of code | wasm-opt s "
          "| loom/wasm-opt | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(fmt_row(r))
    ok = [r for r in rows if "error" not in r and r["code_bytes"]]
    if ok:
        per_mb = [r["write_s"] / (r["code_bytes"] / MB) for r in ok]
        dec_mb = [r["decode_s"] / (r["code_bytes"] / MB) for r in ok]
        med = statistics.median(per_mb)
        total_code = sum(r["code_bytes"] for r in ok) / MB
        total_write = sum(r["write_s"] for r in ok)
        print(f"\nMedian decode+write: {med:.2f} s per MB of code "
              f"(decode only: {statistics.median(dec_mb):.2f} s/MB); "
              f"all {len(ok)} modules together: {total_write:.2f} s for {total_code:.2f} MB "
              f"= {total_write / total_code:.2f} s/MB. Target: <= {TARGET_S_PER_MB:.1f} s/MB: "
              f"{'met' if med <= TARGET_S_PER_MB else 'NOT met'}.")
        wo = [r for r in ok if "wasm_opt_s" in r]
        if wo:
            ratios = [r["write_s"] / r["wasm_opt_s"] for r in wo]
            print(f"Median loom-post/wasm-opt time ratio: {statistics.median(ratios):.1f}x "
                  f"over {len(wo)} modules wasm-opt accepted.")
    failed = [r for r in rows if "error" in r or r.get("wasm_opt_error")]
    if failed:
        print("\nFailures: " + "; ".join(
            f"{r['module']}: {r.get('error') or 'wasm-opt: ' + r['wasm_opt_error']}"
            for r in failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
