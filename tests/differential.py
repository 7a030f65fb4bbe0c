"""Differential execution in a real engine (wasmtime): run the same calls on two
modules and compare everything observable.

    run_module(wasm_bytes, calls)      -> Observations
    compare(before, after, calls)      -> number of calls compared; AssertionError with a diff
    random_calls(module_bytes, rng, n) -> [(export name, args)]

What is observed, per call, on one fresh instance per call sequence:
  - the results (integers as wasm returns them, floats as their IEEE bit patterns:
    no NaN canonicalisation; an f32 crosses wasmtime-py as a Python float, which
    may quieten a signalling NaN, identically for both modules),
  - or the trap: its TrapCode and the "wasm trap: ..." line (never the backtrace,
    whose code offsets legitimately change),
  - the calls the module made to its imports during the call, with their
    arguments (host functions are deterministic: they log and return a value
    derived from their name and arguments),
  - afterwards: the size and sha256 of every memory we can see (exported ones and
    the ones we supplied as imports) and the value of every exported global.

Instantiation (data segments, start function) is an observation too.

Fuel bounds every call. The reference ("before") module gets FUEL per call; when
it runs out (or overflows the stack) the comparison stops there as
inconclusive. The "after" module gets 4x as much, so an "after" that runs out
where "before" did not is reported as a difference (a rewrite that made a loop
endless), not hidden.
"""

import ctypes
import hashlib
import random
import struct
import zlib

import wasmtime

from loom_post.passes.validate import engine_config

from loom_post.wasm.module import read_module

FUEL = 20_000_000
MEMORY_LIMIT = 64 << 20   # memory.grow beyond this fails (returns -1), deterministically
INCONCLUSIVE = ("OUT_OF_FUEL", "STACK_OVERFLOW")

_NUMERIC = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64"}
I32_MIN, I32_MAX = -2 ** 31, 2 ** 31 - 1
I64_MIN, I64_MAX = -2 ** 63, 2 ** 63 - 1


# --- engine -------------------------------------------------------------------
def _shared_memory_as_extern(self):
    # wasmtime-py 50 passes a pointer to the pointer here
    # (ctypes.pointer(self.ptr())), so a SharedMemory cannot be given as an
    # import; this is the call it means to make.
    from wasmtime import _ffi as ffi
    union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
    return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)


def _patch_shared_memory():
    import inspect
    try:
        src = inspect.getsource(wasmtime.SharedMemory._as_extern)
    except (OSError, TypeError):
        return
    if "ctypes.pointer(self.ptr())" in src:
        wasmtime.SharedMemory._as_extern = _shared_memory_as_extern


_patch_shared_memory()


_ENGINE = None
_MODULE_CACHE = {}
_CACHE_LIMIT = 64


def make_config(fuel=True):
    config = engine_config(wasmtime)
    if fuel:
        config.consume_fuel = True
    return config


def engine():
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = wasmtime.Engine(make_config())
    return _ENGINE


def compile_module(wasm_bytes):
    """wasmtime.Module for these bytes (cached: hypothesis runs many small modules)."""
    key = hashlib.sha256(wasm_bytes).digest()
    mod = _MODULE_CACHE.get(key)
    if mod is None:
        if len(_MODULE_CACHE) >= _CACHE_LIMIT:
            _MODULE_CACHE.pop(next(iter(_MODULE_CACHE)))
        mod = wasmtime.Module(engine(), wasm_bytes)
        _MODULE_CACHE[key] = mod
    return mod


def validate(wasm_bytes):
    """Raise wasmtime.WasmtimeError if the engine rejects the module."""
    wasmtime.Module.validate(engine(), wasm_bytes)


# --- values -------------------------------------------------------------------
def _kind(valtype):
    return str(valtype)


def _encode_value(kind, value):
    """A value as compared: ints as they are, floats by their bit pattern."""
    if kind == "f32":
        return ("f32", struct.unpack("<I", struct.pack("<f", value))[0])
    if kind == "f64":
        return ("f64", struct.unpack("<Q", struct.pack("<d", value))[0])
    if kind in ("i32", "i64"):
        return value
    return (kind, None if value is None else "non-null")


