"""Guards the pipeline owns, each shown with a module where the guard decides:
64-bit memories are not rewritten, memory.size is never reused across a
memory.grow, the engine validates the output, and re-encoding savings are
credited exactly."""

import pytest
import wasmtime

from loom_post import passes
from loom_post.errors import OutputInvalid
from loom_post.passes.base import FunctionPass
from loom_post.passes.cached_run import optimize
from loom_post.passes.validate import validate_output
from loom_post.wasm import opcodes as O
from loom_post.wasm.instructions import decode_body
from loom_post.wasm.leb128 import encode_u
from loom_post.wasm.module import read_module


def body_names(data, position=0):
    m = read_module(data)
    e = m.code[position]
    return [op.name for op, _imm, _s, _e in decode_body(m.data, e.body_start, e.end).instrs]


def run(data, *args):
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, data), [])
    return instance.exports(store)["f"](store, *args)


REPEAT = """
  (func (export "f") (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 100000))
             (i32.mul (local.get 0) (i32.const 100000))))"""


def test_memory64_modules_are_measured_but_not_rewritten():
    plain = wasmtime.wat2wasm(f"(module (memory 1) {REPEAT})")
    assert optimize(plain).passes["cse"].get("deduplicated") == 1   # the repeat pays
    data = wasmtime.wat2wasm(f"(module (memory i64 1) {REPEAT})")
    r = optimize(data)
    assert not r.changed and r.data == data
    assert r.functions_changed == 0 and r.not_understood == 1
    assert r.passes["cse"].get("deduplicated") == 0


SIZE_EXPR = "(i32.mul (i32.add ({leaf}) (i32.const 3)) (i32.const 5))"  # constants too cheap to reuse


def _grow_between(leaf):
    e = SIZE_EXPR.format(leaf=leaf)
    return wasmtime.wat2wasm(f"""
      (module (memory 1 10)
        (func (export "f") (param i32) (result i32) (local i32)
          (local.set 1 {e})
          (drop (memory.grow (i32.const 1)))
          (local.set 1 (i32.add (local.get 1) {e}))
          (drop (memory.grow (i32.const 1)))
          (i32.add (local.get 1) {e})))""")


def test_memory_size_is_not_reused_across_memory_grow():
    # The same shape with a local in place of memory.size is deduplicated, so it
    # is only memory.size's effect class that keeps these three apart.
    control = optimize(_grow_between("local.get 0"))
    assert control.passes["cse"].get("deduplicated") == 2
    data = _grow_between("memory.size")
    r = optimize(data)
    assert r.passes["cse"].get("deduplicated") == 0
    assert body_names(r.data).count("memory.size") == 3
    assert run(r.data, 0) == run(data, 0)


class _OverAligned(FunctionPass):
    """Fault injection: a body that type-checks but is invalid wasm (an i32.load
    aligned to 8 bytes). Only a real validator can see this."""
    name = "overaligned"

    def run_function(self, context, func, stats):
        func.update([], [(O.BY_NAME["i32.const"], 0, -1, -1),
                         (O.BY_NAME["i32.load"], (3, 0, 0), -1, -1),
                         (O.BY_NAME["drop"], None, -1, -1),
                         (O.BY_NAME["end"], None, -1, -1)])
        return True


def test_engine_rejects_an_invalid_output_the_type_check_cannot_see(monkeypatch):
    monkeypatch.setitem(passes.PASSES, "overaligned", _OverAligned())
    data = wasmtime.wat2wasm("""
      (module (memory 1)
        (func (export "f") (param i32) (result i32)
          (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4)))
          (i32.add (i32.load (i32.const 8)))))""")
    with pytest.raises(OutputInvalid, match="fails validation"):
        optimize(data, passes=["overaligned"])


def test_validate_output_rejects_a_body_that_does_not_type_check():
    good = wasmtime.wat2wasm('(module (func (export "f") (result i32) (i32.const 7)))')
    # i32.add with nothing to add: same size as `i32.const 7`, so only the body differs.
    bad = good.replace(bytes([0x41, 0x07, 0x0B]), bytes([0x6A, 0x01, 0x0B]))
    assert bad != good
    with pytest.raises(OutputInvalid):
        validate_output(bad)
    assert validate_output(good).code_size


def _module(body):
    """type (i32) -> i32, one function exported as "f" with `body` (locals + code)."""
    def section(sid, payload):
        return bytes([sid]) + encode_u(len(payload)) + payload
    entry = encode_u(len(body)) + body
    return (b"\0asm\1\0\0\0"
            + section(1, bytes([1, 0x60, 1, 0x7F, 1, 0x7F]))
            + section(3, bytes([1, 0]))
            + section(7, bytes([1, 1]) + b"f" + bytes([0, 0]))
            + section(10, bytes([1]) + entry))


def test_reencoding_savings_are_credited_apart_and_exactly():
    padded = bytes([0x41, 0xE8, 0x87, 0x80, 0x80, 0x00])   # i32.const 1000 in 5 LEB bytes
    minimal = bytes([0x41, 0xE8, 0x07])
    code = lambda c: (bytes([1, 1, 0x7F]) + bytes([0x20, 0]) + c + bytes([0x6C])
                      + bytes([0x20, 0]) + c + bytes([0x6C, 0x6A, 0x0B]))
    data, tight = _module(code(padded)), _module(code(minimal))
    assert len(data) - len(tight) == 6
    r_tight = optimize(tight, passes=["cse"])
    assert r_tight.bytes_saved_by_reencoding == 0
    cse_saving = r_tight.passes["cse"].bytes_saved
    assert cse_saving == 2
    r = optimize(data, passes=["cse"])   # without compact, re-encoding is credited apart
    assert r.changed and r.passes["cse"].bytes_saved == cse_saving
    assert r.bytes_saved_by_reencoding == 6                  # the padding alone
    assert r.code_bytes_before - r.code_bytes_after == 6 + cse_saving
    assert run(r.data, 5) == run(data, 5) == 10000
    r = optimize(data)                   # with compact (a default), compact gets it
    assert r.bytes_saved_by_reencoding == 0 and r.passes["compact"].bytes_saved == 6
    assert r.code_bytes_before - r.code_bytes_after == 6 + cse_saving
