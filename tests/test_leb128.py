"""LEB128: minimal encodings, their sizes, and the spec's length limits."""

import pytest

from loom_post.errors import DecodeError
from loom_post.wasm.leb128 import (encode_s, encode_u, read_s32, read_s64, read_u32, size_s,
                              size_u)

# A signed LEB128 byte holds 7 bits, one of them the sign: sizes change at
# +-2**(7k - 1) (63/64, -64/-65, 8191/8192, ...).
SIGNED = sorted({v for k in range(1, 10) for b in (7 * k - 1,)
                 for v in (2**b - 1, 2**b, -2**b, -2**b - 1)}
                | {0, 1, -1, 2**63 - 1, -2**63})
UNSIGNED = sorted({v for b in range(0, 64, 7) for v in (2**b - 1, 2**b)} | {0, 2**64 - 1})


@pytest.mark.parametrize("value", SIGNED)
def test_signed_size_matches_the_encoding_at_every_boundary(value):
    assert size_s(value) == len(encode_s(value))
    if -2**63 <= value < 2**63:
        assert read_s64(encode_s(value), 0) == (value, len(encode_s(value)))


@pytest.mark.parametrize("value", UNSIGNED)
def test_unsigned_size_matches_the_encoding_at_every_boundary(value):
    assert size_u(value) == len(encode_u(value))


@pytest.mark.parametrize("data", [b"\x80\x80\x80\x80\x10", b"\x80\x80\x80\x80\x80\x00"])
def test_u32_longer_or_larger_than_the_spec_allows_is_an_error(data):
    with pytest.raises(DecodeError):
        read_u32(data, 0)


def test_s32_padding_must_be_a_sign_extension():
    assert read_s32(b"\xff\xff\xff\xff\x7f", 0) == (-1, 5)
    with pytest.raises(DecodeError):
        read_s32(b"\x80\x80\x80\x80\x70", 0)
