"""Test helpers shared by the format-layer tests: modules assembled with wasmtime's
WAT parser (an encoder independent of loom-post), one test case per row of the
opcode table, the Rust test crate built once per session, and `wasm-objdump -h`.

Nothing here lists opcodes: the per-row cases are generated from opcodes.ALL (its
names, signatures and immediate kinds); only the instructions that need a special
context (control flow, calls, locals, tables, ...) are written out by name.
"""

import os
import re
import shutil
import struct
import subprocess
import tempfile

import pytest

from loom_post.wasm import opcodes as O
from loom_post.wasm.module import read_module
from loom_post.passes.validate import engine_config

wasmtime = pytest.importorskip("wasmtime")

HERE = os.path.dirname(os.path.abspath(__file__))
RUST_SMALL = os.path.join(HERE, "data", "rust_small")

ANY = object()   # an immediate the case does not pin down


def wat(text):
    """Assemble WAT text with wasmtime's parser (wasm-tools' `wat`)."""
    return bytes(wasmtime.wat2wasm(text))


def nop_module(funcs, named=True, imports=0):
    """A module of `nop` runs, {name: count}: each body is count + 2 bytes."""
    imps = "".join(f'(import "env" "i{i}" (func))' for i in range(imports))
    body = "".join(f"(func {'$' + n if named else ''} {'nop ' * k})" for n, k in funcs.items())
    return wat(f"(module {imps}{body})")


def write_nop_module(path, funcs, named=True, imports=0):
    """Write nop_module(...) to `path` (making its directory); its code size."""
    os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    data = nop_module(funcs, named, imports)
    with open(path, "wb") as f:
        f.write(data)
    return read_module(data).code_size


_ENGINE = None


