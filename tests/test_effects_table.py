"""The effect class of every opcode-table row, against rules written here from
the operator's name alone, and what passes/effects.py makes of the classes.

The expectation is derived independently of opcodes.py (names only, never its
effect column), so a row whose class is wrong fails here by name. The cases that
would miscompile are spelled out: memory.size is not pure (a memory.grow between
two memory.size calls changes it), a load is not pure (a store changes it), and
memory.grow / a call must kill what they can change.
"""

import os
import subprocess
import sys

import pytest

from loom_post.passes import effects as E
from loom_post.wasm import opcodes as O

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONTROL_NAMES = {"unreachable", "block", "loop", "if", "else", "try", "catch", "throw",
                 "rethrow", "throw_ref", "end", "br", "br_if", "br_table", "return",
                 "delegate", "catch_all", "try_table", "br_on_null", "br_on_non_null"}
MEMORY_NAMES = {"memory.grow", "memory.copy", "memory.fill", "memory.init", "data.drop"}
VALUE_PREFIXES = ("i32.", "i64.", "f32.", "f64.", "v128.", "i8x16.", "i16x8.", "i32x4.",
                  "i64x2.", "f32x4.", "f64x2.")


def expected_effect(name):
    """The effect class an operator must have, from its name."""
    if ".atomic." in name or name == "atomic.fence":
        return "atomic"
    if name in MEMORY_NAMES:
        return "memory"
    if name == "memory.size" or name.startswith(("table.", "elem.", "ref.")):
        return "other"
    if name in ("drop", "nop"):
        return "other"
    if name.startswith(("call", "return_call")):
        return "call"
    if name == "local.get":
        return "local.get"
    if name in ("local.set", "local.tee"):
        return "local.set"
    if name in ("global.get", "global.set"):
        return name
    if name in CONTROL_NAMES:
        return "control"
    if name in ("select", "select_t"):
        return "pure"
    if name.startswith(VALUE_PREFIXES):
        if ".load" in name:
            return "load"
        if ".store" in name:
            return "store"
        return "pure"
    raise AssertionError(f"no rule for {name}: extend expected_effect")


@pytest.mark.parametrize("name", sorted(O.BY_NAME))
def test_every_row_has_its_expected_effect(name):
    assert O.BY_NAME[name].effect == expected_effect(name), name


def test_rules_cover_the_whole_table_and_every_class():
    assert len(O.BY_NAME) == len(O.ALL) > 400
    seen = {expected_effect(op.name) for op in O.ALL}
    assert seen == set(O.EFFECTS)
    # Spot counts that a blanket reclassification would change.
    loads = [op.name for op in O.ALL if op.effect == O.LOAD]
    stores = [op.name for op in O.ALL if op.effect == O.STORE]
    assert len(loads) == 14 + 11 + 4 + 2   # core, v128 loads, load lanes, load zero
    assert len(stores) == 9 + 1 + 4


def _of(name):
    return E.of(O.BY_NAME[name])


@pytest.mark.parametrize("name", ["i32.div_s", "i32.div_u", "i64.rem_s", "i64.rem_u",
                                  "i32.trunc_f32_s", "i64.trunc_f64_u"])
def test_division_and_float_truncation_trap(name):
    e = _of(name)
    assert e.may_trap and e.reusable
    assert not (e.reads_memory or e.writes_memory or e.calls or e.branches)


@pytest.mark.parametrize("name", ["i32.trunc_sat_f32_s", "i64.trunc_sat_f64_u",
                                  "i32x4.trunc_sat_f32x4_s", "i32.add", "f64.div",
                                  "i32.wrap_i64", "v128.const", "select"])
def test_value_operators_do_not_trap(name):
    e = _of(name)
    assert e.reusable and not e.may_trap
    assert not (e.reads_memory or e.writes_memory or e.reads_global or e.reads_local)


@pytest.mark.parametrize("name", ["i32.load", "i64.load8_u", "v128.load", "v128.load32_zero"])
def test_loads_trap_and_read_memory(name):
    e = _of(name)
    assert e.reads_memory and e.may_trap and e.reusable
    assert not e.writes_memory


@pytest.mark.parametrize("name", ["i32.store", "v128.store8_lane", "memory.fill",
                                  "memory.copy", "memory.grow", "data.drop",
                                  "i32.atomic.load", "i64.atomic.rmw.add"])
def test_memory_writers_write_memory_and_are_not_reusable(name):
    e = _of(name)
    assert e.writes_memory and e.may_trap and not e.reusable
    assert O.BY_NAME[name].effect in E.WRITES_MEMORY


@pytest.mark.parametrize("name", ["call", "call_indirect", "call_ref", "return_call"])
def test_calls_write_everything(name):
    e = _of(name)
    assert e.calls and e.may_trap and not e.reusable
    assert e.reads_memory and e.writes_memory and e.reads_global and e.writes_global
    assert e.reads_table and e.writes_table
    assert not e.writes_local and not e.reads_local   # never the caller's locals
    assert e.branches == name.startswith("return_")


def test_memory_size_reads_memory_and_is_not_reusable():
    e = _of("memory.size")
    assert e.reads_memory and not e.reusable and not e.writes_memory
    assert O.BY_NAME["memory.size"].effect not in E.REUSABLE


def test_tables_and_refs():
    assert _of("table.size").reads_table and not _of("table.size").reusable
    assert _of("table.set").writes_table and _of("table.grow").writes_table
    assert not _of("table.get").writes_table
    assert _of("ref.as_non_null").may_trap and not _of("ref.is_null").may_trap
    assert not _of("drop").reusable and not _of("nop").may_trap


def test_locals_globals_and_control():
    assert _of("local.get").reads_local and _of("local.get").reusable
    assert _of("local.tee").writes_local and not _of("local.tee").reusable
    assert _of("global.get").reads_global and _of("global.get").reusable
    assert _of("global.set").writes_global and not _of("global.set").reusable
    assert _of("br").branches and _of("br_table").branches and _of("return").branches
    assert not _of("block").branches and not _of("end").branches
    assert _of("unreachable").may_trap and not _of("br").may_trap
    assert E.REUSABLE == {O.PURE, O.LOAD, O.LOCAL_GET, O.GLOBAL_GET}
    assert E.WRITES_MEMORY == {O.STORE, O.MEMORY, O.ATOMIC}


@pytest.mark.parametrize("change, loads", [("E.OPENERS", True), ("E.OPENERS | {'try_new'}", False),
                                           ("E.OPENERS - {'try_table'}", False)])
def test_cse_loads_only_while_its_openers_are_effects_openers(change, loads):
    """cse gives each opener of OPENERS a scope kind of its own: an opener added
    to one and not the other stops cse from loading, instead of being walked as
    a plain instruction whose `end` closes the scope around it."""
    probe = ("from loom_post.passes import effects as E\n"
             f"E.OPENERS = {change}\n"
             "import loom_post.passes.cse\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True)
    assert (proc.returncode == 0) == loads, proc.stderr
    assert loads or "are not effects.OPENERS" in proc.stderr, proc.stderr
