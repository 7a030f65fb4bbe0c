"""The `dedupe-functions` pass: identical functions merged, every reference
redirected, later functions renumbered.

Proof by execution on modules built to trigger it: imported functions and
globals before the defined ones (indices count imports first), twins, twins of
twins (bodies equal only once their callees are merged), recursion, exports,
a start function, element segments in several encodings, ref.func in bodies and
global initializers, call_indirect, and more than 128 functions so that indices
cross a LEB128 boundary. Outputs validate, behave like their inputs, are smaller
and are fixed points; the name section keeps the kept function's name. Two
deliberately wrong versions (an index off by the imports after removal, twins
merged without comparing their callees) must be caught by the same harness.
"""

import random

import pytest

from loom_post.passes import dedupe, funcindex
from loom_post.passes.cached_run import optimize
from loom_post.wasm.module import read_module

from differential import compare, differs, random_calls, validate
from padding import pad_module
from wat_util import wat

T = "(param i32) (result i32)"


def _filler(n):
    return "".join(f"(func $fill{i} {T} (i32.add (local.get 0) (i32.const {i + 1000})))"
                   for i in range(n))


MODULE = f"""
(module
  (import "env" "h0" (func $h0 {T}))
  (import "env" "g" (global $g i32))
  (import "env" "h1" (func $h1 {T}))
  (type $t (func {T}))
  (table 8 funcref)
  (memory 1)
  (global $keep funcref (ref.func $b))
  (global $acc (mut i32) (i32.const 0))
  (elem (i32.const 0) $a $b $c $d $late)
  (elem (table 0) (i32.const 5) funcref (ref.func $b) (ref.func $d) (ref.null func))
  (elem $passive func $b $late)
  (elem declare func $d)
  (start $s2)
  {_filler(130)}
  (func $a {T} (i32.mul (call $h1 (local.get 0)) (i32.const 3)))
  (func $b {T} (i32.mul (call $h1 (local.get 0)) (i32.const 3)))
  (func $c {T} (i32.add (call $a (local.get 0)) (global.get $g)))
  (func $d {T} (i32.add (call $b (local.get 0)) (global.get $g)))
  (func $rec1 {T} (if (result i32) (i32.le_s (local.get 0) (i32.const 0))
     (then (i32.const 7)) (else (call $rec1 (i32.sub (local.get 0) (i32.const 1))))))
  (func $rec2 {T} (if (result i32) (i32.le_s (local.get 0) (i32.const 0))
     (then (i32.const 7)) (else (call $rec2 (i32.sub (local.get 0) (i32.const 1))))))
  (func $s1 (global.set $acc (i32.add (global.get $acc) (i32.const 11))))
  (func $s2 (global.set $acc (i32.add (global.get $acc) (i32.const 11))))
  (func $late {T} (i32.xor (call $fill129 (local.get 0)) (call $h0 (local.get 0))))
  (func (export "a") {T} (call $a (local.get 0)))
  (func (export "d") {T} (call $d (local.get 0)))
  (func (export "late") {T} (call $late (local.get 0)))
  (func (export "rec") {T} (local.set 0 (i32.and (local.get 0) (i32.const 15)))
    (i32.add (call $rec1 (local.get 0)) (call $rec2 (local.get 0))))
  (func (export "ind") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (i32.and (local.get 0) (i32.const 7))))
  (func (export "ref") (param i32) (result i32)
    (table.set 0 (i32.const 6) (ref.func $d))
    (call_indirect (type $t) (local.get 0) (i32.const 6)))
  (func (export "via_global") (param i32) (result i32)
    (table.set 0 (i32.const 7) (global.get $keep))
    (call_indirect (type $t) (local.get 0) (i32.const 7)))
  (func (export "passive") (param i32) (result i32)
    (table.init 0 $passive (i32.const 6) (i32.const 0) (i32.const 2))
    (i32.add (call_indirect (type $t) (local.get 0) (i32.const 6))
             (call_indirect (type $t) (local.get 0) (i32.const 7))))
  (func (export "acc") (result i32) (global.get $acc))
  (export "b" (func $b))
  (export "c" (func $c))
  (export "fill7" (func $fill7))
)
"""


