"""The decoder's and encoder's inline paths for one- and two-byte LEB128s
(instructions._decode_instrs, _read_memarg, _encode_into): the same values,
offsets and errors as the LEB128 readers and writers they stand in for, on
each side of every boundary, and the same results for a bytearray or a
memoryview as for bytes (the compiled decoder indexes bytes only)."""

import pytest

from loom_post.wasm import instructions, opcodes as O
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.instructions import (decode_body, decode_instrs, encode_body,
                                         encode_body_marked, encode_instr)
from loom_post.wasm.leb128 import encode_s, encode_u

CALL, I32C = O.BY_NAME["call"], O.BY_NAME["i32.const"]
BLOCK, END = O.BY_NAME["block"], O.BY_NAME["end"]
LOAD, GET = O.BY_NAME["i32.load"], O.BY_NAME["local.get"]
UNSIGNED = [0, 1, 0x7F, 0x80, 0x81, 0x3FFF, 0x4000, 0x7FFF, 0x1FFFFF, 0x200000, 2**32 - 1]
SIGNED = [0, 1, -1, 0x3F, 0x40, -0x40, -0x41, 0x1FFF, 0x2000, -0x2000, -0x2001, 0xFFFF,
          -0x10000, 2**31 - 1, -2**31]


def _instrs():
    out = [(CALL, v) for v in UNSIGNED] + [(GET, v) for v in UNSIGNED]
    out += [(I32C, v) for v in SIGNED]
    out += [(LOAD, (2, 0, v)) for v in UNSIGNED] + [(LOAD, (a, 0, 5)) for a in (0x3F, 0x80)]
    out += [(LOAD, (2, 1, 5)), (LOAD, (2, 200, 0x4000))]      # another memory
    for bt in (None, 0x7F, 0x7B, ("t", 0), ("t", 300)):      # block types
        out += [(BLOCK, bt), (END, None)]
    return out


def test_encoding_equals_the_leb128_writers_and_marks_each_call():
    instrs = [(op, imm, 0, 0) for op, imm in _instrs()]
    groups = [(3, 0x7F)]
    body, marks = encode_body_marked(groups, instrs, frozenset((CALL,)))
    expected = b"\x01\x03\x7f" + b"".join(encode_instr(op, imm) for op, imm, _s, _e in instrs)
    assert body == expected == encode_body(groups, instrs)
    spans, at = [], 3
    for op, imm, _s, _e in instrs:
        size = len(encode_instr(op, imm))
        if op is CALL:
            spans.append((at + 1, at + size, imm))
            assert body[at + 1:at + size] == encode_u(imm)
        at += size
    assert marks == spans


def test_decoding_reads_every_width_back():
    instrs = [(op, imm, 0, 0) for op, imm in _instrs()]
    data = encode_body([], instrs) + b"\x0b"
    body = decode_body(data, 0, len(data))
    assert [(op, imm) for op, imm, _s, _e in body.instrs[:-1]] == _instrs()
    assert body.minimal
    ends = [e for _op, _imm, _s, e in body.instrs]
    assert [s for _op, _imm, s, _e in body.instrs] == [1] + ends[:-1]


@pytest.mark.parametrize("imm, leb", [
    (-128, b"\x80\x7f"), (8191, b"\xff\x3f"), (-8192, b"\x80\x40"), (64, b"\xc0\x00"),
    (-8193, b"\xff\xbf\x7f"), (8192, b"\x80\xc0\x00"),
])
def test_i32_const_two_bytes_and_past(imm, leb):
    assert encode_s(imm) == leb
    instrs, pos = decode_instrs(b"\x41" + leb + b"\x0b", 0, len(leb) + 2)
    assert instrs[0][1] == imm and pos == len(leb) + 2


@pytest.mark.parametrize("data, message, offset", [
    (b"\x41\x80", "unexpected end of data inside a LEB128 integer", 2),   # i32.const cut
    (b"\x10\x80", "unexpected end of data inside a LEB128 integer", 2),   # call cut
    (b"\x28\x02\x80", "unexpected end of data inside a LEB128 integer", 3),  # offset cut
    (b"\x41\xff", "unexpected end of data inside a LEB128 integer", 2),
])
def test_a_leb128_cut_after_its_first_byte_is_reported_as_the_readers_do(data, message, offset):
    with pytest.raises(DecodeError) as e:
        decode_instrs(data, 0, len(data))
    assert (e.value.message, e.value.offset) == (message, offset)


