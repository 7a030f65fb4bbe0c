"""Decoding a memarg (instructions._read_memarg): one-byte, padded and
multi-memory forms, whether the body is minimal, and a memarg cut off at its
alignment (reported as read_u32 reports it)."""

import pytest

from loom_post.wasm import opcodes as O
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.instructions import decode_body, decode_instrs

LOAD = O.BY_NAME["i32.load"]


def _decode(memarg):
    data = bytes([0x28]) + memarg + b"\x0b"
    instrs, pos = decode_instrs(data, 0, len(data))
    assert pos == len(data)
    return instrs[0][1]


@pytest.mark.parametrize("memarg, imm", [
    (b"\x02\x05", (2, 0, 5)),               # one-byte alignment and offset
    (b"\x80\x00\x05", (0, 0, 5)),            # alignment 0 padded to two bytes
    (b"\x82\x80\x00\x07", (2, 0, 7)),        # alignment 2 padded to three bytes
    (b"\x42\x01\x90\x03", (2, 1, 400)),      # memory 1, two-byte offset
])
def test_memarg_alignment_one_byte_and_padded(memarg, imm):
    assert _decode(memarg) == imm


def test_padded_memarg_alignment_is_not_minimal():
    body = b"\x00\x41\x00\x28\x82\x00\x00\x1a\x0b"   # locals 0; i32.const 0; i32.load; drop; end
    decoded = decode_body(body, 0, len(body))
    assert decoded.instrs[1][1] == (2, 0, 0)
    assert not decoded.minimal
    body = b"\x00\x41\x00\x28\x02\x00\x1a\x0b"
    assert decode_body(body, 0, len(body)).minimal


def test_memarg_cut_at_its_alignment():
    with pytest.raises(DecodeError, match="inside a LEB128 integer") as err:
        decode_instrs(b"\x28", 0, 1)
    assert err.value.offset == 1
