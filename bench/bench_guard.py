#!/usr/bin/env python3
"""What users download: raw, gzip -9 and brotli q11 sizes of every corpus module
as given, after `loom-post optimize` with the default never-grow guard, after
`loom-post optimize --never-grow code` (the optimizer as it was: only code may
not grow), and after `wasm-opt -Oz`, all in one run.

  loom-post guarded   `python3 -m loom_post optimize IN -o OUT --format json`
                      (default configuration: never-grow = code, file, gzip, brotli)
  loom-post code      the same with `--never-grow code`
  wasm-opt -Oz        `wasm-opt -Oz IN -o OUT` (`--all-features` when the plain
                      run fails; it drops the name section too, as without -g)

Both loom-post runs are timed the same way (wall clock of the whole CLI, median
of --runs), interleaved, so the ratio guarded/code is the guard's cost.
`--before-tree DIR` adds a third run, interleaved with them: the guarded run of
another checkout (e.g. main: PYTHONPATH=DIR), so before and after are timed in
the same run against the same code-only run (the code-only path is the same
in both trees: with only `code` guarded no guard runs). Sizes
are measured here, after the fact: gzip = zlib level 9 with a gzip header
(loom_post.sizes.gzip_size), brotli = brotli.compress(quality=11).

With no MODULE, both corpora: the npm corpus (bench/corpus.py) and the raw cargo
corpus (bench/rawcorpus, built into ~/.cache/loom-post-rawcorpus); the summary
is given per corpus (the directory a module is in; raw LTO and non-LTO modules
apart). Identical bytes (e.g. an output the guard left as its input) are
measured once: brotli q11 of a 5 MB module takes ~20 s.

`--input-sizes FILE.json` (rows of an earlier --json run) reuses an input's
brotli size from there when its raw and gzip sizes (gzip measured again here)
both match: brotli q11 of the 67 raw inputs, megabytes of DWARF each, is most of
a whole-corpus run's time (~15 min) and says nothing about the optimizer.

Usage:  python3 bench/bench_guard.py [--runs N] [--json FILE] [--no-wasm-opt] [MODULE.wasm ...]
        python3 bench/bench_guard.py --report FILE.json ...   # the report of earlier --json runs
"""

import argparse
import fnmatch
import glob
import hashlib
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

from loom_post.sizes import brotli_size, gzip_size  # noqa: E402

CORPUS = os.environ.get("LOOM_CORPUS_DIR", os.path.expanduser("~/.cache/loom-post-corpus"))


RAW_CORPUS = os.environ.get("LOOM_RAWCORPUS_DIR", os.path.expanduser("~/.cache/loom-post-rawcorpus"))
_measured = {}   # sha256 -> sizes


def sizes(data, known=None):
    """raw / gzip / brotli of `data`; brotli taken from `known` (earlier sizes of
    the same module) when its raw and gzip sizes match these bytes'."""
    key = hashlib.sha256(data).digest()
    if key not in _measured:
        got = {"raw": len(data), "gzip": gzip_size(data)}
        same = known and all(known.get(k) == v for k, v in got.items())
        got["brotli"] = known["brotli"] if same else brotli_size(data)
        _measured[key] = got
    return _measured[key]


def run_loom(src, dst, workdir, extra, runs, tree=ROOT):
    times = []
    env = dict(os.environ, PYTHONPATH=tree)
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "loom_post", "optimize", src, "-o", dst,
                               "--format", "json", "--no-cache", *extra], cwd=workdir, env=env,
                              capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"loom-post failed on {src}: {proc.stderr.strip()[:300]}")
    return statistics.median(times), json.loads(proc.stdout)["modules"][0]


def run_wasm_opt(src, dst):
    exe = shutil.which("wasm-opt")
    if not exe:
        return None
    for flags in ([], ["--all-features"]):
        proc = subprocess.run([exe, "-Oz", *flags, src, "-o", dst], capture_output=True)
        if proc.returncode == 0:
            return dst
    return None