def test_two_bytes_past_the_instructions_end_run_past_it():
    data = b"\x10\x80\x01\x0b"     # call 128 ends at 3: the expression ends at 2
    with pytest.raises(DecodeError, match="call runs past the end of its code"):
        decode_instrs(data, 0, 2)


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_a_bytearray_or_memoryview_decodes_as_bytes_do(wrap):
    data = encode_body([(1, 0x7E)], [(op, imm, 0, 0) for op, imm in _instrs()]) + b"\x0b"
    got, want = decode_body(wrap(data), 0, len(data)), decode_body(data, 0, len(data))
    assert (got.locals, got.instrs, got.minimal) == (want.locals, want.instrs, want.minimal)
    assert decode_instrs(wrap(data), 3, len(data)) == decode_instrs(data, 3, len(data))


# -- offsets shared between decoded bodies (instructions._offsets) -----------

NOP = O.BY_NAME["nop"]


def _nops(n):
    """A body of `n` nops (one byte each) and its final end."""
    return b"\x00" + b"\x01" * n + b"\x0b"


def test_bodies_decoded_apart_share_the_objects_of_equal_offsets():
    # Past 256 Python boxes each int afresh: the shared table is the only
    # reason two bodies hold the same object, the final end's included.
    a = decode_body(_nops(400), 0, 402).instrs
    b = decode_body(bytes(bytearray(_nops(400))), 0, 402).instrs
    assert [ins[2:] for ins in a] == [(k, k + 1) for k in range(1, 402)]
    assert all(x[2] is y[2] and x[3] is y[3] for x, y in zip(a, b))
    assert all(x[3] is y[2] for x, y in zip(a, a[1:]))  # an end is the next start


def test_only_bodies_grow_the_table():
    """A module's constant expressions sit at offsets into the whole module
    (a data segment's after the code section): they use the table as it is."""
    decode_body(_nops(2000), 0, 2002)
    del instructions._OFFSETS[1000:]
    far = 5000
    data = b"\x00" * far + b"\x41\x05\x0b"   # i32.const 5, end
    instrs, pos = decode_instrs(data, far, len(data))
    assert [ins[2:] for ins in instrs] == [(far, far + 2), (far + 2, far + 3)]
    assert len(instructions._OFFSETS) == 1000 and pos == len(data)
    decode_body(_nops(3000), 0, 3002)
    assert len(instructions._OFFSETS) == 3003


def test_offsets_past_the_shared_table_are_exact_and_not_kept():
    """The table stops at _SHARED_OFFSETS (a module that is mostly one long
    function would pay more for it than it saves): past it, each body boxes
    its own offsets, and they are still exact."""
    n = (1 << 17) + 300
    body = decode_body(_nops(n), 0, n + 2)
    again = decode_body(bytes(bytearray(_nops(n))), 0, n + 2)
    assert len(body.instrs) == n + 1
    assert [ins[2:] for ins in body.instrs[-400:]] == [(k, k + 1) for k in range(n - 398, n + 2)]
    assert body.instrs[-1][0] is END and body.instrs[0][0] is NOP
    assert body.instrs[-1][3] is not again.instrs[-1][3]


def _rewrites(orig):
    """Rewrites of `orig` as passes make them, and the ways one could go wrong:
    kept, removed, inserted, reordered, repeated and equal-but-not-same tuples."""
    new_get, new_call = (GET, 300, -1, -1), (CALL, 7, -1, -1)
    yield list(orig)
    yield [ins for i, ins in enumerate(orig) if i % 3]                   # removals
    yield [x for ins in orig for x in (ins, new_get)]                    # insertions
    yield orig[:5] + [new_call] + orig[9:] + [new_get]
    yield orig[10:] + orig[:10]                                          # reordered
    yield orig + orig[:4]                                                # repeated
    yield [tuple(list(ins)) if i % 2 else ins for i, ins in enumerate(orig)]  # equal copies
    yield [(ins[0], ins[1], ins[2] + 1, ins[3]) if ins[0] is GET else ins for ins in orig]
    yield [(GET, 99, ins[2], ins[3]) if i == 7 else ins for i, ins in enumerate(orig)]  # a span


def test_reusing_a_minimal_body_gives_the_bytes_and_marks_of_encoding_it():
    """encode_body_marked with a `source` copies the source's own tuples from
    its bytes and encodes any other: the same result as encoding everything."""
    instrs = [(op, imm, 0, 0) for op, imm in _instrs()]
    data = encode_body([(2, 0x7E)], instrs) + b"\x0b"
    body = decode_body(data, 0, len(data))
    assert body.minimal
    marked = frozenset((CALL,))
    for rewrite in _rewrites(body.instrs):
        for groups in ([(2, 0x7E)], [(2, 0x7E), (1, 0x7F)]):
            want = encode_body_marked(groups, rewrite, marked)
            assert encode_body_marked(groups, rewrite, marked, (body.instrs, data)) == want
            assert encode_body_marked(groups, rewrite, marked,
                                      (body.instrs, bytearray(data))) == want
