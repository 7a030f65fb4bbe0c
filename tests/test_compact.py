"""The `compact` pass: minimal LEB128s in every body and index-holding section.

Proof by execution: modules written in WAT (imports of functions and globals,
globals, a table with element segments, ref.func, data segments, exports, a
start function) are padded the way wasm-ld pads (tests/padding.py, a writer
independent of loom_post's encoders), then compacted. The output must validate,
behave exactly like the padded input in wasmtime (tests/differential.py), be
strictly smaller, equal byte for byte what the WAT assembler wrote (it writes
minimal LEB128s), and be a fixed point. A deliberately wrong compaction (a
signed constant written as unsigned) must be caught by the same harness.
"""

import random

import pytest

from loom_post.passes.cached_run import optimize
from loom_post.wasm import instructions, sections
from loom_post.wasm.leb128 import encode_u
from loom_post.wasm.module import read_module

from differential import compare, differs, random_calls, validate
from padding import pad_module
from wat_util import wat

MODULE = """
(module
  (import "env" "host" (func $host (param i32) (result i32)))
  (import "env" "g0" (global $g0 i32))
  (type $bin (func (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (table 4 funcref)
  (global $k (mut i32) (i32.const 100))
  (global $neg i64 (i64.const -70000))
  (global $copy i32 (global.get $g0))
  (global $fref funcref (ref.func $add))
  (elem (i32.const 1) $add $sub $host)
  (data (i32.const 100) "hello, padded world")
  (data (i32.const 70000) "\\01\\02\\03\\04")
  (start $init)
  (func $init (i32.store offset=200 (i32.const 0) (i32.const 1234567)))
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func (export "dispatch") (param i32 i32 i32) (result i32)
    (call_indirect (type $bin) (local.get 1) (local.get 2)
                   (i32.and (local.get 0) (i32.const 3))))
  (func (export "consts") (param i32) (result i32)
    (local i64 i64 i32)
    (local.set 1 (i64.const -70000))
    (i32.add (i32.wrap_i64 (local.get 1))
      (i32.add (i32.const 100) (i32.mul (local.get 0) (i32.const 64)))))
  (func (export "mem") (param i32) (result i32)
    (i32.add (i32.load offset=200 (i32.const 0))
             (i32.load8_u offset=100 (i32.and (local.get 0) (i32.const 15)))))
  (func (export "far") (result i32) (i32.load offset=70000 (i32.const 0)))
  (func (export "globals") (param i32) (result i32)
    (global.set $k (i32.add (global.get $k) (local.get 0)))
    (i32.add (global.get $k) (i32.add (global.get $copy) (i32.wrap_i64 (global.get $neg)))))
  (func (export "host") (param i32) (result i32) (call $host (i32.add (local.get 0) (i32.const -1))))
  (func (export "loop") (param i32) (result i32) (local i32)
    (block $out (loop $l
      (br_if $out (i32.le_s (local.get 0) (i32.const 0)))
      (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1))
)
"""


def _calls(data, seed=7, n=60):
    return random_calls(data, random.Random(seed), n)


def test_padding_writer_pads_and_keeps_meaning():
    original = wat(MODULE)
    padded = pad_module(original)
    validate(padded)
    assert len(padded) > len(original) + 100
    assert compare(original, padded, _calls(original)) > 0


def test_compact_restores_the_minimal_module_and_behaves_the_same():
    original = wat(MODULE)
    padded = pad_module(original)
    res = optimize(padded, passes=["compact"])
    validate(res.data)
    assert res.data == original  # wat writes minimal LEB128s everywhere
    assert compare(padded, res.data, _calls(padded)) > 0
    stats = res.passes["compact"]
    assert stats.bytes_saved == res.code_bytes_before - res.code_bytes_after > 0
    other = len(padded) - len(original) - (res.code_bytes_before - res.code_bytes_after)
    # The rest is in the other sections' payloads and in every section's size LEB128.
    assert stats.get("other_section_bytes_saved") == other - _section_size_savings(padded, original)
    assert res.bytes_saved_by_reencoding == 0


def _section_size_savings(a, b):
    """Bytes saved in the size LEB128s of the sections."""
    sa = {s.id: s for s in read_module(a).sections if s.id}
    sb = {s.id: s for s in read_module(b).sections if s.id}
    return sum((sa[i].payload_start - sa[i].start) - (sb[i].payload_start - sb[i].start) for i in sa)


