"""Every default pass together, and dedupe-functions, merge-similar-functions
and renumber-functions alone, on the real corpus modules and the example.

Per module: the output validates in wasmtime, is never larger (module and code
section), a second run changes nothing, the sections no pass rewrites (import,
table, memory, data, custom sections other than `name` and `.debug_*`) are byte
for byte the input's, the type section only gained types at its end
(merge-similar-functions' shared bodies), function names survive for every kept function,
the per-pass code savings add up to the module's, and the exported functions
taking only numbers behave identically in wasmtime (tests/differential.py).
"""

import os
import random

import pytest
import wasmtime

from loom_post.passes.cached_run import optimize
from loom_post.wasm.module import read_module

from conftest import ROOT, corpus_modules
from differential import compare, random_calls, validate
from test_cse_corpus import executable_exports

pytestmark = pytest.mark.corpus

EXAMPLE = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")
MODULES = corpus_modules() + ([EXAMPLE] if os.path.exists(EXAMPLE) else [])
_RESULTS = {}


def _id(path):
    return os.path.basename(path)[:-5]


def optimized(path, passes=None):
    key = (path, tuple(passes or ()))
    if key not in _RESULTS:
        with open(path, "rb") as f:
            data = f.read()
        _RESULTS[key] = (data, optimize(data, passes=passes))
    return _RESULTS[key]


def _untouched(m, raw):
    return [(s.id, s.name, raw[s.start:s.end]) for s in m.sections
            if s.id in (2, 4, 5, 11, 13)
            or (s.id == 0 and s.name != "name" and not s.name.startswith(".debug_"))]


@pytest.mark.parametrize("passes", [None, ["dedupe-functions"], ["merge-similar-functions"],
                                    ["renumber-functions"]],
                         ids=["defaults", "dedupe", "merge-similar", "renumber"])
@pytest.mark.parametrize("path", MODULES, ids=[_id(p) for p in MODULES])
def test_corpus_static(path, passes):
    data, res = optimized(path, passes)
    try:
        validate(data)
    except wasmtime.WasmtimeError as e:
        pytest.skip(f"wasmtime rejects the input itself: {str(e).splitlines()[0]}")
    validate(res.data)
    assert len(res.data) <= len(data)
    before, after = read_module(data), read_module(res.data)
    assert after.code_size <= before.code_size
    saved = sum(s.bytes_saved for s in res.passes.values()) + res.bytes_saved_by_reencoding
    assert saved == before.code_size - after.code_size
    assert _untouched(before, data) == _untouched(after, res.data)
    assert after.types[:len(before.types)] == before.types
    removed = res.passes["dedupe-functions"].get("functions_removed") \
        if "dedupe-functions" in res.passes else 0
    added = res.passes["merge-similar-functions"].get("shared_bodies") \
        if "merge-similar-functions" in res.passes else 0
    assert len(after.code) == len(before.code) - removed + added
    old_names, new_names = before.function_names(), after.function_names()
    if old_names:
        assert len(new_names) == len(old_names) - removed
        assert set(new_names.values()) <= set(old_names.values())
    assert optimize(res.data, passes=passes).data == res.data


@pytest.mark.parametrize("path", MODULES, ids=[_id(p) for p in MODULES])
def test_corpus_defaults_behave_identically(path):
    data, res = optimized(path)
    if res.data is data:
        pytest.skip("the passes changed nothing in this module")
    exports = executable_exports(data, res)
    rng = random.Random(_id(path))
    calls = random_calls(data, rng, min(90, 3 * len(exports)))
    compared = compare(data, res.data, calls)
    for name, _kinds in exports[:30]:
        compare(data, res.data, [c for c in calls if c[0] == name][:2] or
                random_calls(data, rng, 1, exports={name}))
    assert compared >= 1
