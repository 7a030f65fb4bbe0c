"""Adversarial module shapes for loom-post's time and memory: each is generated
at several sizes and optimized in a fresh process; the script prints time and
peak memory per size, so linear growth (or its absence) is visible.

    python3 bench/adversarial.py [--shape NAME] [--scale K ...]

Shapes: nested-blocks (n nested blocks with k distinct expressions inside),
nested-loops (n nested loops, each setting a different local), deep-nesting,
many-instrs (10^6 instructions), br-table (10^5 targets), many-funcs (10^5
functions), many-locals (5*10^4 locals).

    python3 bench/adversarial.py --vs-flat 3

compares each shape at its largest size with a flat module of ordinary
functions of the same code size (CPU seconds, median of pair ratios).
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from loom_post.wasm.leb128 import encode_s, encode_u  # noqa: E402


def _vec(items):
    return encode_u(len(items)) + b"".join(items)


def _section(sid, payload):
    return bytes([sid]) + encode_u(len(payload)) + payload


def module(bodies, nparams=1, memory=True):
    """A module of functions (i32 params) -> i32, each body = locals + code."""
    params = b"\x7f" * nparams
    types = _section(1, _vec([b"\x60" + encode_u(nparams) + params + b"\x01\x7f"]))
    funcs = _section(3, _vec([b"\x00"] * len(bodies)))
    mem = _section(5, _vec([b"\x00\x01"])) if memory else b""
    exports = _section(7, _vec([encode_u(1) + b"f" + b"\x00" + encode_u(0)]))
    code = _section(10, _vec([encode_u(len(b)) + b for b in bodies]))
    return b"\0asm\x01\x00\x00\x00" + types + funcs + mem + exports + code


def const(v):
    return b"\x41" + encode_s(v)


def expr(j):
    # (local.get 0 + 100000+j) * 70000: 3 + 4 + 1 + 4 + 1 = 13 bytes, distinct per j
    return b"\x20\x00" + const(100000 + j) + b"\x6a" + const(70000) + b"\x6c"


def nested_blocks(n, k=None):
    k = k or n
    inner = b"".join(expr(j) + b"\x1a" + expr(j) + b"\x1a" for j in range(k))
    code = b"\x02\x40" * n + inner + b"\x0b" * n + b"\x20\x00\x0b"
    return module([b"\x00" + code])


def nested_loops(n):
    # local j+1 set in the j-th loop; an expression over local 0 inside all
    code = b""
    for j in range(n):
        code += b"\x03\x40" + const(j) + b"\x21" + encode_u(j + 1)
    code += expr(0) + b"\x1a" + expr(0) + b"\x1a" + b"\x0b" * n + b"\x20\x00\x0b"
    return module([b"\x01" + encode_u(n) + b"\x7f" + code])


def many_instrs(n):
    unit = b"\x20\x00" + const(1) + b"\x6a\x21\x00"  # local0 = local0 + 1
    return module([b"\x00" + unit * (n // 4) + b"\x20\x00\x0b"])


def br_table(n):
    code = b"\x02\x40\x20\x00\x0e" + encode_u(n) + b"\x00" * n + b"\x00\x0b\x20\x00\x0b"
    return module([b"\x00" + code])


def many_funcs(n):
    return module([b"\x00" + expr(0) + b"\x1a" + expr(0) + b"\x1a\x20\x00\x0b"] * n)


def many_locals(n):
    code = b"".join(b"\x20" + encode_u(j) + b"\x1a" for j in range(0, n, 7)) + b"\x20\x00\x0b"
    return module([b"\x01" + encode_u(n) + b"\x7f" + code])


def deep_nesting(n):
    return nested_blocks(n, k=2)


_OPS = b"\x6a\x6b\x6c\x71\x72\x73"  # i32 add sub mul and or xor


def flat(code_bytes):
    """The reference for the shapes: ordinary functions of ~200 bytes, about as
    many bytes of code as the shape. Bodies differ in their operators (so neither
    dedupe nor merge-similar folds them) and each repeats one expression (so CSE
    has its usual work)."""
    bodies, size, f = [], 0, 0
    while size < code_bytes:
        pick = random.Random(f)
        ops = [_OPS[k:k + 1] for k in (pick.randrange(6) for _ in range(14))]
        body = b"".join(b"\x20\x00" + const(f * 16 + j) + op + b"\x1a" for j, op in enumerate(ops))
        body = b"\x00" + body + expr(f) + b"\x1a" + expr(f) + b"\x1a\x20\x00\x0b"
        bodies.append(body)
        size += len(body) + 2
        f += 1
    return module(bodies)


SHAPES = {
    "nested-blocks": (nested_blocks, [500, 1000, 2000, 4000]),
    "nested-loops": (nested_loops, [1000, 2000, 4000, 8000]),
    "deep-nesting": (deep_nesting, [2500, 5000, 10000, 20000]),
    "many-instrs": (many_instrs, [125000, 250000, 500000, 1000000]),
    "br-table": (br_table, [12500, 25000, 50000, 100000]),
    "many-funcs": (many_funcs, [12500, 25000, 50000, 100000]),
    "many-locals": (many_locals, [6250, 12500, 25000, 49000]),
}


_CHILD = ("import resource, sys\n"
          "from loom_post.cli import main\n"
          "rc = main(sys.argv[2:])\n"
          "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
          "sys.exit(rc)\n")


def measure(data, tmp, extra=()):
    """(wall seconds, the child's own peak RSS in MB, exit code, stderr head,
    the child's CPU seconds)."""
    path = os.path.join(tmp, "in.wasm")
    rss_file = os.path.join(tmp, "rss")
    with open(path, "wb") as f:
        f.write(data)
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.run([sys.executable, "-c", _CHILD, rss_file, "optimize", path, "-o",
                           os.path.join(tmp, "out.wasm"), "-j", "1", "--no-cache", *extra],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    rss_kb = 0
    if os.path.exists(rss_file):
        with open(rss_file) as f:
            rss_kb = int(f.read() or 0)
        os.unlink(rss_file)
    return wall, rss_kb / 1024, proc.returncode, proc.stderr.strip()[:120], cpu


def _code_size(data):
    from loom_post.wasm.module import read_module
    return read_module(data).code_size


def vs_flat(names, runs, tmp, extra=()):
    """Each shape at its largest size against a flat module of as many code
    bytes, interleaved, CPU seconds; the issue's bound is 2x."""
    print("| shape | n | code KB | shape CPU s | flat CPU s | shape / flat |")
    print("|---|---:|---:|---:|---:|---:|")
    ratios = []
    for name in names:
        make, sizes = SHAPES[name]
        data = make(sizes[-1])
        ref = flat(_code_size(data))
        pairs = [(measure(data, tmp, extra)[4], measure(ref, tmp, extra)[4]) for _ in range(runs)]
        pairs.sort(key=lambda p: p[0] / p[1])
        a = sorted(p[0] for p in pairs)[runs // 2]
        b = sorted(p[1] for p in pairs)[runs // 2]
        ratio = pairs[runs // 2][0] / pairs[runs // 2][1]
        ratios.append(ratio)
        print(f"| {name} | {sizes[-1]} | {_code_size(data) // 1024} | {a:.2f} | {b:.2f} | {ratio:.2f}x |",
              flush=True)
    print(f"\nworst shape / flat (median of {runs} pair ratios): {max(ratios):.2f}x")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", action="append", choices=sorted(SHAPES))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    ap.add_argument("--vs-flat", type=int, metavar="RUNS", default=0,
                    help="instead: each shape at its largest size against a flat module of the same code size")
    ap.add_argument("--code-only", action="store_true",
                    help="with --vs-flat: `--never-grow code`, so the guard's brotli runs do not weigh")
    args = ap.parse_args(argv)
    if args.vs_flat:
        extra = ("--never-grow", "code") if args.code_only else ()
        with tempfile.TemporaryDirectory() as tmp:
            return vs_flat(args.shape or list(SHAPES), args.vs_flat, tmp, extra)
    print("| shape | n | module KB | s | s per n (us) | peak MB | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.shape or SHAPES:
            make, sizes = SHAPES[name]
            for n in sizes:
                n = max(1, int(n * args.scale))
                data = make(n)
                wall, mb, rc, err, _ = measure(data, tmp)
                print(f"| {name} | {n} | {len(data) // 1024} | {wall:.2f} | "
                      f"{wall / n * 1e6:.1f} | {mb:.0f} | {rc}{' ' + err if rc else ''} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
