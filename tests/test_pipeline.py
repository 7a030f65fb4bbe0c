"""The pass pipeline: passes chain on one decoded function, each is credited
with exactly the bytes it saved, the gate keeps only smaller entries, module
passes see the function passes' output, and pass names are checked."""

import json

import pytest
import wasmtime

from loom_post import passes
from loom_post.cli import main
from loom_post.passes.base import FunctionPass, ModulePass
from loom_post.passes.cached_run import optimize
from loom_post.wasm import opcodes as O
from loom_post.wasm.instructions import decode_body
from loom_post.wasm.module import read_module

# Two functions that compute (x*4+100000)^2-ish twice, with nops sprinkled in.
WAT = """
(module
  (memory 1)
  (func (export "f") (param i32) (result i32)
    nop nop
    (i32.add (i32.mul (i32.add (local.get 0) (i32.const 100000)) (i32.const 77777))
             (i32.mul (i32.add (local.get 0) (i32.const 100000)) (i32.const 77777))))
  (func (export "g") (param i32) (result i32)
    nop
    (i32.add (local.get 0) (i32.const 1))))
"""


class StripNops(FunctionPass):
    """A test pass: removes every nop (a real rewrite the gate must measure)."""
    name = "strip-nops"
    summary = "test only"
    counters = ("nops",)

    def run_function(self, context, func, stats):
        kept = [ins for ins in func.instrs if ins[0].name != "nop"]
        if len(kept) == len(func.instrs):
            return False
        stats.count("nops", len(func.instrs) - len(kept))
        func.update(func.locals, kept)
        return True


class SeesNoNops(ModulePass):
    """A test module pass: counts nops left in the current bodies."""
    name = "count-nops"
    counters = ("nops_seen",)
    analysis_counters = ("nops_seen",)   # it changes nothing: still reported

    def run_module(self, module, protected, stats):
        data = module.to_bytes()
        m = read_module(data)
        for e in m.code:
            body = decode_body(m.data, e.body_start, e.end)
            stats.count("nops_seen", sum(1 for ins in body.instrs if ins[0].name == "nop"))


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(passes.PASSES, "strip-nops", StripNops())
    monkeypatch.setitem(passes.PASSES, "count-nops", SeesNoNops())


def _run(data, export, arg):
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, data), [])
    return inst.exports(store)[export](store, arg)


def test_passes_chain_and_each_is_credited_exactly(registered):
    data = wasmtime.wat2wasm(WAT)
    r = optimize(data, passes=["strip-nops", "cse"])
    nops, cse = r.passes["strip-nops"], r.passes["cse"]
    assert nops.get("nops") == 3 and nops.bytes_saved == 3 and nops.functions_changed == 2
    assert cse.get("deduplicated") == 1 and cse.bytes_saved > 0
    # cse ran on strip-nops' output: one function changed by both.
    assert cse.functions_changed == 1
    saved = r.code_bytes_before - r.code_bytes_after
    assert saved == nops.bytes_saved + cse.bytes_saved + r.bytes_saved_by_reencoding
    for x in (0, 5, -3, 123456):
        assert _run(r.data, "f", x) == _run(data, "f", x)
        assert _run(r.data, "g", x) == _run(data, "g", x)


def test_order_matters_and_is_kept(registered):
    data = wasmtime.wat2wasm(WAT)
    r = optimize(data, passes=["cse", "strip-nops"])
    assert list(r.passes) == ["cse", "strip-nops"]
    assert r.passes["strip-nops"].get("nops") == 3


def test_a_module_pass_sees_the_function_passes_output(registered):
    data = wasmtime.wat2wasm(WAT)
    assert optimize(data, passes=["count-nops"]).passes["count-nops"].get("nops_seen") == 3
    r = optimize(data, passes=["strip-nops", "count-nops"])
    assert r.passes["count-nops"].get("nops_seen") == 0


class Grows(FunctionPass):
    """A test pass that makes every function bigger: the gate must refuse it."""
    name = "grows"
    counters = ()

    def run_function(self, context, func, stats):
        nop = (O.BY_NAME["nop"], None, -1, -1)
        func.update(func.locals, [nop] * 5 + list(func.instrs))
        return True


def test_the_gate_keeps_no_entry_that_is_not_smaller(monkeypatch):
    monkeypatch.setitem(passes.PASSES, "grows", Grows())
    data = wasmtime.wat2wasm(WAT)
    r = optimize(data, passes=["grows"])
    assert r.data == data and not r.changed and r.functions_changed == 0
    assert r.passes["grows"].bytes_saved == 0


def test_unknown_pass_is_a_usage_error_listing_the_known_ones(tmp_path, capsys):
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(WAT))
    assert main(["optimize", str(path), "--passes", "cse,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown pass 'nope'" in err and "cse" in err


def test_unknown_pass_in_the_configuration_names_the_key(tmp_path, capsys, monkeypatch):
    (tmp_path / "loom-post.toml").write_text('passes = ["cse", "frobnicate"]\n')
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(WAT))
    monkeypatch.chdir(tmp_path)
    assert main(["optimize", "m.wasm"]) == 2
    err = capsys.readouterr().err
    assert "passes" in err and "frobnicate" in err


def test_configured_passes_are_the_ones_run(tmp_path, capsys, monkeypatch, registered):
    (tmp_path / "loom-post.toml").write_text('passes = ["strip-nops"]\n')
    (tmp_path / "m.wasm").write_bytes(wasmtime.wat2wasm(WAT))
    monkeypatch.chdir(tmp_path)
    assert main(["optimize", "m.wasm", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["modules"][0]["passes"]) == ["strip-nops"]
