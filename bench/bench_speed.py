"""loom-post's speed next to `wasm-opt --local-cse`, in the same run: cold runs,
warm runs (the same input again, and an already optimized module) and the
adversarial shapes against a flat module of the same size.

    python3 bench/bench_speed.py [--runs N] [-j N] [--raw] [--before TREE] [MODULE.wasm ...]
    python3 bench/bench_speed.py --adversarial [--runs N]
    python3 bench/bench_speed.py --functions MODULE.wasm ...
    python3 bench/bench_speed.py --check [--runs N] [--before TREE] MODULE.wasm ...
    python3 bench/bench_speed.py --watch [--runs N] [--before TREE] MODULE.wasm ...

With no modules: the shared corpus (bench/corpus.py), plus with --raw the raw
cargo corpus in ~/.cache/loom-post-rawcorpus. For each module the commands run
in turn, A B C D A B C D ..., each a fresh process, `--runs` times:

  wasm-opt   `wasm-opt --local-cse IN -o OUT` (binaryen; --all-features when
             it refuses the module without)
  python     `python3 -c pass`: the interpreter alone, for scale
  cold       `loom-post optimize --no-cache --never-grow code -j N IN -o OUT`
  cold-pure  the same with LOOM_POST_PURE=1, when the tree has a compiled
             build (loom_post/native.py): the hot modules as Python
  warm-same  the same with a result cache primed by one untimed run over IN
  warm-opt   the same cache, over the module the primed run wrote
  with --before TREE, also warm-same and warm-opt of the loom_post in TREE
  (e.g. /work/main: the tree before a change), with a cache of its own

`--check`: `loom-post check` (every measure, brotli included: the pre-commit
hook's case) of the module a primed run wrote, with an empty cache (cold) and
with the cache the optimize run left (warm). `--watch`: what watch's processor
pays, in a process whose imports are loaded, when a build writes a module it
has seen before, and when it sees its own output again.

The children write and reuse bytecode (.pyc) under the temporary directory,
whatever PYTHONDONTWRITEBYTECODE says, and one untimed run compiles it first:
an installed loom-post has its .pyc, and compiling its sources costs ~0.07 s
of CPU per run, more than a warm run's own work.

CPU is the child's user+sys (os.wait4), wall is perf_counter; the machines are
shared, so the ratios (loom-post / wasm-opt, per module, of medians) are what
to quote, CPU first. `--never-grow code` leaves out the compressed-size guard
(measured by bench_guard.py) and, since the seventh round, the report's gzip
-9 of input and output, which `optimize` now measures only when it is guarded,
optimized for, budgeted or asked for (`--gzip`). Cold and warm outputs must be
byte-identical.
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench import adversarial  # noqa: E402
from bench.adversarial import SHAPES  # noqa: E402
from bench.corpus import corpus_paths, default_fetch  # noqa: E402
from loom_post.wasm.module import read_module  # noqa: E402

RAW = os.path.expanduser("~/.cache/loom-post-rawcorpus")


def timed(cmd, env=None):
    """(CPU seconds of the child, wall seconds, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, wall, proc.returncode


def tree_env(tree):
    """The environment that imports loom_post from `tree`. PYTHONSAFEPATH
    (Python 3.11+): `python -m` puts the working directory first on sys.path,
    so run from a checkout every tree timed that checkout's loom_post (a
    --before column measured the tree after)."""
    return dict(os.environ, PYTHONPATH=tree, PYTHONSAFEPATH="1")


def loom(args, cache_dir=None, tree=ROOT, command="optimize"):
    env = dict(tree_env(tree), PYTHONPYCACHEPREFIX=os.path.join(
        tempfile.gettempdir(), "loom-bench-pyc"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache_dir:
        env["XDG_CACHE_HOME"] = cache_dir
    return [sys.executable, "-m", "loom_post", command, *args], env


def wasm_opt_cmd(wasm_opt, path, out):
    for flags in ([], ["--all-features"]):
        cmd = [wasm_opt, *flags, "--local-cse", path, "-o", out]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            return cmd
    return None


def _prime(cmd):
    """Run once untimed (records the cache, compiles the .pyc); False when it failed."""
    return subprocess.run(cmd[0], env=cmd[1], capture_output=True).returncode in (0, 1)


def build_of(tree):
    """native.describe() of the loom_post in `tree`: which build runs there."""
    return subprocess.run([sys.executable, "-c", "import loom_post.native as n; print(n.describe())"],
                          env=tree_env(tree), capture_output=True,
                          text=True, check=True).stdout.strip()


def bench_module(path, runs, jobs, wasm_opt, tmp, before=None, compiled=False):
    name = os.path.basename(path)[:-5]
    # a copy of its own: optimize locks its input, and other jobs on a shared
    # machine may be optimizing the same corpus file (wall time then measures
    # their runs)
    path = shutil.copy(path, os.path.join(tmp, f"{name}.in.wasm"))
    common = ["--never-grow", "code", "-j", str(jobs)]
    trees = {"": ROOT, "@before": before} if before else {"": ROOT}
    cmds, primed = {"python": ([sys.executable, "-c", "pass"], None)}, {}
    for tag, tree in trees.items():
        cache = os.path.join(tmp, f"{name}{tag}.cache")
        prime = os.path.join(tmp, f"{name}{tag}.prime.wasm")
        if not _prime(loom([*common, path, "-o", prime], cache, tree)):
            return {"module": name, "error": f"loom-post{tag} failed"}
        primed[tag] = prime
        if not tag:
            cmds["cold"] = loom(["--no-cache", *common, path, "-o", f"{tmp}/{name}.cold.wasm"],
                                tree=tree)
            if compiled:   # the same run with the hot modules as Python
                cmd, env = loom(["--no-cache", *common, path, "-o", f"{tmp}/{name}.pure.wasm"],
                                tree=tree)
                cmds["cold-pure"] = (cmd, dict(env, LOOM_POST_PURE="1"))
                _prime(cmds["cold-pure"])   # compiles the .pyc of the hot modules
        cmds["warm-same" + tag] = loom([*common, path, "-o", f"{tmp}/{name}{tag}.warm.wasm"],
                                       cache, tree)
        cmds["warm-opt" + tag] = loom([*common, prime, "-o", f"{tmp}/{name}{tag}.opt.wasm"],
                                      cache, tree)
    wo = wasm_opt_cmd(wasm_opt, path, os.path.join(tmp, f"{name}.wo.wasm")) if wasm_opt else None
    if wo:
        cmds["wasm-opt"] = (wo, None)
    times = {k: [] for k in cmds}
    for _ in range(runs):
        for key, (cmd, env) in cmds.items():
            cpu, wall, _rc = timed(cmd, env)
            times[key].append((cpu, wall))
    with open(f"{tmp}/{name}.cold.wasm", "rb") as f:
        cold = f.read()
    outs = [(tag, out) for tag in trees for out in (f"{tmp}/{name}{tag}.warm.wasm", primed[tag])]
    if compiled:
        outs.append(("", f"{tmp}/{name}.pure.wasm"))
    for _tag, out in outs:
        with open(out, "rb") as f:
            assert f.read() == cold, f"{name}: {out} differs from the cold run's output"
    with open(path, "rb") as f:
        code = read_module(f.read()).code_size
    row = {"module": name, "code": code}
    for key, pairs in times.items():
        row[key] = (statistics.median(c for c, _w in pairs), statistics.median(w for _c, w in pairs))
    return row


def bench_check(paths, runs, tmp, before=None):
    """`loom-post check` of an optimized module (brotli included), with an
    empty cache and with the cache its optimize run left: CPU medians."""
    trees = {"": ROOT, "@before": before} if before else {"": ROOT}
    print("| module | " + " | ".join(f"check{t} {k} CPU s" for t in trees
                                      for k in ("cold", "warm")) + " |")
    print("|---|" + "---:|" * (2 * len(trees)))
    for path in paths:
        name = os.path.basename(path)[:-5]
        cells = []
        for tag, tree in trees.items():
            cache = os.path.join(tmp, f"{name}{tag}.chk.cache")
            out = os.path.join(tmp, f"{name}{tag}.chk.wasm")
            _prime(loom(["--never-grow", "code", path, "-o", out], cache, tree))
            warm = loom([out], cache, tree, command="check")
            _prime(warm)   # records the output's brotli size (optimize measured gzip only)
            cold_times = []
            for i in range(runs):
                empty = os.path.join(tmp, f"{name}{tag}.empty{i}")
                cold_times.append(timed(*loom([out], empty, tree, command="check"))[0])
            warm_times = [timed(*warm)[0] for _ in range(runs)]
            cells += [statistics.median(cold_times), statistics.median(warm_times)]
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)


_WATCH_CHILD = """
import os, shutil, statistics, sys, tempfile, time
from loom_post.budget.config import load_config
from loom_post.postlink import optimize_one
runs = int(sys.argv[1])
for src in sys.argv[2:]:
    d = tempfile.mkdtemp()
    os.environ["XDG_CACHE_HOME"] = os.path.join(d, "cache")
    with open(os.path.join(d, "loom-post.toml"), "w") as f:
        f.write('never-grow = ["code"]\\n')
    config = load_config(os.path.join(d, "loom-post.toml"))
    path = os.path.join(d, "m.wasm")
    shutil.copy(src, path)
    optimize_one(path, config, jobs=1)   # primes the cache, rewrites in place
    same, own = [], []
    for _ in range(runs):
        shutil.copy(src, path)           # a build wrote the same module again
        t = time.process_time()
        assert optimize_one(path, config, jobs=1).result.cache == "module"
        same.append(time.process_time() - t)
        t = time.process_time()          # its own output, seen again
        assert optimize_one(path, config, jobs=1).result.cache == "own-output"
        own.append(time.process_time() - t)
    print(os.path.basename(src)[:-5], statistics.median(same), statistics.median(own))
    shutil.rmtree(d)
"""


def bench_watch(paths, runs, before=None):
    """What watch's processor pays for a module it has seen before: optimize_one
    in place in a process whose imports are loaded, cache primed; CPU medians.
    Each tree runs in a child process of its own."""
    trees = {"": ROOT, "@before": before} if before else {"": ROOT}
    found = {}
    for tag, tree in trees.items():
        env = tree_env(tree)
        out = subprocess.run([sys.executable, "-c", _WATCH_CHILD, str(runs), *paths], env=env,
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            name, same, own = line.split()
            found[(name, tag)] = (float(same), float(own))
    cases = ("same input again", "own output")
    print("| module | " + " | ".join(f"{what}{tag} ms" for what in cases for tag in trees) + " |")
    print("|---|" + "---:|" * (2 * len(trees)))
    for path in paths:
        name = os.path.basename(path)[:-5]
        cells = [found[(name, tag)][i] * 1000 for i in (0, 1) for tag in trees]
        print(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |", flush=True)


def ratio(row, key, i):
    return row[key][i] / row["wasm-opt"][i] if row.get("wasm-opt") and row["wasm-opt"][i] else None


def fmt(x):
    return "n/a" if x is None else f"{x:.2f}x"


def print_modules(rows):
    keys = [k for k in ("cold", "cold-pure", "warm-same", "warm-opt", "warm-same@before", "warm-opt@before",
                        "python") if any(k in r for r in rows)]
    print("| module | code KB | wasm-opt CPU s | python CPU s | cold CPU s | warm-same CPU s | "
          "warm-opt CPU s | " + " | ".join(f"{k} / wasm-opt (CPU, wall)" for k in keys) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(keys))
    for r in rows:
        if "error" in r:
            print(f"| {r['module']} | {r['error']} |")
            continue
        wo = r.get("wasm-opt", (None, None))[0]
        cells = [f"{fmt(ratio(r, k, 0))}, {fmt(ratio(r, k, 1))}" for k in keys]
        print(f"| {r['module']} | {r['code'] // 1024} | "
              f"{'n/a' if wo is None else f'{wo:.3f}'} | {r['python'][0]:.3f} | "
              f"{r['cold'][0]:.3f} | {r['warm-same'][0]:.3f} | {r['warm-opt'][0]:.3f} | "
              + " | ".join(cells) + " |")
    ok = [r for r in rows if "error" not in r and r.get("wasm-opt")]
    for label, sel in (("all modules", ok), ("over 500 KB of code", [r for r in ok if r["code"] > 500 * 1024])):
        if not sel:
            continue
        parts = []
        for k in keys:
            med = statistics.median(ratio(r, k, 0) for r in sel)
            total = sum(r[k][0] for r in sel) / sum(r["wasm-opt"][0] for r in sel)
            parts.append(f"{k} median {med:.2f}x, total {total:.2f}x")
        print(f"\n{label} ({len(sel)}), CPU: " + "; ".join(parts))
    for k in ("warm-same", "warm-opt"):
        pairs = [r[k][0] / r[k + "@before"][0] for r in ok if k + "@before" in r]
        if pairs:
            print(f"{k} after / before (CPU, same run), median over {len(pairs)} modules: "
                  f"{statistics.median(pairs):.2f}x")


def bench_adversarial(runs, tmp):
    """Each shape at its largest size against a flat module of ordinary
    functions of the same code size, `--never-grow code` as the cold column:
    bench/adversarial.py's --vs-flat, the one implementation. (A flat module of
    identical functions, as this used before, is folded by dedupe-functions
    and measures nothing.)"""
    return adversarial.vs_flat(list(SHAPES), runs, tmp, ("--never-grow", "code"))


def bench_functions(paths, runs):
    """In-process: the per-function cache alone. A module primes the cache;
    then the same module with a custom section appended (the whole-module
    key misses, every function's key hits) is optimized cold and from the
    cache; process CPU, median of `runs`, outputs must be identical."""
    from loom_post.cache import Store
    from loom_post.passes.cached_run import optimize
    from loom_post.wasm.leb128 import encode_u
    print("| module | cold CPU s | per-function hits CPU s | ratio | functions from the cache |")
    print("|---|---:|---:|---:|---:|")
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        with tempfile.TemporaryDirectory() as d:
            store = Store(d)
            optimize(data, never_grow=("code",), cache=store)
            cold, warm = [], []
            for i in range(runs):
                payload = encode_u(5) + b"bench" + bytes([i])
                m = data + b"\x00" + encode_u(len(payload)) + payload
                t = time.process_time()
                r0 = optimize(m, never_grow=("code",))
                cold.append(time.process_time() - t)
                t = time.process_time()
                r1 = optimize(m, never_grow=("code",), cache=store)
                warm.append(time.process_time() - t)
                assert r0.data == r1.data, f"{path}: a per-function hit changed the output"
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"| {os.path.basename(path)[:-5]} | {c:.3f} | {w:.3f} | {w / c:.2f}x | "
              f"{r1.functions_cached} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--raw", action="store_true", help="add the raw cargo corpus")
    ap.add_argument("--adversarial", action="store_true")
    ap.add_argument("--functions", action="store_true",
                    help="the per-function cache alone, in-process (needs modules)")
    ap.add_argument("--check", action="store_true",
                    help="`loom-post check` of an optimized module, cold and warm (needs modules)")
    ap.add_argument("--watch", action="store_true",
                    help="watch's re-run of a module seen before, in-process (needs modules)")
    ap.add_argument("--before", metavar="TREE",
                    help="also time the warm runs of the loom_post in TREE, in the same run")
    args = ap.parse_args(argv)
    if args.functions:
        bench_functions(args.modules, args.runs)
        return 0
    if args.watch:
        bench_watch(args.modules, args.runs, args.before)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.adversarial:
            bench_adversarial(args.runs, tmp)
            return 0
        if args.check:
            bench_check(args.modules, args.runs, tmp, args.before)
            return 0
        paths = args.modules
        if not paths:
            fetch = default_fetch()
            paths = corpus_paths(fetch) if fetch else []
            if args.raw:
                paths += sorted(glob.glob(os.path.join(RAW, "*.wasm")))
        wasm_opt = shutil.which("wasm-opt")
        build = build_of(ROOT)
        print(f"loom-post: {build}" + (f"; --before: {build_of(args.before)}" if args.before else ""))
        compiled = build.startswith("compiled")
        rows = []
        for p in paths:
            rows.append(bench_module(p, args.runs, args.jobs, wasm_opt, tmp, args.before, compiled))
            print(f"  {rows[-1]['module']} done", file=sys.stderr, flush=True)
        print_modules(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