def engine():
    """A wasmtime engine with every post-MVP feature loom-post decodes."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = wasmtime.Engine(engine_config(wasmtime))
    return _ENGINE


def validate(data):
    wasmtime.Module.validate(engine(), data)


# --- one case per opcode row -------------------------------------------------

_WAT_TYPE = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "v": "v128"}
LEGACY_EH = "wasmtime 50 exposes no switch for legacy exception handling (try/catch/delegate)"


class Case:
    """A module whose last function holds the instruction under test.

    `expect` is the full instruction list of that function as (name, imm) pairs,
    final `end` included; imm may be ANY. `no_engine` is a reason why wasmtime
    cannot validate the module (None: it must validate)."""

    def __init__(self, ident, family, wat_text, expect, row=None, no_engine=None):
        self.id = ident
        self.family = family
        self.wat = wat_text
        self.expect = expect
        self.row = row
        self.no_engine = no_engine

    def __repr__(self):
        return f"<case {self.id}>"


def family(op):
    """The feature proposal a row comes from (for grouping and reporting)."""
    n = op.name
    if op.prefix == 0xFE:
        return "threads"
    if op.prefix == 0xFD:
        return "relaxed SIMD" if op.code >= 0x100 else "SIMD"
    if op.prefix == 0xFC:
        if op.code < 8:
            return "sat-trunc"
        if n in ("table.grow", "table.size", "table.fill"):
            return "reference types"
        return "bulk memory"
    if 0xC0 <= op.code <= 0xC4:
        return "sign-ext"
    if n in ("return_call", "return_call_indirect"):
        return "tail calls"
    if n in ("try", "catch", "throw", "rethrow", "throw_ref", "delegate", "catch_all",
             "try_table"):
        return "exception handling"
    if n in ("call_ref", "return_call_ref", "ref.as_non_null", "br_on_null",
             "br_on_non_null"):
        return "typed function references"
    if n in ("select_t", "table.get", "table.set", "ref.null", "ref.is_null", "ref.func"):
        return "reference types"
    return "core"


def _natural_align_bytes(name):
    """Natural alignment, in bytes, of an atomic access (wat's align= is in bytes)."""
    if name == "memory.atomic.wait64":
        return 8
    if name in ("memory.atomic.notify", "memory.atomic.wait32"):
        return 4
    m = re.search(r"\.(?:load|store|rmw)(8|16|32)", name)
    if m:
        return int(m.group(1)) // 8
    return 8 if name.startswith("i64") else 4


def _lget(n):
    return [("local.get", k) for k in range(n)]


def _module(func, pre="", mem=""):
    return f"(module {pre} {mem}\n  (func $test {func}))"


def _generic(op):
    """A row with a fixed signature: push its operands from params, return its results."""
    params, results = op.sig.split(":")
    ptypes = " ".join(_WAT_TYPE[c] for c in params)
    rtypes = " ".join(_WAT_TYPE[c] for c in results)
    head = (f"(param {ptypes}) " if params else "") + (f"(result {rtypes})" if results else "")
    gets = " ".join(f"local.get {k}" for k in range(len(params)))
    mem = pre = ""
    imm, text = None, op.name
    kind = op.imm
    if op.prefix == 0xFE:
        mem = "(memory 1 1 shared)"
    if kind == O.MEMARG:
        mem = mem or "(memory 1)"
        if op.prefix == 0xFE:
            align = _natural_align_bytes(op.name)
            text += f" offset=1000 align={align}"
            imm = (align.bit_length() - 1, 0, 1000)
        else:
            text += " offset=1000 align=1"
            imm = (0, 0, 1000)
    elif kind == O.MEMARG_LANE:
        mem = "(memory 1)"
        text += " offset=1000 align=1 1"
        imm = (0, 0, 1000, 1)
    elif kind == O.LANE:
        text += " 1"
        imm = 1
    elif kind == O.LANES16:
        text += " " + " ".join(str(k) for k in range(31, 15, -1))
        imm = bytes(range(31, 15, -1))
    elif kind == O.V128:
        text += " i32x4 1 -2 0x7fffffff 0x80000000"
        imm = struct.pack("<iiiI", 1, -2, 0x7FFFFFFF, 0x80000000)
    elif kind == O.I32:
        text += " -22"
        imm = -22
    elif kind == O.I64:
        text += " -9223372036854775808"
        imm = -(1 << 63)
    elif kind == O.F32:
        text += " -1.5"
        imm = struct.pack("<f", -1.5)
    elif kind == O.F64:
        text += " 0x1.5p-1000"
        imm = struct.pack("<d", float.fromhex("0x1.5p-1000"))
    elif kind == O.ZERO_BYTE:
        imm = 0
    elif kind == O.U32:      # memory.size, memory.grow, memory.fill, table.size
        if op.name.startswith("table."):
            pre = "(table 3 funcref)"
        else:
            mem = mem or "(memory 1)"
        imm = 0
    elif kind == O.U32X2:    # memory.copy
        mem = mem or "(memory 1)"
        imm = (0, 0)
    elif kind != O.NONE:
        raise AssertionError(f"no generic case for {op.name} (immediate kind {kind})")
    func = f"{head} {gets} {text}"
    expect = _lget(len(params)) + [(op.name, imm), ("end", None)]
    return _module(func, pre, mem), expect


def _special(name):
    """(wat module, expected instruction list, reason engine validation is skipped)."""
    F, S = "(type $f (func))", "(type $s (func (param i32) (result i32)))"
    end = [("end", None)]
    if name == "unreachable":
        return _module("unreachable"), [("unreachable", None)] + end, None
    if name == "end":
        return _module("nop"), [("nop", None)] + end, None
    if name in ("block", "loop"):
        return (_module(f"(result i32) {name} (result i32) i32.const 1 end"),
                [(name, O.I32_T), ("i32.const", 1), ("end", None)] + end, None)
    if name in ("if", "else"):
        return (_module("(param i32) (result i32) local.get 0 if (result i32) i32.const 1 "
                        "else i32.const 2 end"),
                [("local.get", 0), ("if", O.I32_T), ("i32.const", 1), ("else", None),
                 ("i32.const", 2), ("end", None)] + end, None)
    if name in ("try", "catch", "throw", "catch_all"):
        return (_module("(result i32) try (result i32) i32.const 1 throw $t catch $t "
                        "catch_all i32.const 0 end", pre="(tag $t (param i32))"),
                [("try", O.I32_T), ("i32.const", 1), ("throw", 0), ("catch", 0),
                 ("catch_all", None), ("i32.const", 0), ("end", None)] + end, LEGACY_EH)
    if name == "rethrow":
        return (_module("try catch_all rethrow 0 end"),
                [("try", None), ("catch_all", None), ("rethrow", 0), ("end", None)] + end,
                LEGACY_EH)
    if name == "delegate":
        return (_module("try try nop delegate 0 catch_all end"),
                [("try", None), ("try", None), ("nop", None), ("delegate", 0),
                 ("catch_all", None), ("end", None)] + end, LEGACY_EH)
    if name == "throw_ref":
        return (_module("(param exnref) local.get 0 throw_ref"),
                [("local.get", 0), ("throw_ref", None)] + end, None)
    if name == "try_table":
        func = ("(result i32) block $o block $h (result i32) "
                "try_table (result i32) (catch $t $h) (catch_all $o) i32.const 7 throw $t end "
                "end return end i32.const 0")
        return (_module(func, pre="(tag $t (param i32))"),
                [("block", None), ("block", O.I32_T),
                 ("try_table", (O.I32_T, ((0, 0, 0), (2, None, 1)))),
                 ("i32.const", 7), ("throw", 0), ("end", None), ("end", None),
                 ("return", None), ("end", None), ("i32.const", 0)] + end, None)
    if name == "br":
        return (_module("block br 0 end"), [("block", None), ("br", 0), ("end", None)] + end,
                None)
    if name == "br_if":
        return (_module("(param i32) block local.get 0 br_if 0 end"),
                [("block", None), ("local.get", 0), ("br_if", 0), ("end", None)] + end, None)
    if name == "br_table":
        return (_module("(param i32) block block block local.get 0 br_table 0 1 2 end end end"),
                [("block", None)] * 3 + [("local.get", 0), ("br_table", ((0, 1), 2))]
                + [("end", None)] * 3 + end, None)
    if name == "return":
        return _module("return"), [("return", None)] + end, None
    if name in ("call", "return_call"):
        pre = '(import "env" "imp" (func $imp (param i32) (result i32)))' \
              " (func $callee (param i32) (result i32) local.get 0)"
        return (_module(f"(param i32) (result i32) local.get 0 {name} $callee", pre=pre),
                [("local.get", 0), (name, 1)] + end, None)
    if name in ("call_indirect", "return_call_indirect"):
        pre = f"{F} {S} (table $t0 1 funcref) (table $t1 1 funcref)"
        return (_module(f"(param i32) (result i32) local.get 0 i32.const 0 "
                        f"{name} $t1 (type $s)", pre=pre),
                [("local.get", 0), ("i32.const", 0), (name, (1, 1))] + end, None)
    if name in ("call_ref", "return_call_ref"):
        return (_module(f"(param i32 (ref null $s)) (result i32) local.get 0 local.get 1 "
                        f"{name} $s", pre=f"{F} {S}"),
                [("local.get", 0), ("local.get", 1), (name, 1)] + end, None)
    if name == "drop":
        return (_module("(param i32) local.get 0 drop"),
                [("local.get", 0), ("drop", None)] + end, None)
    if name == "select":
        return (_module("(param i32 i32 i32) (result i32) local.get 0 local.get 1 "
                        "local.get 2 select"), _lget(3) + [("select", None)] + end, None)
    if name == "select_t":
        return (_module("(param externref externref i32) (result externref) local.get 0 "
                        "local.get 1 local.get 2 select (result externref)"),
                _lget(3) + [("select_t", (O.EXTERNREF_T,))] + end, None)
    if name in ("local.get", "local.set", "local.tee"):
        # 200 i64 locals after the param: index 150 needs a two-byte LEB128.
        locals_ = "(local" + " i64" * 200 + ")"
        body = {"local.get": "local.get 150 drop",
                "local.set": "i64.const 5 local.set 150",
                "local.tee": "i64.const 5 local.tee 150 drop"}[name]
        expect = {"local.get": [("local.get", 150), ("drop", None)],
                  "local.set": [("i64.const", 5), ("local.set", 150)],
                  "local.tee": [("i64.const", 5), ("local.tee", 150), ("drop", None)]}[name]
        return _module(f"(param i32) {locals_} {body}"), expect + end, None
    if name in ("global.get", "global.set"):
        pre = "(global $a i32 (i32.const 1)) (global $g (mut i64) (i64.const 0))"
        if name == "global.get":
            return (_module("(result i64) global.get $g", pre=pre),
                    [("global.get", 1)] + end, None)
        return (_module("(param i64) local.get 0 global.set $g", pre=pre),
                [("local.get", 0), ("global.set", 1)] + end, None)
    if name in ("table.get", "table.set"):
        pre = "(table $t0 1 funcref) (table $t1 2 externref)"
        if name == "table.get":
            return (_module("(param i32) (result externref) local.get 0 table.get $t1", pre=pre),
                    [("local.get", 0), ("table.get", 1)] + end, None)
        return (_module("(param i32 externref) local.get 0 local.get 1 table.set $t1", pre=pre),
                [("local.get", 0), ("local.get", 1), ("table.set", 1)] + end, None)
    if name == "ref.null":
        return (_module("(result externref) ref.null extern"),
                [("ref.null", O.EXTERNREF_T - 0x80)] + end, None)
    if name == "ref.is_null":
        return (_module("(param funcref) (result i32) local.get 0 ref.is_null"),
                [("local.get", 0), ("ref.is_null", None)] + end, None)
    if name == "ref.func":
        return (_module("(result funcref) ref.func $g",
                        pre="(func $f) (func $g) (elem declare func $g)"),
                [("ref.func", 1)] + end, None)
    if name == "ref.as_non_null":
        return (_module("(param (ref null $f)) (result (ref $f)) local.get 0 ref.as_non_null",
                        pre=F),
                [("local.get", 0), ("ref.as_non_null", None)] + end, None)
    if name == "br_on_null":
        return (_module("(param (ref null $f)) (result (ref $f)) block local.get 0 br_on_null 0 "
                        "return end unreachable", pre=F),
                [("block", None), ("local.get", 0), ("br_on_null", 0), ("return", None),
                 ("end", None), ("unreachable", None)] + end, None)
    if name == "br_on_non_null":
        # The block's type is a typed reference: (ref $f) = 0x64 followed by type 0.
        return (_module("(param (ref null $f)) (result (ref $f)) block (result (ref $f)) "
                        "local.get 0 br_on_non_null 0 unreachable end", pre=F),
                [("block", (0x64, 0)), ("local.get", 0), ("br_on_non_null", 0),
                 ("unreachable", None), ("end", None)] + end, None)
    if name in ("memory.init", "data.drop"):
        pre = '(memory 1) (data $d0 "xy") (data $d1 "abc")'
        if name == "data.drop":
            return _module("data.drop $d1", pre=pre), [("data.drop", 1)] + end, None
        return (_module("i32.const 0 i32.const 0 i32.const 3 memory.init $d1", pre=pre),
                [("i32.const", 0), ("i32.const", 0), ("i32.const", 3),
                 ("memory.init", (1, 0))] + end, None)
    if name in ("table.init", "elem.drop", "table.copy"):
        pre = ("(table $t0 2 funcref) (table $t1 2 funcref) (func $g) "
               "(elem $e0 func $g) (elem $e1 func $g $g)")
        if name == "elem.drop":
            return _module("elem.drop $e1", pre=pre), [("elem.drop", 1)] + end, None
        if name == "table.init":   # binary order: element segment, then table
            return (_module("i32.const 0 i32.const 0 i32.const 2 table.init $t0 $e1", pre=pre),
                    [("i32.const", 0), ("i32.const", 0), ("i32.const", 2),
                     ("table.init", (1, 0))] + end, None)
        return (_module("i32.const 0 i32.const 0 i32.const 1 table.copy $t1 $t0", pre=pre),
                [("i32.const", 0), ("i32.const", 0), ("i32.const", 1),
                 ("table.copy", (1, 0))] + end, None)
    if name == "table.grow":
        return (_module("(param funcref i32) (result i32) local.get 0 local.get 1 table.grow $t1",
                        pre="(table $t0 1 funcref) (table $t1 1 funcref)"),
                _lget(2) + [("table.grow", 1)] + end, None)
    if name == "table.fill":
        return (_module("(param i32 funcref i32) local.get 0 local.get 1 local.get 2 "
                        "table.fill $t1", pre="(table $t0 1 funcref) (table $t1 1 funcref)"),
                _lget(3) + [("table.fill", 1)] + end, None)
    return None


def opcode_cases():
    """One Case per row of opcodes.ALL."""
    cases = []
    for op in O.ALL:
        special = _special(op.name)
        if special is not None:
            text, expect, no_engine = special
        elif op.sig is not None:
            (text, expect), no_engine = _generic(op), None
        else:
            raise AssertionError(f"no test case can be generated for {op.name}")
        cases.append(Case(op.name, family(op), text, expect, row=op.name, no_engine=no_engine))
    return cases


def extra_cases():
    """Encodings a row's own case does not reach: block types, memory indices,
    64-bit offsets and LEB128 boundaries of constants."""
    end = [("end", None)]
    cases = []
    bt = "(type $bt (func (param i32) (result i32 i64)))"
    cases.append(Case("block (type $bt) multi-value", "multi-value blocks", _module(
        "(result i32 i64) i32.const 3 block (type $bt) i64.const 4 end", pre=bt),
        [("i32.const", 3), ("block", ("t", 0)), ("i64.const", 4), ("end", None)] + end))
    cases.append(Case("loop (type $bt) multi-value", "multi-value blocks", _module(
        "(result i32 i64) i32.const 3 loop (type $bt) i64.const 4 end", pre=bt),
        [("i32.const", 3), ("loop", ("t", 0)), ("i64.const", 4), ("end", None)] + end))
    cases.append(Case("if (type $bt) multi-value", "multi-value blocks", _module(
        "(param i32) (result i32 i64) i32.const 3 local.get 0 if (type $bt) i64.const 4 "
        "else i64.const 5 end", pre=bt),
        [("i32.const", 3), ("local.get", 0), ("if", ("t", 0)), ("i64.const", 4),
         ("else", None), ("i64.const", 5), ("end", None)] + end))
    cases.append(Case("block (result f32 v128) inline type", "multi-value blocks", _module(
        "(result f32 v128) block (result f32 v128) f32.const 0 v128.const i64x2 0 0 end"),
        [("block", ANY), ("f32.const", ANY), ("v128.const", ANY), ("end", None)] + end))
    # Typed references in immediates: a heap type index and a typed select.
    F = "(type $f (func))"
    cases.append(Case("ref.null $f (type index heap type)", "typed function references",
                      _module("(result (ref null $f)) ref.null $f", pre=F),
                      [("ref.null", 0)] + end))
    cases.append(Case("select (result (ref null $f))", "typed function references", _module(
        "(param (ref null $f) (ref null $f) i32) (result (ref null $f)) local.get 0 local.get 1 "
        "local.get 2 select (result (ref null $f))", pre=F),
        _lget(3) + [("select_t", ((0x63, 0),))] + end))
    # Memory index 1 sets bit 6 of the alignment field and adds a memory index.
    mm = "(memory $a 1) (memory $b 1)"
    for text, expect in [
            ("(param i32) (result i32) local.get 0 i32.load $b offset=70000 align=4",
             [("local.get", 0), ("i32.load", (2, 1, 70000))]),
            ("(param i32 i64) local.get 0 local.get 1 i64.store32 $b offset=1",
             _lget(2) + [("i64.store32", (2, 1, 1))]),
            ("(param i32 v128) (result v128) local.get 0 local.get 1 v128.load16_lane $b 7",
             _lget(2) + [("v128.load16_lane", (1, 1, 0, 7))]),
            ("(param i32) (result v128) local.get 0 v128.load $b offset=16 align=16",
             [("local.get", 0), ("v128.load", (4, 1, 16))]),
            ("(param i32) (result i32) local.get 0 i32.load $a",
             [("local.get", 0), ("i32.load", (2, 0, 0))]),
            ("(result i32) memory.size $b", [("memory.size", 1)]),
            ("(param i32) (result i32) local.get 0 memory.grow $b",
             [("local.get", 0), ("memory.grow", 1)]),
            ("(param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy $a $b",
             _lget(3) + [("memory.copy", (0, 1))]),
            ("(param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill $b",
             _lget(3) + [("memory.fill", 1)])]:
        which = "memory 1" if "$b" in text else "memory 0 named explicitly"
        cases.append(Case(f"{expect[-1][0]} on {which}", "multi-memory memarg",
                          _module(text, mem=mm), expect + end))
    cases.append(Case("memory.init on memory 1", "multi-memory memarg", _module(
        "i32.const 0 i32.const 0 i32.const 1 memory.init $b $d", mem=mm + ' (data $d "z")'),
        [("i32.const", 0)] * 2 + [("i32.const", 1), ("memory.init", (0, 1))] + end))
    cases.append(Case("i32.atomic.rmw.add on shared memory 1", "multi-memory memarg", _module(
        "(param i32 i32) (result i32) local.get 0 local.get 1 i32.atomic.rmw.add $b offset=8",
        mem="(memory $a 1) (memory $b 1 1 shared)"),
        _lget(2) + [("i32.atomic.rmw.add", (2, 1, 8))] + end))
    cases.append(Case("i64.load with a 64-bit offset (memory64)", "multi-memory memarg", _module(
        "(param i64) (result i64) local.get 0 i64.load offset=0x100000000",
        mem="(memory i64 1)"),
        [("local.get", 0), ("i64.load", (3, 0, 1 << 32))] + end))
    # Constants at every LEB128 length boundary.
    i32s = [0, 63, 64, -64, -65, 8191, 8192, -8192, -8193, 2 ** 31 - 1, -2 ** 31]
    i64s = [2 ** 31, -2 ** 31 - 1, 2 ** 56, 2 ** 63 - 1, -2 ** 63]
    body = " ".join(f"i32.const {v} drop" for v in i32s) + " " + \
        " ".join(f"i64.const {v} drop" for v in i64s)
    expect = []
    for v in i32s:
        expect += [("i32.const", v), ("drop", None)]
    for v in i64s:
        expect += [("i64.const", v), ("drop", None)]
    cases.append(Case("i32/i64.const at LEB128 boundaries", "core", _module(body), expect + end))
    return cases


def all_cases():
    return opcode_cases() + extra_cases()


_ASSEMBLED = {}


def assemble(case):
    data = _ASSEMBLED.get(case.id)
    if data is None:
        data = _ASSEMBLED[case.id] = wat(case.wat)
    return data


# --- the Rust crate ----------------------------------------------------------

_RUST = {}


def build_rust_small(tmp_path_factory):
    """Build tests/data/rust_small once per session; returns the .wasm bytes' path."""
    if "path" in _RUST:
        return _RUST["path"]
    if "skip" in _RUST:
        pytest.skip(_RUST["skip"])
    from conftest import wasm32_cargo
    found = wasm32_cargo()
    if found is None:
        _RUST["skip"] = ("no cargo with the wasm32-unknown-unknown target "
                         "(apt-get install rustc cargo libstd-rust-dev-wasm32)")
        pytest.skip(_RUST["skip"])
    cargo, env = found
    base = tmp_path_factory.mktemp("rust_small")
    src = base / "src_copy"
    shutil.copytree(RUST_SMALL, src)   # cargo may rewrite Cargo.lock: not in the checkout
    env = dict(env, CARGO_TARGET_DIR=str(base / "target"))
    proc = subprocess.run([cargo, "build", "--release", "--offline", "--target",
                           "wasm32-unknown-unknown"], cwd=src, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    path = base / "target" / "wasm32-unknown-unknown" / "release" / "rust_small.wasm"
    assert path.exists(), proc.stderr
    _RUST["path"] = path
    return path


RUST_EXPORTS = ("sum_to", "classify", "sem_take", "fill_and_fold", "mix64", "poly", "apply")


# --- wasm-objdump -h ---------------------------------------------------------

_OBJDUMP_LINE = re.compile(
    r"^\s*(\w+) start=0x([0-9a-f]+) end=0x([0-9a-f]+) \(size=0x([0-9a-f]+)\)"
    r"(?: count: (\d+)| start: (\d+))?(?: \"(.*)\")?\s*$")
OBJDUMP_NAMES = {"Type": "type", "Import": "import", "Function": "function", "Table": "table",
                 "Memory": "memory", "Global": "global", "Export": "export", "Start": "start",
                 "Elem": "element", "Code": "code", "Data": "data", "DataCount": "datacount",
                 "Tag": "tag", "Custom": "custom"}


def objdump_sections(objdump, data):
    """[(kind, payload start, payload size, custom name or None)] from `wasm-objdump -h`."""
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        proc = subprocess.run([objdump, "-h", f.name], capture_output=True, text=True,
                              timeout=60)
    if proc.returncode != 0:
        return None
    out = []
    for line in proc.stdout.splitlines():
        m = _OBJDUMP_LINE.match(line)
        assert m or " start=0x" not in line, f"unexpected wasm-objdump line: {line!r}"
        if m:
            kind, start, _end, size, _count, _start_func, name = m.groups()
            out.append((OBJDUMP_NAMES[kind], int(start, 16), int(size, 16), name))
    return out
