"""Same-run A/B timing of two loom-post source trees (e.g. main before and
after a change): each module is optimized by A and by B in turn, A B A B ...,
and the medians and the median of the pair-by-pair ratios B/A are printed.

    python3 bench/bench_ab.py --a DIR_A --b DIR_B [--runs N] [--passes P] [--cpu]
                              [--arg=--never-grow --arg=code] [MODULE.wasm ...]

DIR_A / DIR_B are checkouts (the directory holding loom_post/); with no modules,
the shared corpus. Whole-process wall times from Python's timers, or with
`--cpu` the process's CPU time (user + sys: steadier when other jobs load the
machine); the machines are shared and noisy, so quote the ratios. `--arg`
adds a command-line argument to both trees' runs.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import shutil
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.bench_speed import loom  # noqa: E402
from bench.corpus import corpus_paths, default_fetch  # noqa: E402


def run_once(tree, path, out, passes, extra=(), cpu=False):
    args = [path, "-o", out, "-j", "1", *(["--passes", passes] if passes else []), *extra]
    # an empty result cache per run, so both trees run cold (an older tree has none);
    # bench_speed's environment: compiled .pyc files are kept (a sandbox's
    # PYTHONDONTWRITEBYTECODE would make every timed run compile its sources)
    cache = tempfile.mkdtemp()
    cmd, env = loom(args, cache, os.path.abspath(tree))
    start, used = time.perf_counter(), _children_cpu()
    # cwd: a directory with no loom_post/ in it, or `python3 -m` would import
    # the one in the current directory whatever PYTHONPATH says
    subprocess.run(cmd, env=env, capture_output=True, check=False, cwd=cache)
    elapsed = _children_cpu() - used if cpu else time.perf_counter() - start
    shutil.rmtree(cache, ignore_errors=True)
    return elapsed


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--passes", default=None, help="--passes for B only (A runs its defaults)")
    ap.add_argument("--cpu", action="store_true", help="CPU time (user + sys), not wall time")
    ap.add_argument("--arg", action="append", default=[], help="an argument for both trees' runs")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    fetch = default_fetch()
    modules = args.modules or (corpus_paths(fetch) if fetch else [])
    ratios_all, ta_all, tb_all = [], 0.0, 0.0
    print(f"| module | A s | B s | B/A |\n|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.wasm")
        for path in map(os.path.abspath, modules):
            run_once(args.a, path, out, None, args.arg, args.cpu)  # warm-up
            ta, tb = [], []
            for _ in range(args.runs):
                ta.append(run_once(args.a, path, out, None, args.arg, args.cpu))
                tb.append(run_once(args.b, path, out, args.passes, args.arg, args.cpu))
            ratio = statistics.median(b / a for a, b in zip(ta, tb))
            ratios_all.append(ratio)
            ta_all += statistics.median(ta)
            tb_all += statistics.median(tb)
            print(f"| {os.path.basename(path)[:-5]} | {statistics.median(ta):.2f} | "
                  f"{statistics.median(tb):.2f} | {ratio:.3f} |", flush=True)
    if ratios_all:
        print(f"| **total** | {ta_all:.2f} | {tb_all:.2f} | {tb_all / ta_all:.3f} |")
        print(f"\nmedian per-module ratio B/A: {statistics.median(ratios_all):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
