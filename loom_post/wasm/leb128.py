"""LEB128 integers as the WebAssembly binary format uses them.

Readers take `(data, pos)` and return `(value, new_pos)`; they enforce the spec's
limits: at most ceil(N/7) bytes for an N-bit integer, and the unused high bits of
the last byte must be zero (unsigned) or a sign extension (signed). Writers always
produce the minimal encoding. The one-byte case is handled inline by hot callers.
"""

from loom_post.wasm.errors import DecodeError


def _read(data, pos, bits, signed):
    start = pos
    result = 0
    shift = 0
    max_bytes = (bits + 6) // 7
    n = len(data)
    for i in range(max_bytes):
        if pos >= n:
            raise DecodeError("unexpected end of data inside a LEB128 integer", pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i == max_bytes - 1:
                # Last allowed byte: bits beyond `bits` must be padding.
                used = bits - 7 * i  # meaningful bits in this byte
                extra = byte >> used if used < 7 else 0
                if signed:
                    sign = (byte >> (used - 1)) & 1
                    want = ((1 << (7 - used)) - 1) if sign else 0
                    if extra != want:
                        raise DecodeError(f"LEB128 integer too large for s{bits}", start)
                elif extra:
                    raise DecodeError(f"LEB128 integer too large for u{bits}", start)
            if signed and byte & 0x40:
                result -= 1 << shift
            return result, pos
    raise DecodeError(f"LEB128 integer longer than {max_bytes} bytes", start)


def read_u32(data, pos):
    b = data[pos] if pos < len(data) else 0x80
    if b < 0x80:
        return b, pos + 1
    return _read(data, pos, 32, False)


def read_u64(data, pos):
    return _read(data, pos, 64, False)


def read_s32(data, pos):
    b = data[pos] if pos < len(data) else 0x80
    if b < 0x40:
        return b, pos + 1
    if b < 0x80:
        return b - 0x80, pos + 1
    return _read(data, pos, 32, True)


def read_s33(data, pos):
    return _read(data, pos, 33, True)


def read_s64(data, pos):
    return _read(data, pos, 64, True)


def encode_u(value):
    """Minimal unsigned LEB128."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_s(value):
    """Minimal signed LEB128."""
    if -0x40 <= value < 0x40:
        return bytes((value & 0x7F,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def size_u(value):
    """Bytes of the minimal unsigned LEB128 of `value`."""
    n = 1
    while value >= 0x80:
        value >>= 7
        n += 1
    return n


def size_s(value):
    """Bytes of the minimal signed LEB128 of `value`."""
    n = 1
    while not -64 <= value < 64:
        value >>= 7
        n += 1
    return n


def encode_u_width(value, width):
    """Unsigned LEB128 of `value` in exactly `width` bytes (padded), for
    rewriting an index in place; ValueError when it does not fit."""
    if width < 1 or value >= 1 << (7 * width):
        raise ValueError(f"{value} does not fit in a {width}-byte LEB128")
    out = bytearray()
    for i in range(width):
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if i < width - 1 else 0))
    return bytes(out)
