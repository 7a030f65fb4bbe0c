"""The opcode table against an independent encoder.

For every row of opcodes.ALL a module holding that instruction in a valid context
is assembled by wasmtime's WAT parser (wasm-tools), validated by wasmtime with the
post-MVP features on (except legacy exception handling, which wasmtime 50 cannot
switch on), and decoded with loom_post.wasm.instructions. The decoded function must be exactly
the instructions the WAT spelled (names from the table, immediates as written),
and every instruction must re-encode to the very bytes the assembler emitted
(it emits minimal LEB128s, as encode_instr does).
"""

import collections

import pytest

from loom_post.wasm import opcodes as O
from loom_post.wasm.module import read_module
from loom_post.wasm.instructions import decode_body, encode_body, encode_instr

import wat_util as W

CASES = W.all_cases()
FAMILIES = ("core", "sign-ext", "sat-trunc", "bulk memory", "reference types",
            "multi-value blocks", "SIMD", "relaxed SIMD", "threads", "tail calls",
            "exception handling", "typed function references", "multi-memory memarg")


def _last_function(data):
    module = read_module(data)
    entry = module.code[-1]
    return module, entry, decode_body(data, entry.body_start, entry.end)


def test_every_row_has_a_case_and_ids_are_unique():
    rows = [op.name for op in O.ALL]
    covered = [c.row for c in CASES if c.row is not None]
    assert sorted(covered) == sorted(rows)
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    # The row's own name must appear in its case: a case cannot prove another row.
    for c in CASES:
        if c.row is not None:
            assert c.row in [name for name, _ in c.expect], c.id


def test_every_family_is_exercised():
    counts = collections.Counter(c.family for c in CASES)
    assert set(counts) == set(FAMILIES), counts
    for fam in FAMILIES:
        assert counts[fam] >= 1, fam


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}: {c.id}" for c in CASES])
def test_row_against_wat(case):
    data = W.assemble(case)
    if case.no_engine is None:
        W.validate(data)   # the context is valid, so the instruction is used as specified
    _module, entry, body = _last_function(data)
    got = [(op.name, imm) for op, imm, _s, _e in body.instrs]
    assert [n for n, _ in got] == [n for n, _ in case.expect], case.wat
    for (name, imm), (_n, want) in zip(got, case.expect):
        if want is not W.ANY:
            assert imm == want, f"{name}: decoded {imm!r}, WAT wrote {want!r}"
    # Byte-exact re-encoding, instruction by instruction and for the whole body.
    pos = body.code_start
    for op, imm, start, end in body.instrs:
        assert start == pos
        assert data[start:start + len(op.opcode_bytes)] == op.opcode_bytes
        assert encode_instr(op, imm) == data[start:end], op.name
        pos = end
    assert pos == entry.end
    assert encode_body(body.locals, body.instrs) == data[entry.body_start:entry.end]


def test_table_decodes_what_its_encoder_writes():
    """Every row's own encoding decodes back to that row (no two rows collide)."""
    for op in O.ALL:
        assert O.BY_NAME[op.name] is op
        if op.prefix is None:
            assert O.SINGLE[op.code] is op
        else:
            assert O.PREFIXED[op.prefix][op.code] is op
            assert op.opcode_bytes[0] == op.prefix
