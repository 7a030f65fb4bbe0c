"""The `renumber-functions` pass: most-referenced functions get the smallest
indices; every reference and the name section follow.

Proof by execution on modules with more than 128 functions (so indices cross a
LEB128 boundary), imported functions and globals, element segments, ref.func,
exports and a start function: outputs validate, behave like their inputs, are
smaller, are fixed points, and keep every function's name on that function.
A deliberately wrong version (element segments left with the old indices) must
be caught by the same harness.
"""

import random

import pytest

from loom_post.passes import funcindex
from loom_post.passes.cached_run import optimize
from loom_post.wasm import sections
from loom_post.wasm.module import read_module

from differential import compare, differs, random_calls, validate
from padding import pad_module
from wat_util import wat

T = "(param i32) (result i32)"


def _module(extra=""):
    fill = "".join(f"(func $fill{i} {T} (i32.add (local.get 0) (i32.const {i})))" for i in range(150))
    calls = "".join(f"(local.set 0 (call $hot (local.get 0)))" for _ in range(12))
    return wat(f"""
(module
  (import "env" "h" (func $h {T}))
  (import "env" "g" (global $g i32))
  (table 4 funcref)
  (global $r funcref (ref.func $warm))
  (global $acc (mut i32) (i32.const 0))
  (elem (i32.const 0) $warm $fill3 $hot $fill149)
  (start $init)
  {fill}
  (func $init (global.set $acc (global.get $g)))
  (func $warm {T} (i32.mul (call $h (local.get 0)) (i32.const 3)))
  (func $hot {T} (i32.xor (local.get 0) (call $fill140 (local.get 0))))
  (func (export "many") {T} {calls} (i32.add (local.get 0) (call $warm (local.get 0))))
  (func (export "ind") (param i32 i32) (result i32)
    (call_indirect (param i32) (result i32) (local.get 1) (i32.and (local.get 0) (i32.const 3))))
  (func (export "acc") (result i32) (global.get $acc))
  (export "fill7" (func $fill7))
  (export "hot" (func $hot))
  {extra}
)""")


def _calls(data, seed=1, n=60):
    return random_calls(data, random.Random(seed), n)


def _moved(res):
    return res.passes["renumber-functions"].get("functions_moved")


def test_hot_functions_move_first_and_behave_the_same():
    data = _module()
    res = optimize(data, passes=["renumber-functions"])
    validate(res.data)
    assert _moved(res) > 0 and len(res.data) < len(data)
    assert res.passes["renumber-functions"].bytes_saved == res.code_bytes_before - res.code_bytes_after > 0
    assert compare(data, res.data, _calls(data)) > 0
    before, after = read_module(data), read_module(res.data)
    old_names, new_names = before.function_names(), after.function_names()
    assert sorted(old_names.values()) == sorted(new_names.values())
    assert new_names[1] == "hot"   # 12 calls + an element + an export: first after the import
    exports = {n: i for n, k, i in after.exports if k == "func"}
    assert new_names[exports["hot"]] == "hot" and new_names[exports["fill7"]] == "fill7"
    assert optimize(res.data, passes=["renumber-functions"]).data == res.data


def test_defaults_with_renumbering_on_a_padded_module():
    data = pad_module(_module())
    res = optimize(data, passes=["compact", "cse", "dedupe-functions", "renumber-functions"])
    validate(res.data)
    assert compare(data, res.data, _calls(data, 2)) > 0
    total = sum(s.bytes_saved for s in res.passes.values()) + res.bytes_saved_by_reencoding
    assert total == res.code_bytes_before - res.code_bytes_after


def test_wasm_bindgen_input_keeps_its_order():
    data = _module('(@custom "__wasm_bindgen_unstable" "x")')
    res = optimize(data, passes=["renumber-functions"])
    assert res.data == data


def test_harness_catches_elements_left_with_old_indices(monkeypatch):
    data = _module()
    monkeypatch.setitem(funcindex.ENCODERS, 9, lambda d, sec, fmap=None: sections.encode_element(d, sec))
    bad = optimize(data, passes=["renumber-functions"]).data
    validate(bad)
    assert bad != data
    assert differs(data, bad, [("ind", (k, 5)) for k in range(4)])
