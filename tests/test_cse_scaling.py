"""The CSE scan on adversarial shapes: deep nests of blocks and loops stay
correct, and the memory a nest of loops needs grows linearly with its depth
(it used to hold every loop's transitive write set: O(n^2))."""

import os
import sys
import tracemalloc

import wasmtime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.adversarial import nested_blocks, nested_loops  # noqa: E402
from loom_post.passes.cached_run import optimize  # noqa: E402


def _call(data, arg):
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, data), [])
    return inst.exports(store)["f"](store, arg)


def test_nested_blocks_are_optimized_and_keep_behaviour():
    data = nested_blocks(200, 50)
    r = optimize(data)
    # each of the 50 expressions once, and the shared constant 70000
    assert r.passes["cse"].get("deduplicated") >= 50
    for x in (0, 7, -100):
        assert _call(r.data, x) == _call(data, x)


def test_a_value_set_in_a_nested_loop_is_not_reused_across_its_back_edge():
    data = nested_loops(50)
    r = optimize(data)
    wasmtime.Module.validate(wasmtime.Engine(), r.data)
    # The expression reads local 0, which no loop writes: reused inside.
    assert r.passes["cse"].get("deduplicated") == 1


def _peak(data):
    tracemalloc.start()
    optimize(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_of_a_nest_of_loops_grows_linearly():
    small, large = _peak(nested_loops(1000)), _peak(nested_loops(4000))
    # 4x the depth: linear needs ~4x; the old transitive sets needed ~16x.
    assert large < 6 * small, (small, large)
