"""Make a module look like wasm-ld's output: LEB128s padded to their maximal
width, written here independently of loom_post's encoders (only its decoder is
used, to find the instructions).

pad_module(wasm) pads, in every function body, the local counts and every
index/label/const immediate (u32 and i32 to 5 bytes, i64 to 10, memarg offsets
to 5); in the function, global, export, start, element (flags 0 only) and data
(flags 0 and 1) sections, every index, count, length and constant expression.
Sections it does not know are copied. Same meaning, more bytes.
"""

from loom_post.wasm.instructions import decode_body, decode_instrs, read_valtype
from loom_post.wasm.leb128 import read_u32
from loom_post.wasm.module import read_module


def pu(value, width=5):
    """Unsigned LEB128 of `value`, padded to `width` bytes."""
    out = bytearray()
    for i in range(width):
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if i < width - 1 else 0))
    assert value == 0
    return bytes(out)


def ps(value, width=5):
    """Signed LEB128 of `value`, padded to `width` bytes."""
    out = bytearray()
    for i in range(width):
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if i < width - 1 else 0))
    assert value in (0, -1)
    return bytes(out)


_U32_OPS = {"call", "return_call", "ref.func", "local.get", "local.set", "local.tee",
            "global.get", "global.set", "br", "br_if"}


def _instr(data, info, imm, s, e):
    name = info.name
    if name in _U32_OPS:
        return info.opcode_bytes + pu(imm)
    if name == "i32.const":
        return info.opcode_bytes + ps(imm)
    if name == "i64.const":
        return info.opcode_bytes + ps(imm, 10)
    if name == "call_indirect":
        return info.opcode_bytes + pu(imm[0]) + pu(imm[1])
    if info.imm == 6 and imm[1] == 0:  # memarg, memory 0
        return info.opcode_bytes + pu(imm[0], 1) + pu(imm[2])
    return data[s:e]


def _expr(data, pos, end):
    instrs, pos = decode_instrs(data, pos, end)
    return b"".join(_instr(data, *ins) for ins in instrs), pos


def _code(m):
    d = m.data
    bodies = []
    for entry in m.code:
        body = decode_body(d, entry.body_start, entry.end)
        parts = [pu(len(body.locals))]
        for count, vt in body.locals:
            parts.append(pu(count) + bytes((vt,)))
        parts.extend(_instr(d, *ins) for ins in body.instrs)
        b = b"".join(parts)
        bodies.append(pu(len(b)) + b)
    return pu(len(bodies)) + b"".join(bodies)


def _section(m, sec):
    d, pos, end = m.data, sec.payload_start, sec.end
    if sec.id == 3:
        defined = m.func_types[m.num_imported_funcs:]
        return pu(len(defined)) + b"".join(pu(t) for t in defined)
    if sec.id == 10:
        return _code(m)
    if sec.id == 8:
        return pu(read_u32(d, pos)[0])
    count, pos = read_u32(d, pos)
    out = [pu(count)]
    for _ in range(count):
        if sec.id == 6:
            _, p = read_valtype(d, pos)
            out.append(d[pos:p + 1])
            e, pos = _expr(d, p + 1, end)
            out.append(e)
        elif sec.id == 7:
            n, p = read_u32(d, pos)
            out.append(pu(n) + d[p:p + n + 1])
            idx, pos = read_u32(d, p + n + 1)
            out.append(pu(idx))
        elif sec.id == 9:
            flags, pos = read_u32(d, pos)
            if flags != 0:
                return None
            e, pos = _expr(d, pos, end)
            n, pos = read_u32(d, pos)
            out.append(pu(0) + e + pu(n))
            for _ in range(n):
                idx, pos = read_u32(d, pos)
                out.append(pu(idx))
        elif sec.id == 11:
            flags, pos = read_u32(d, pos)
            if flags > 1:
                return None
            out.append(pu(flags))
            if flags == 0:
                e, pos = _expr(d, pos, end)
                out.append(e)
            n, pos = read_u32(d, pos)
            out.append(pu(n) + d[pos:pos + n])
            pos += n
        else:
            return None
    return b"".join(out)


def pad_module(wasm):
    m = read_module(wasm)
    out = [m.data[:8]]
    for sec in m.sections:
        payload = _section(m, sec) if sec.id in (3, 6, 7, 8, 9, 10, 11) else None
        if payload is None:
            out.append(m.data[sec.start:sec.end])
        else:
            out.append(bytes((sec.id,)) + pu(len(payload)) + payload)
    return b"".join(out)