def bench(path, workdir, runs, wasm_opt=True, before_tree=None, known=None):
    name = os.path.basename(path)
    data = open(path, "rb").read()
    t = time.perf_counter()
    row = {"module": name, "group": group(path), "input": sizes(data, known)}
    row["input_measure_s"] = time.perf_counter() - t   # the floor: gzip + brotli of the input
    guarded_t, code_t, before_t = [], [], []
    for _ in range(runs):   # interleaved, so load hits them alike
        t, guarded = run_loom(path, os.path.join(workdir, "g.wasm"), workdir, [], 1)
        guarded_t.append(t)
        t, plain = run_loom(path, os.path.join(workdir, "c.wasm"), workdir,
                            ["--never-grow", "code"], 1)
        code_t.append(t)
        if before_tree:
            t, before = run_loom(path, os.path.join(workdir, "b.wasm"), workdir, [], 1,
                                 before_tree)
            before_t.append(t)
    row["guarded"] = sizes(open(os.path.join(workdir, "g.wasm"), "rb").read())
    row["code"] = sizes(open(os.path.join(workdir, "c.wasm"), "rb").read())
    row["guarded_s"], row["code_s"] = statistics.median(guarded_t), statistics.median(code_t)
    if before_tree:
        row["before_s"] = statistics.median(before_t)
        row["before"] = sizes(open(os.path.join(workdir, "b.wasm"), "rb").read())
        row["code_saved_before"] = before["code_bytes_before"] - before["code_bytes_after"]
    row["reference"] = guarded.get("guard_reference")   # the stripped input, when judged by it
    row["functions_kept"] = guarded["functions_changed"]
    row["functions_rewritten"] = guarded["functions_changed"] + guarded["functions_reverted"]
    row["code_saved_guarded"] = guarded["code_bytes_before"] - guarded["code_bytes_after"]
    row["code_saved_code"] = plain["code_bytes_before"] - plain["code_bytes_after"]
    out = run_wasm_opt(path, os.path.join(workdir, "w.wasm")) if wasm_opt else None
    row["wasm_opt"] = sizes(open(out, "rb").read()) if out else None
    return row


SIZES = ("raw", "gzip", "brotli")


def pct(new, old):
    return f"{100.0 * (new - old) / old:+.2f}%"


def cell(s, base):
    return " / ".join(f"{pct(s[k], base[k])}" for k in ("raw", "gzip", "brotli"))


def report(rows):
    """The per-module table (columns only for what was run), then the summaries."""
    wasm_opt = any(r["wasm_opt"] for r in rows)
    timed = any("before_s" in r for r in rows)
    print("| module | input raw / gzip / brotli (B) | loom-post guarded | loom-post never-grow=code "
          + ("| wasm-opt -Oz " if wasm_opt else "")
          + "| kept fns | code bytes saved, guarded / code | time guarded / code "
          + ("| time before-tree guarded " if timed else "") + "|")
    print("| --- | ---: | ---: | ---: | " + ("---: | " if wasm_opt else "") + "---: | ---: | ---: |"
          + (" ---: |" if timed else ""))
    for r in rows:
        i = r["input"]
        w = (cell(r["wasm_opt"], i) if r["wasm_opt"] else "not run") + " | " if wasm_opt else ""
        before = (f" | {r['before_s']:.2f} s ({r['before_s'] / r['code_s']:.2f}x)"
                  if "before_s" in r else " | " if timed else "")
        print(f"| {r['module']} | {i['raw']} / {i['gzip']} / {i['brotli']} | {cell(r['guarded'], i)} "
              f"| {cell(r['code'], i)} | {w}{r['functions_kept']} of {r['functions_rewritten']} "
              f"| {r['code_saved_guarded']} / {r['code_saved_code']} "
              f"| {r['guarded_s']:.2f} s / {r['code_s']:.2f} s ({r['guarded_s'] / r['code_s']:.2f}x)"
              f"{before} |")
    groups = sorted({r["group"] for r in rows})
    parts = [(g, [r for r in rows if r["group"] == g]) for g in groups]
    raw = [r for r in rows if r["group"].startswith("raw")]
    if len({r["group"] for r in raw}) > 1:
        parts.append(("raw cargo, all", raw))
    if len(groups) > 1:
        parts.append(("all", rows))
    for name, part in parts:
        print(f"\n{name} ({len(part)} modules):")
        summary(part)


def group(path):
    """The corpus a module belongs to, by directory; raw LTO and non-LTO apart."""
    d = os.path.realpath(os.path.dirname(path))
    if d == os.path.realpath(RAW_CORPUS):
        return "raw cargo, LTO" if path.endswith("-lto.wasm") else "raw cargo, no LTO"
    return "npm" if d == os.path.realpath(CORPUS) else d


