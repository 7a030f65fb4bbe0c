"""Adversarial module shapes for loom-post's time and memory: each is generated
at several sizes and optimized in a fresh process; the script prints time and
peak memory per size, so linear growth (or its absence) is visible.

    python3 bench/adversarial.py [--shape NAME] [--scale K ...]

Shapes: nested-blocks (n nested blocks with k distinct expressions inside),
nested-loops (n nested loops, each setting a different local), deep-nesting,
many-instrs (10^6 instructions), br-table (10^5 targets), many-funcs (10^5
functions), many-locals (5*10^4 locals).
"""

import argparse
import os
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


def measure(data, tmp):
    """(wall seconds, the child's own peak RSS in MB, exit code, stderr head)."""
    path = os.path.join(tmp, "in.wasm")
    rss_file = os.path.join(tmp, "rss")
    with open(path, "wb") as f:
        f.write(data)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, rss_file, "optimize", path, "-o",
                           os.path.join(tmp, "out.wasm"), "-j", "1", "--no-cache"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    rss_kb = 0
    if os.path.exists(rss_file):
        with open(rss_file) as f:
            rss_kb = int(f.read() or 0)
        os.unlink(rss_file)
    return wall, rss_kb / 1024, proc.returncode, proc.stderr.strip()[:120]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", action="append", choices=sorted(SHAPES))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    args = ap.parse_args(argv)
    print("| shape | n | module KB | s | s per n (us) | peak MB | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.shape or SHAPES:
            make, sizes = SHAPES[name]
            for n in sizes:
                n = max(1, int(n * args.scale))
                data = make(n)
                wall, mb, rc, err = measure(data, tmp)
                print(f"| {name} | {n} | {len(data) // 1024} | {wall:.2f} | "
                      f"{wall / n * 1e6:.1f} | {mb:.0f} | {rc}{' ' + err if rc else ''} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