def _calls(data, seed=3, n=80):
    return random_calls(data, random.Random(seed), n)


def _removed(res):
    return res.passes["dedupe-functions"].get("functions_removed")


def test_twins_and_twins_of_twins_merge_and_behave_the_same():
    data = wat(MODULE)
    res = optimize(data, passes=["dedupe-functions"])
    validate(res.data)
    assert _removed(res) == 3                      # b into a, then d into c; s2 into s1
    assert len(res.data) < len(data)
    assert res.code_bytes_after < res.code_bytes_before
    assert res.passes["dedupe-functions"].bytes_saved == res.code_bytes_before - res.code_bytes_after
    assert compare(data, res.data, _calls(data)) > 0
    m = read_module(res.data)
    exports = {name: idx for name, kind, idx in m.exports if kind == "func"}
    names = m.function_names()
    assert "b" not in names.values() and "d" not in names.values() and "s2" not in names.values()
    assert {"a", "c", "rec1", "rec2", "late", "fill129", "h0", "h1"} <= set(names.values())
    assert names[exports["b"]] == "a" and names[exports["c"]] == "c"
    assert names[exports["fill7"]] == "fill7" and names[0] == "h0" and names[1] == "h1"
    start = [s for s in m.sections if s.id == 8]
    assert start and names[m.data[start[0].payload_start]] == "s1"
    assert optimize(res.data, passes=["dedupe-functions"]).data == res.data


def test_recursive_twins_are_kept_apart():
    data = wat(MODULE)
    names = read_module(optimize(data, passes=["dedupe-functions"]).data).function_names()
    assert "rec1" in names.values() and "rec2" in names.values()


def test_defaults_on_a_padded_module():
    """wasm-ld-like padding, then every default pass: compact and dedupe together."""
    data = pad_module(wat(MODULE))
    validate(data)
    res = optimize(data)
    validate(res.data)
    assert _removed(res) == 3 and res.passes["compact"].bytes_saved > 0
    total = sum(s.bytes_saved for s in res.passes.values()) + res.bytes_saved_by_reencoding
    assert total == res.code_bytes_before - res.code_bytes_after
    assert compare(data, res.data, _calls(data, 5)) > 0
    assert optimize(res.data).data == res.data


def test_dedupe_alone_keeps_padded_indices_padded():
    """Without compact, what dedupe saves is only the removed bodies: padded
    indices keep their width."""
    data = pad_module(wat(MODULE))
    res = optimize(data, passes=["dedupe-functions"])
    before = read_module(data)
    removed = sum(before.code[p].end - before.code[p].start for p in range(len(before.code))
                  if before.func_index(p) in _twin_indices(before))
    assert res.passes["dedupe-functions"].bytes_saved == removed  # the count keeps its padded width
    assert compare(data, res.data, _calls(data, 9)) > 0


def _twin_indices(m):
    names = {n: i for i, n in m.function_names().items()}
    return {names["b"], names["d"], names["s2"]}


def test_protected_functions_are_never_merged():
    text = MODULE.replace('(export "b" (func $b))', '(export "__wbindgen_describe_b" (func $b))')
    data = wat(text)
    res = optimize(data, passes=["dedupe-functions"])
    names = read_module(res.data).function_names()
    assert "b" in names.values() and "a" in names.values()
    assert _removed(res) == 1  # s2 only: b is protected, so d (calling b) is no twin of c
    assert compare(data, res.data, _calls(data, 4)) > 0


class _OffByImports(funcindex.Layout):
    """A wrong renumbering: positions taken for indices (imports forgotten)."""

    def __init__(self, module, order, target=None):
        super().__init__(module, order, target)
        for index, new in list(self.new_index.items()):
            if index >= module.num_imported_funcs:
                self.new_index[index] = new - 1