def summary(rows):
    tot = {k: {m: sum(r[k][m] for r in rows) for m in ("raw", "gzip", "brotli")}
           for k in ("input", "guarded", "code")}
    larger = [r["module"] for r in rows if any(r["guarded"][m] > r["input"][m] for m in SIZES)]
    over_ref = [r["module"] for r in rows if r.get("reference") and r["guarded"] != r["input"] and any(
        r["guarded"][m] > r["reference"][f"{'file' if m == 'raw' else m}_bytes"]
        for m in SIZES if f"{'file' if m == 'raw' else m}_bytes" in r["reference"])]
    larger_code = [r["module"] for r in rows
                   if r["code"]["gzip"] > r["input"]["gzip"] or r["code"]["brotli"] > r["input"]["brotli"]]
    saved_code = tot["input"]["raw"] - tot["code"]["raw"]
    saved_guarded = tot["input"]["raw"] - tot["guarded"]["raw"]
    g_s, c_s = sum(r["guarded_s"] for r in rows), sum(r["code_s"] for r in rows)
    code_g, code_c = sum(r["code_saved_guarded"] for r in rows), sum(r["code_saved_code"] for r in rows)
    floor = sum(r["input_measure_s"] for r in rows)
    print(f"- totals, guarded: {cell(tot['guarded'], tot['input'])}; never-grow=code: "
          f"{cell(tot['code'], tot['input'])} (raw / gzip / brotli)")
    print(f"- modules larger in raw, gzip or brotli than their input: guarded {len(larger)} of "
          f"{len(rows)} {larger or ''}; never-grow=code (gzip or brotli) {len(larger_code)} of "
          f"{len(rows)}")
    judged = [r for r in rows if r.get("reference")]
    if judged:
        print(f"- judged against the input without its stale DWARF: {len(judged)} of {len(rows)}; "
              f"larger than that reference in a measure it reports: {len(over_ref)} {over_ref or ''}")
    print(f"- raw saving kept by the guard: {saved_guarded} of {saved_code} bytes "
          f"({100.0 * saved_guarded / saved_code if saved_code else 0:.1f}%); code-section saving "
          f"kept: {code_g} of {code_c} bytes ({100.0 * code_g / code_c if code_c else 0:.1f}%)")
    print(f"- time: guarded {g_s:.1f} s, never-grow=code {c_s:.1f} s, ratio {g_s / c_s:.2f}x "
          f"(median per module {statistics.median(r['guarded_s'] / r['code_s'] for r in rows):.2f}x); "
          f"gzip + brotli of the inputs alone, measured here: {floor:.1f} s")
    timed = [r for r in rows if "before_s" in r]
    if timed and all("code_saved_before" in r for r in timed):
        b_g, b_c = (sum(r[k] for r in timed) for k in ("code_saved_before", "code_saved_code"))
        print(f"- same run, {len(timed)} modules: code-section saving kept by the --before-tree "
              f"guard: {b_g} of {b_c} bytes ({100.0 * b_g / b_c if b_c else 0:.1f}%); larger than "
              f"their input: {sum(any(r['before'][m] > r['input'][m] for m in SIZES) for r in timed)}")
    if timed:
        b_s, c2 = sum(r["before_s"] for r in timed), sum(r["code_s"] for r in timed)
        g2 = sum(r["guarded_s"] for r in timed)
        print(f"- same run, {len(timed)} modules: --before-tree guarded {b_s:.1f} s = {b_s / c2:.2f}x "
              f"the code-only run (median per module "
              f"{statistics.median(r['before_s'] / r['code_s'] for r in timed):.2f}x); this tree "
              f"{g2 / c2:.2f}x (median {statistics.median(r['guarded_s'] / r['code_s'] for r in timed):.2f}x); "
              f"this tree / before: {g2 / b_s:.2f}x "
              f"(median {statistics.median(r['guarded_s'] / r['before_s'] for r in timed):.2f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--no-wasm-opt", action="store_true", help="skip the wasm-opt -Oz column")
    ap.add_argument("--before-tree", metavar="DIR",
                    help="also time the guarded run of the loom-post checkout in DIR")
    ap.add_argument("--skip-times", metavar="GLOB",
                    help="modules matching GLOB: only their sizes (no --before-tree run)")
    ap.add_argument("--input-sizes", metavar="FILE.json",
                    help="reuse the inputs' brotli sizes of an earlier --json run (see above)")
    ap.add_argument("--report", nargs="+", metavar="FILE.json",
                    help="print the report of rows saved by --json (several runs side by side)")
    args = ap.parse_args()
    if args.report:
        report([row for f in args.report for row in json.load(open(f))])
        return
    paths = args.modules or (sorted(glob.glob(os.path.join(CORPUS, "*.wasm")))
                             + sorted(glob.glob(os.path.join(RAW_CORPUS, "*.wasm"))))
    known = {}
    if args.input_sizes:
        known = {r["module"]: r["input"] for r in json.load(open(args.input_sizes))}
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        os.mkdir(os.path.join(workdir, ".git"))   # no configuration: the defaults
        for path in paths:
            before = args.before_tree
            if args.skip_times and fnmatch.fnmatch(os.path.basename(path), args.skip_times):
                before = None
            rows.append(bench(os.path.abspath(path), workdir, args.runs, not args.no_wasm_opt,
                              before, known.get(os.path.basename(path))))
            print(f"done {rows[-1]['module']}", file=sys.stderr, flush=True)
            if args.json:   # after every module: a long run stopped early keeps its rows
                with open(args.json + ".tmp", "w") as f:
                    json.dump(rows, f, indent=2)
                os.replace(args.json + ".tmp", args.json)
    report(rows)


if __name__ == "__main__":
    main()
