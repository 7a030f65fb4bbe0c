"""The function passes (compact, CSE) on real Rust-built modules (the shared
corpus, 16 KB to 2 MB of code). The module passes, which renumber functions,
are checked on the same corpus in test_passes_corpus.py.

Per module:
  - optimize() output validates in wasmtime (SIMD, bulk memory, reference types,
    multi-value, threads enabled); a module the engine rejects as INPUT skips;
  - the code section is never larger, every function body is either byte for byte
    the input's or strictly smaller, the function count is unchanged;
  - every section other than the code section and `.debug_*` is preserved byte for
    byte and in order (custom sections included: `name`, `producers`,
    `target_features`, wasm-bindgen's, ...);
  - the exported functions taking only numbers are run, before and after, on the
    same argument vectors in wasmtime with recording stub imports, and must behave
    identically (tests/differential.py). Modules that cannot be instantiated with
    stub imports skip that part, with the reason.

Runtime: about 20 s on 2 cores for the 13 corpus modules (7.4 MB of code), the
largest (resvg, 2 MB of code) included. A module with more than
LOOM_CORPUS_FAST_LIMIT bytes of code (default 4 MB: none of the corpus today)
runs its *execution* part only with LOOM_SLOW=1; its static checks always run.
"""

import os
import random
import time

import pytest
import wasmtime

from loom_post.wasm.module import read_module
from loom_post.passes.cached_run import optimize

from conftest import corpus_modules
from differential import compare, compile_module, numeric_exports, random_calls, validate

pytestmark = pytest.mark.corpus

SLOW = os.environ.get("LOOM_SLOW") == "1"
FAST_LIMIT = int(os.environ.get("LOOM_CORPUS_FAST_LIMIT", str(4_000_000)))
CALLS_PER_EXPORT = 3
MAX_CALLS = 90

_RESULTS = {}
FUNCTION_PASSES = ["compact", "cse"]


def load(path):
    with open(path, "rb") as f:
        return f.read()


def optimized(path):
    """(input bytes, OptimizeResult), computed once per module per session."""
    if path not in _RESULTS:
        data = load(path)
        t = time.perf_counter()
        res = optimize(data, passes=FUNCTION_PASSES)
        _RESULTS[path] = (data, res, time.perf_counter() - t)
    return _RESULTS[path][:2]


def _ids(paths):
    return [os.path.basename(p)[:-5] for p in paths]


MODULES = corpus_modules()


def test_corpus_present(corpus):
    assert corpus  # skips with the fetch hint when the corpus is missing


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_corpus_output_valid_and_not_larger(path):
    data = load(path)
    try:
        validate(data)
    except wasmtime.WasmtimeError as e:
        pytest.skip(f"wasmtime rejects the input itself: {str(e).splitlines()[0]}")
    data, res = optimized(path)
    validate(res.data)
    before, after = read_module(data), read_module(res.data)
    assert res.code_bytes_before == before.code_size
    assert res.code_bytes_after == after.code_size <= before.code_size
    assert len(after.code) == len(before.code)
    assert after.func_types == before.func_types
    changed = 0
    for pos, (b, a) in enumerate(zip(before.code, after.code)):
        old = data[b.start:b.end]
        new = res.data[a.start:a.end]
        if old != new:
            changed += 1
            assert len(new) < len(old), f"function {before.func_index(pos)} changed but did not shrink"
    assert changed == res.functions_changed
    assert (res.code_bytes_before - res.code_bytes_after > 0) == (changed > 0)


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_corpus_other_sections_preserved(path):
    data, res = optimized(path)
    before, after = read_module(data), read_module(res.data)

    def sections(m, raw, drop_debug):
        out = []
        for s in m.sections:
            if s.id == 10:
                out.append(("code", None))
            elif s.id == 0 and drop_debug and s.name.startswith(".debug_"):
                continue
            else:
                out.append((s.name if s.id == 0 else s.kind, raw[s.start:s.end]))
        return out

    dropped = set(res.dwarf_dropped)
    assert all(n.startswith(".debug_") for n in dropped)
    expect = [(n, b) for n, b in sections(before, data, False) if n not in dropped]
    got = sections(after, res.data, False)
    assert [n for n, _ in got] == [n for n, _ in expect]   # same sections, same order
    for (n, b_old), (_n, b_new) in zip(expect, got):
        assert b_old == b_new, f"section {n} changed"
    if not res.functions_changed:
        assert not dropped and res.data == data


def blocking_ops(data):
    """Names of the `memory.atomic.wait*` instructions the module contains."""
    from loom_post.wasm.instructions import decode_body
    from loom_post.errors import DecodeError
    m = read_module(data)
    found = set()
    if not any(mem[0] & 0x02 for mem in m.memories):   # waits need shared memory
        return []
    for entry in m.code:
        try:
            body = decode_body(data, entry.body_start, entry.end)
        except DecodeError:
            continue
        for info, _imm, _s, _e in body.instrs:
            if info.name.startswith("memory.atomic.wait"):
                found.add(info.name)
    return sorted(found)


def _instantiable(data):
    """None when the module runs with recording stub imports, else the reason."""
    from differential import run_module
    try:
        obs = run_module(data, [])
    except NotImplementedError as e:
        return str(e)
    except wasmtime.WasmtimeError as e:
        return f"cannot instantiate with stub imports: {str(e).splitlines()[0]}"
    if obs.instantiation is not None:
        return f"instantiation traps with stub imports: {obs.instantiation['message']}"
    return None


def executable_exports(data, res):
    """The input's numeric exports, or skip the test with the reason it cannot
    be executed here (too big for the fast run, nothing callable, not
    compilable, a wait that could block forever, traps on instantiation)."""
    if res.code_bytes_before > FAST_LIMIT and not SLOW:
        pytest.skip(f"{res.code_bytes_before} bytes of code: execution part runs with LOOM_SLOW=1")
    exports = numeric_exports(data)
    if not exports:
        pytest.skip("no exported function takes only numbers")
    try:
        compile_module(data)
    except wasmtime.WasmtimeError as e:
        pytest.skip(f"wasmtime cannot compile the input: {str(e).splitlines()[0]}")
    waits = blocking_ops(data)
    if waits:
        pytest.skip(f"uses {', '.join(waits)}: a call could block forever (no other thread "
                    "notifies, and fuel does not interrupt a wait)")
    reason = _instantiable(data)
    if reason:
        pytest.skip(reason)
    return exports


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_corpus_exports_behave_identically(path):
    data, res = optimized(path)
    if res.data is data:
        pytest.skip("the pass changed nothing in this module")
    exports = executable_exports(data, res)
    rng = random.Random(os.path.basename(path))
    calls = random_calls(data, rng, min(MAX_CALLS, CALLS_PER_EXPORT * len(exports)))
    compared = compare(data, res.data, calls)
    # Also each export alone on a fresh instance, so a call that wrecks the
    # allocator's state early does not hide all the later ones.
    for name, kinds in exports[:30]:
        compare(data, res.data, [c for c in calls if c[0] == name][:2] or
                random_calls(data, rng, 1, exports={name}))
    assert compared >= 1