# One type for every function, so that a wrong index still validates.
SAME_TYPE = f"""
(module
  (import "env" "h0" (func $h0 {T}))
  (import "env" "h1" (func $h1 {T}))
  (table 4 funcref)
  (elem (i32.const 0) $b $d $late $fill0)
  {_filler(20)}
  (func $a {T} (i32.mul (call $h1 (local.get 0)) (i32.const 3)))
  (func $b {T} (i32.mul (call $h1 (local.get 0)) (i32.const 3)))
  (func $c {T} (i32.add (call $a (local.get 0)) (i32.const 5)))
  (func $d {T} (i32.add (call $b (local.get 0)) (i32.const 5)))
  (func $late {T} (i32.xor (call $fill19 (local.get 0)) (call $h0 (local.get 0))))
  (export "a" (func $a)) (export "d" (func $d)) (export "late" (func $late))
  (export "fill3" (func $fill3)) (export "c" (func $c))
)
"""


def test_harness_catches_an_off_by_one_index_after_removal(monkeypatch):
    data = wat(SAME_TYPE)
    assert compare(data, optimize(data, passes=["dedupe-functions"]).data, _calls(data)) > 0
    monkeypatch.setattr(funcindex, "Layout", _OffByImports)
    bad = optimize(data, passes=["dedupe-functions"]).data
    validate(bad)  # all functions share a type: still valid, but calls go astray
    assert differs(data, bad, _calls(data))


def test_harness_catches_twins_merged_without_their_callees(monkeypatch):
    data = wat(SAME_TYPE.replace("(call $b (local.get 0)) (i32.const 5)",
                                 "(call $fill3 (local.get 0)) (i32.const 5)"))
    assert _removed(optimize(data, passes=["dedupe-functions"])) == 1  # d no longer a twin of c
    monkeypatch.setattr(dedupe, "_find", lambda target, index: 0)  # callees not compared
    bad = optimize(data, passes=["dedupe-functions"]).data
    validate(bad)
    assert differs(data, bad, _calls(data))


def _random_module(rng):
    n_imp = rng.randint(0, 3)
    imports = "".join(f'(import "env" "i{k}" (func {T}))' for k in range(n_imp))
    funcs = []
    for i in range(rng.randint(4, 24)):
        k = rng.choice((1, 2, 3))
        if i and rng.random() < 0.7:
            callee = f"$f{rng.randrange(i)}" if rng.random() < 0.8 or not n_imp else rng.randrange(n_imp)
            body = f"(i32.add (call {callee} (local.get 0)) (i32.const {k}))"
        else:
            body = f"(i32.mul (local.get 0) (i32.const {k}))"
        funcs.append(f"(func $f{i} {T} {body})")
    n = len(funcs)
    exports = "".join(f'(export "e{j}" (func $f{j}))' for j in sorted(rng.sample(range(n), min(n, 6))))
    elems = " ".join(f"$f{rng.randrange(n)}" for _ in range(4))
    table = (f"(type $t (func {T})) (table 4 funcref) (elem (i32.const 0) {elems})"
             f'(func (export "ind") (param i32 i32) (result i32) '
             f"(call_indirect (type $t) (local.get 1) (i32.and (local.get 0) (i32.const 3))))")
    return wat(f"(module {imports} {''.join(funcs)} {exports} {table})")


@pytest.mark.parametrize("seed", range(12))
def test_random_modules_with_duplicates(seed):
    rng = random.Random(seed)
    data = _random_module(rng)
    res = optimize(data)
    validate(res.data)
    assert len(res.data) <= len(data)
    assert compare(data, res.data, _calls(data, seed, 60)) > 0
    assert optimize(res.data).data == res.data
    if _removed(res):
        assert read_module(res.data).code.__len__() == len(read_module(data).code) - _removed(res)


def test_dwarf_is_dropped_when_functions_are_removed():
    data = wat(SAME_TYPE.replace("(module", '(module (@custom ".debug_info" "dwarf")', 1))
    res = optimize(data, passes=["dedupe-functions"])
    assert _removed(res) == 2 and res.functions_changed == 0
    assert res.dwarf_dropped == [".debug_info"]
    assert optimize(data, passes=["dedupe-functions"], keep_dwarf=True).dwarf_dropped == []
