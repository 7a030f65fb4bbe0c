"""The `redundant-zero-sets` pass: exact removals, proven by execution.

Each function of MODULE holds one case: a zero set that is redundant (at entry,
after branches, twice in a row, i64) or one that is not (a parameter, after a
write, after a tee, inside a loop, a non-zero constant, f32 zero). The optimized
module must remove exactly the redundant pairs, behave like the input in wasmtime
(tests/differential.py), and a deliberately wrong version (one that forgets
earlier writes, or loops) must be caught by the same harness.
"""

import random

import pytest

from loom_post.passes import zero_sets
from loom_post.passes.cached_run import optimize
from loom_post.wasm.instructions import decode_body
from loom_post.wasm.module import read_module

from differential import compare, differs, random_calls
from wat_util import wat

ONLY = ["redundant-zero-sets"]

MODULE = """
(module
  (import "env" "g" (global $g i32))
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "entry") (param i32) (result i32) (local i32)
    (local.set 1 (i32.const 0))
    (if (local.get 0) (then (local.set 1 (i32.const 5))))
    (local.get 1))
  (func (export "after_branches") (param i32) (result i32) (local i32 i64)
    (block (br_if 0 (i32.eqz (local.get 0)))
      (local.set 2 (i64.const 0))
      (local.set 1 (i32.const 0))
      (local.set 1 (i32.const 0))
      (local.set 1 (i32.add (local.get 1) (local.get 0))))
    (i32.add (local.get 1) (i32.wrap_i64 (local.get 2))))
  (func (export "param") (param i32) (result i32)
    (local.set 0 (i32.const 0))
    (local.get 0))
  (func (export "after_write") (param i32) (result i32) (local i32)
    (local.set 1 (local.get 0))
    (drop (call $host (local.get 1)))
    (local.set 1 (i32.const 0))
    (local.get 1))
  (func (export "after_tee") (param i32) (result i32) (local i32)
    (drop (local.tee 1 (i32.add (local.get 0) (global.get $g))))
    (local.set 1 (i32.const 0))
    (i32.add (local.get 1) (local.get 0)))
  (func (export "in_loop") (param i32) (result i32) (local i32 i32)
    (loop $again
      (local.set 2 (i32.add (local.get 2) (local.get 1)))
      (local.set 1 (i32.const 0))
      (local.set 1 (i32.add (local.get 1) (i32.const 3)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $again (i32.gt_s (local.get 0) (i32.const 0))))
    (local.get 2))
  (func (export "non_zero") (result i32) (local i32 f32)
    (local.set 1 (f32.const 0))
    (local.set 0 (i32.const 7))
    (i32.add (local.get 0) (i32.trunc_f32_s (local.get 1)))))
"""

IMPORTS = {"env.g": 11}


def _sets(data):
    """Per function, the number of `local.set` instructions."""
    m = read_module(data)
    return [sum(1 for ins in decode_body(m.data, e.body_start, e.end).instrs
                if ins[0].name == "local.set") for e in m.code]


def _calls(data):
    return random_calls(data, random.Random(5), 80)


def test_exactly_the_redundant_zero_sets_are_removed():
    data = wat(MODULE)
    result = optimize(data, passes=ONLY, never_grow=("code",))
    assert result.changed
    before, after = _sets(data), _sets(result.data)
    # entry: 1 removed; after_branches: i64 and both i32 zero sets; the rest: none
    assert [b - a for b, a in zip(before, after)] == [1, 3, 0, 0, 0, 0, 0]
    assert result.passes["redundant-zero-sets"].get("sets_removed") == 4
    # each pair is 2 (const) + 2 (set of a local below 128) bytes
    assert result.code_bytes_before - result.code_bytes_after == 16
    again = optimize(result.data, passes=ONLY, never_grow=("code",))
    assert not again.changed  # a fixed point


def test_the_rewrite_behaves_like_the_input():
    data = wat(MODULE)
    out = optimize(data, passes=ONLY, never_grow=("code",)).data
    assert compare(data, out, _calls(data)) > 0
    small = [(name, (k,)) for name in ("entry", "after_branches", "param", "after_write",
                                       "after_tee", "in_loop") for k in range(-1, 6)]
    assert compare(data, out, small) == len(small)


def test_a_zero_tee_stays_and_counts_as_a_write():
    """`local.tee $x (i32.const 0)` leaves its value on the stack: the pair is
    never removed (the walk tells a tee from a set by its row), and it writes $x,
    so a later zero set of $x stays too; a zero set of another local goes."""
    data = wat("""
(module
  (func (export "zero_tee") (param i32) (result i32) (local i32 i32)
    (local.set 2 (i32.const 0))
    (local.set 0 (i32.add (local.tee 1 (i32.const 0)) (local.get 0)))
    (local.set 1 (i32.const 0))
    (i32.add (local.get 1) (i32.add (local.get 2) (local.get 0)))))
""")
    result = optimize(data, passes=ONLY, never_grow=("code",))
    assert result.passes["redundant-zero-sets"].get("sets_removed") == 1
    assert [b - a for b, a in zip(_sets(data), _sets(result.data))] == [1]
    assert compare(data, result.data, [("zero_tee", (k,)) for k in (-1, 0, 5)]) == 3


@pytest.mark.parametrize("forget", ["written", "loops"])
def test_the_harness_catches_a_wrong_version(monkeypatch, forget):
    """Removing a zero set after a write, or inside a loop, changes results."""
    def wrong(instrs, num_params):
        out = set()
        for i in range(1, len(instrs)):
            op, x = instrs[i][0], instrs[i][1]
            if (op.name == "local.set" and x >= num_params
                    and instrs[i - 1][0].name == "i32.const" and instrs[i - 1][1] == 0):
                out.update((i - 1, i))
        return out
    data = wat(MODULE)
    right = optimize(data, passes=ONLY, never_grow=("code",)).data
    monkeypatch.setattr(zero_sets, "_redundant", wrong)
    bad = optimize(data, passes=ONLY, never_grow=("code",)).data
    name = "after_write" if forget == "written" else "in_loop"
    calls = [(name, (k,)) for k in range(1, 8)]  # few loop iterations: no fuel runs out
    assert differs(data, bad, calls)
    assert not differs(data, right, calls)


def test_a_declared_local_of_a_function_with_many_params_is_told_apart():
    params = " ".join(["i32"] * 130)
    data = wat(f"""(module (func (export "f") (param {params}) (result i32) (local i32)
      (local.set 129 (i32.const 0))
      (local.set 130 (i32.const 0))
      (i32.add (local.get 129) (local.get 130))))""")
    result = optimize(data, passes=ONLY, never_grow=("code",))
    assert _sets(data)[0] - _sets(result.data)[0] == 1  # 129 is a parameter, 130 is not