def test_compact_is_idempotent_and_leaves_minimal_modules_alone():
    original = wat(MODULE)
    assert optimize(original, passes=["compact"]).data is original
    once = optimize(pad_module(original)).data
    assert optimize(once).data == once


def test_compact_only_sections_when_code_is_minimal():
    """A module whose only padding is in a data segment offset: compacted there,
    and the code (and DWARF) left alone."""
    original = wat('(module (memory 1) (data (i32.const 100) "x") (@custom ".debug_info" "d")'
                   '(func (export "f") (result i32) (i32.load8_u (i32.const 100))))')
    m = read_module(original)
    (data_sec,) = [s for s in m.sections if s.id == 11]
    body = original[data_sec.payload_start:data_sec.end]
    assert body[:4] == b"\x01\x00\x41\xe4"  # one segment, flags 0, i32.const 100 ...
    padded_body = body[:3] + b"\xe4\x80\x80\x80\x00" + body[5:]
    padded = (original[:data_sec.start] + b"\x0b" + encode_u(len(padded_body)) + padded_body
              + original[data_sec.end:])
    validate(padded)
    res = optimize(padded, passes=["compact"])
    assert res.data == original
    assert res.passes["compact"].get("other_section_bytes_saved") == 3
    assert res.functions_changed == 0 and not res.dwarf_dropped
    assert compare(padded, res.data, [("f", ())]) == 1


def test_compact_on_rust_like_padding_of_every_function():
    """Many functions, all padded: every one is kept smaller, credited to compact."""
    funcs = "".join(f'(func (export "f{i}") (param i32) (result i32) '
                    f'(i32.add (local.get 0) (i32.const {i * 1000 - 5000})))' for i in range(40))
    original = wat(f"(module {funcs})")
    padded = pad_module(original)
    res = optimize(padded)
    assert res.data == original
    assert res.passes["compact"].functions_changed == 40
    assert res.passes["compact"].bytes_saved == res.code_bytes_before - res.code_bytes_after
    assert compare(padded, res.data, _calls(padded, n=80)) > 0


def _encode_imm_unsigned_consts(real):
    def wrong(info, imm):
        if info.imm == 2 and imm >= 0:  # i32.const written as an unsigned LEB128
            return encode_u(imm)
        return real(info, imm)
    return wrong


def test_harness_catches_a_wrong_compaction_of_bodies(monkeypatch):
    original = wat(MODULE)
    padded = pad_module(original)
    monkeypatch.setattr(instructions, "encode_imm", _encode_imm_unsigned_consts(instructions.encode_imm))
    bad = optimize(padded, passes=["compact"]).data
    validate(bad)
    assert bad != original
    assert differs(padded, bad, _calls(padded))


def test_harness_catches_a_wrong_compaction_of_data_offsets(monkeypatch):
    original = wat(MODULE)
    padded = pad_module(original)
    real = sections.encode_instr

    def wrong(info, imm):
        if info.name == "i32.const" and imm >= 0:
            return info.opcode_bytes + encode_u(imm)
        return real(info, imm)
    monkeypatch.setattr(sections, "encode_instr", wrong)
    bad = optimize(padded, passes=["compact"]).data
    assert bad != original
    assert differs(padded, bad, _calls(padded))


@pytest.mark.parametrize("seed", range(4))
def test_random_padded_modules(seed):
    rng = random.Random(seed)
    funcs = []
    for i in range(rng.randint(3, 12)):
        k = rng.choice((63, 64, 127, 128, -64, -65, 8191, 8192, -(1 << 20), 1 << 30))
        callee = f"(call $f{rng.randrange(i)} (local.get 0))" if i else "(local.get 0)"
        funcs.append(f'(func $f{i} (export "f{i}") (param i32) (result i32) '
                     f'(i32.xor {callee} (i32.const {k})))')
    imports = '(import "env" "h" (func $h (param i32) (result i32)))'
    original = wat(f"(module {imports} {''.join(funcs)})")
    padded = pad_module(original)
    res = optimize(padded, passes=["compact"])
    validate(res.data)
    assert res.data == original
    assert compare(padded, res.data, _calls(padded, seed, 40)) > 0