def _derived(kind, seed):
    """A deterministic host return value of type `kind`."""
    h = zlib.crc32(repr(seed).encode())
    if kind == "i32":
        return (h & 0xFFFF) - 0x100 if h & 0x10000 else h & 0xFF  # small ints mostly
    if kind == "i64":
        return ((h * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) - (2 ** 63 if h & 1 else 0) \
            if h & 2 else h & 0xFFFF
    if kind == "f32" or kind == "f64":
        return float(h % 1000) / 8.0
    return None  # references


def _trap_kind(exc):
    """The part of a trap that must not change: its TrapCode and the engine's
    reasons ("wasm trap: ...", "memory fault at wasm address ..."), never the
    backtrace (its code offsets legitimately change)."""
    code = getattr(exc, "trap_code", None)
    text = str(exc)
    reasons = []
    for ln in text.splitlines():
        ln = ln.strip()
        head, sep, rest = ln.partition(": ")
        if sep and head.isdigit():
            ln = rest
        if ln.startswith(("wasm trap:", "wasm `unreachable`", "memory fault at")):
            reasons.append(ln)
    if not reasons:
        # No backtrace format (an error from host code, ...): its first line.
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        reasons.append(first if "0x" not in first else type(exc).__name__)
    code_name = code.name if code is not None and hasattr(code, "name") else str(code)
    return {"trap": code_name, "message": " | ".join(reasons)}


# --- one run ------------------------------------------------------------------
class Observations:
    def __init__(self):
        self.instantiation = None   # None when it succeeded, else a trap/error record
        self.calls = []             # one dict per call

    def __repr__(self):
        return f"Observations(instantiation={self.instantiation!r}, calls={len(self.calls)})"


class _Host:
    def __init__(self, store, module, host_mode):
        self.store = store
        self.log = []
        self.memories = []          # (label, Memory or SharedMemory)
        self.externs = []
        self.host_mode = host_mode
        for imp in module.imports:
            self.externs.append(self._make(imp))

    def _make(self, imp):
        ty = imp.type
        label = f"{imp.module}.{imp.name}"
        if isinstance(ty, wasmtime.FuncType):
            params = [_kind(p) for p in ty.params]
            results = [_kind(r) for r in ty.results]
            log = self.log
            mode = self.host_mode

            def host(*args, _label=label, _params=params, _results=results):
                enc = tuple(_encode_value(k, a) for k, a in zip(_params, args))
                log.append((_label, enc))
                if mode == "trap":
                    raise wasmtime.WasmtimeError(f"host import {_label} called")
                vals = [_derived(k, (_label, enc, i)) for i, k in enumerate(_results)]
                if not vals:
                    return None
                return vals[0] if len(vals) == 1 else tuple(vals)

            return wasmtime.Func(self.store, ty, host)
        if isinstance(ty, wasmtime.MemoryType):
            if ty.is_shared:
                mem = wasmtime.SharedMemory(engine(), ty)
            else:
                mem = wasmtime.Memory(self.store, ty)
            self.memories.append((label, mem))
            return mem
        if isinstance(ty, wasmtime.GlobalType):
            k = _kind(ty.content)
            return wasmtime.Global(self.store, ty, _derived(k, label) if k in _NUMERIC.values() else None)
        if isinstance(ty, wasmtime.TableType):
            return wasmtime.Table(self.store, ty, None)
        if isinstance(ty, wasmtime.TagType):
            return wasmtime.Tag(self.store, ty)
        raise NotImplementedError(f"cannot supply import {label} of type {ty}")


def _memory_bytes(store, mem):
    if isinstance(mem, wasmtime.SharedMemory):
        n = mem.data_len()
        ptr = mem.data_ptr()
    else:
        n = mem.data_len(store)
        ptr = mem.data_ptr(store)
    return ctypes.string_at(ptr, n) if n else b""


def _state(store, host, instance_exports, export_types):
    mems = []
    globs = []
    for label, mem in host.memories:
        data = _memory_bytes(store, mem)
        mems.append((label, len(data), hashlib.sha256(data).hexdigest()[:16]))
    for name, ty in export_types:
        if isinstance(ty, wasmtime.MemoryType):
            ext = instance_exports[name]
            data = _memory_bytes(store, ext)
            mems.append((name, len(data), hashlib.sha256(data).hexdigest()[:16]))
        elif isinstance(ty, wasmtime.GlobalType):
            k = _kind(ty.content)
            globs.append((name, _encode_value(k, instance_exports[name].value(store))))
    return tuple(mems), tuple(globs)


def run_module(wasm_bytes, calls, fuel=FUEL, host_mode="record"):
    """Instantiate `wasm_bytes` once and make `calls` ([(export name, args)]) in order."""
    module = compile_module(wasm_bytes)
    store = wasmtime.Store(engine())
    store.set_limits(memory_size=MEMORY_LIMIT)
    obs = Observations()
    host = _Host(store, module, host_mode)
    export_types = [(e.name, e.type) for e in module.exports]
    store.set_fuel(fuel)
    try:
        instance = wasmtime.Instance(store, module, host.externs)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        obs.instantiation = _trap_kind(e)
        obs.instantiation["host_calls"] = tuple(host.log)
        return obs
    exports = instance.exports(store)
    funcs = {name: ty for name, ty in export_types if isinstance(ty, wasmtime.FuncType)}
    for name, args in calls:
        ty = funcs[name]
        result_kinds = [_kind(r) for r in ty.results]
        del host.log[:]
        store.set_fuel(fuel)
        rec = {"call": (name, tuple(args))}
        try:
            value = exports[name](store, *args)
            values = list(value) if len(result_kinds) > 1 else ([] if not result_kinds else [value])
            rec["results"] = tuple(_encode_value(k, v) for k, v in zip(result_kinds, values))
        except wasmtime.Trap as e:
            rec.update(_trap_kind(e))
        except wasmtime.WasmtimeError as e:
            rec.update(_trap_kind(e))
        rec["host_calls"] = tuple(host.log)
        rec["memories"], rec["globals"] = _state(store, host, exports, export_types)
        obs.calls.append(rec)
    return obs


# --- comparison ---------------------------------------------------------------
def _fmt_calls(calls, upto):
    return "\n".join(f"    #{i}: {n}{tuple(a)}" for i, (n, a) in enumerate(calls[:upto + 1]))


def compare(before_bytes, after_bytes, calls, fuel=FUEL, host_mode="record"):
    """Run `calls` on both modules (fresh instance each) and assert the observations
    are equal. Returns how many calls were compared (fewer than len(calls) when the
    reference ran out of fuel or stack: the rest is inconclusive)."""
    before = run_module(before_bytes, calls, fuel=fuel, host_mode=host_mode)
    after = run_module(after_bytes, calls, fuel=4 * fuel, host_mode=host_mode)
    if before.instantiation != after.instantiation:
        raise AssertionError("instantiation differs:\n"
                             f"  before: {before.instantiation}\n  after:  {after.instantiation}")
    if before.instantiation is not None:
        return 0
    compared = 0
    for i, (b, a) in enumerate(zip(before.calls, after.calls)):
        if b.get("trap") in INCONCLUSIVE:
            break
        if b != a:
            lines = [f"call #{i} {b['call'][0]}{b['call'][1]} behaves differently:"]
            for key in sorted(set(b) | set(a)):
                if b.get(key) != a.get(key):
                    lines.append(f"  {key}:\n    before: {b.get(key)!r}\n    after:  {a.get(key)!r}")
            lines.append("  calls made on this instance so far:\n" + _fmt_calls(calls, i))
            raise AssertionError("\n".join(lines))
        compared += 1
    return compared


def differs(before_bytes, after_bytes, calls, **kw):
    """True when compare() finds a difference (for self-checks of the harness)."""
    try:
        compare(before_bytes, after_bytes, calls, **kw)
    except AssertionError:
        return True
    return False


# --- argument generation ------------------------------------------------------
def numeric_exports(module_bytes):
    """[(export name, [param kinds])] for exported functions whose params and results
    are all i32/i64/f32/f64."""
    m = read_module(module_bytes)
    out = []
    for name, kind, idx in m.exports:
        if kind != "func":
            continue
        params, results = m.func_type(idx)
        if all(p in _NUMERIC for p in params) and all(r in _NUMERIC for r in results):
            out.append((name, [_NUMERIC[p] for p in params]))
    return out


def memory_bytes(module_bytes):
    m = read_module(module_bytes)
    if not m.memories:
        return 0
    return m.memories[0][1] * 65536


def _value(kind, rng, mem):
    r = rng.random()
    if kind == "i32":
        if r < 0.25:
            return rng.choice((0, 1, -1, I32_MIN, I32_MAX, 2, 3, 4, 8, 16, 255, 256, 65535, 65536))
        if r < 0.5:
            return rng.randint(-3, 8)  # hits small branch conditions
        if r < 0.8 and mem:
            return rng.choice((rng.randrange(0, max(mem - 64, 1)) & ~7, rng.randrange(0, min(mem, 4096)),
                               mem - 4, mem - 8, mem))  # addresses, some at the very end
        v = rng.getrandbits(32)
        return v - 2 ** 32 if v >= 2 ** 31 else v
    if kind == "i64":
        if r < 0.3:
            return rng.choice((0, 1, -1, I64_MIN, I64_MAX, I32_MIN, I32_MAX, 2 ** 32, 2, 3))
        if r < 0.55:
            return rng.randint(-3, 8)
        if r < 0.7 and mem:
            return rng.randrange(0, mem)
        v = rng.getrandbits(64)
        return v - 2 ** 64 if v >= 2 ** 63 else v
    if kind in ("f32", "f64"):
        if r < 0.5:
            return rng.choice((0.0, -0.0, 1.0, -1.5, 0.5, float("inf"), float("-inf"),
                               float("nan"), 3.0e9, -3.0e9, 1e-40))
        return rng.uniform(-1e6, 1e6)
    raise ValueError(kind)


def random_args(kinds, rng, mem):
    return tuple(_value(k, rng, mem) for k in kinds)


def random_calls(module_bytes, rng, n, exports=None):
    """`n` calls ([(export name, args)]) to exported functions with numeric
    signatures, with edge values, small ints and in-memory addresses."""
    if isinstance(rng, int):
        rng = random.Random(rng)
    funcs = numeric_exports(module_bytes)
    if exports is not None:
        funcs = [f for f in funcs if f[0] in exports]
    if not funcs:
        return []
    mem = memory_bytes(module_bytes)
    return [(name, random_args(kinds, rng, mem))
            for name, kinds in (rng.choice(funcs) for _ in range(n))]
