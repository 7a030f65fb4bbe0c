"""Re-encoding the sections that hold function indices and constant expressions.

Each `encode_*` reads one section's payload from the module bytes and writes it
again with minimal LEB128s, mapping every function index through `fmap` on the
way (None: indices stay). `fmap(old)` returns the new index; for the name
section it may return None, which drops that function's entries. Everything
else is written back with the same meaning: value types, names and data bytes
are copied, constant expressions are decoded and re-encoded instruction by
instruction.

Sections covered: function, global, export, start, element (all eight segment
encodings), data count, data, and the function-indexed subsections of `name`
(1 function names, 2 local names, 3 label names; the others are copied).
"""

from loom_post.wasm.errors import DecodeError
from loom_post.wasm.instructions import decode_instrs, encode_instr, read_valtype
from loom_post.wasm.leb128 import encode_u, read_u32

_REF_FUNC = 0xD2


def _same(index):
    return index


def _expr(data, pos, end, fmap):
    instrs, pos = decode_instrs(data, pos, end)
    out = []
    for info, imm, _s, _e in instrs:
        if info.opcode_bytes[0] == _REF_FUNC and len(info.opcode_bytes) == 1:
            imm = fmap(imm)
        out.append(encode_instr(info, imm))
    return b"".join(out), pos


def _copy_valtype(data, pos):
    _, end = read_valtype(data, pos)
    return data[pos:end], end


def _name(data, pos):
    n, p = read_u32(data, pos)
    return encode_u(n) + data[p:p + n], p + n


def encode_function_section(type_indices):
    return encode_u(len(type_indices)) + b"".join(encode_u(t) for t in type_indices)


def encode_global(data, sec, fmap=_same):
    count, pos = read_u32(data, sec.payload_start)
    out = [encode_u(count)]
    for _ in range(count):
        vt, pos = _copy_valtype(data, pos)
        out.append(vt + data[pos:pos + 1])  # mutability
        expr, pos = _expr(data, pos + 1, sec.end, fmap)
        out.append(expr)
    return _checked(out, pos, sec)


def encode_export(data, sec, fmap=_same):
    count, pos = read_u32(data, sec.payload_start)
    out = [encode_u(count)]
    for _ in range(count):
        name, pos = _name(data, pos)
        kind = data[pos]
        index, pos = read_u32(data, pos + 1)
        out.append(name + bytes((kind,)) + encode_u(fmap(index) if kind == 0 else index))
    return _checked(out, pos, sec)


def encode_start(data, sec, fmap=_same):
    index, pos = read_u32(data, sec.payload_start)
    return _checked([encode_u(fmap(index))], pos, sec)


def encode_datacount(data, sec, fmap=_same):
    count, pos = read_u32(data, sec.payload_start)
    return _checked([encode_u(count)], pos, sec)


def encode_element(data, sec, fmap=_same):
    count, pos = read_u32(data, sec.payload_start)
    out = [encode_u(count)]
    for _ in range(count):
        flags, pos = read_u32(data, pos)
        if flags > 7:
            raise DecodeError(f"invalid element segment flags {flags}", pos)
        out.append(encode_u(flags))
        if not flags & 1:                      # active: [table] offset
            if flags & 2:
                table, pos = read_u32(data, pos)
                out.append(encode_u(table))
            expr, pos = _expr(data, pos, sec.end, fmap)
            out.append(expr)
        if flags & 3:                          # an element kind or reference type
            if flags & 4:
                vt, pos = _copy_valtype(data, pos)
                out.append(vt)
            else:
                out.append(data[pos:pos + 1])
                pos += 1
        n, pos = read_u32(data, pos)
        out.append(encode_u(n))
        for _ in range(n):
            if flags & 4:
                expr, pos = _expr(data, pos, sec.end, fmap)
                out.append(expr)
            else:
                index, pos = read_u32(data, pos)
                out.append(encode_u(fmap(index)))
    return _checked(out, pos, sec)


def encode_data(data, sec, fmap=_same):
    count, pos = read_u32(data, sec.payload_start)
    out = [encode_u(count)]
    for _ in range(count):
        flags, pos = read_u32(data, pos)
        if flags > 2:
            raise DecodeError(f"invalid data segment flags {flags}", pos)
        out.append(encode_u(flags))
        if flags == 2:
            mem, pos = read_u32(data, pos)
            out.append(encode_u(mem))
        if flags != 1:
            expr, pos = _expr(data, pos, sec.end, fmap)
            out.append(expr)
        n, pos = read_u32(data, pos)
        out.append(encode_u(n))
        out.append(data[pos:pos + n])
        pos += n
    return _checked(out, pos, sec)


def _checked(parts, pos, sec):
    if pos != sec.end:
        raise DecodeError(f"{sec.kind} section size does not match its contents", pos)
    return b"".join(parts)


# Sections holding function indices or constant expressions, by id. The
# function section (3) is written from Module.func_types: encode_function_section.
ENCODERS = {3: None, 6: encode_global, 7: encode_export, 8: encode_start,
            9: encode_element, 12: encode_datacount, 11: encode_data}


def encode_name(data, sec, fmap=_same):
    """The `name` section with function indices mapped (entries of functions
    mapped to None are dropped, the rest sorted by their new index)."""
    head_len, p = read_u32(data, sec.payload_start)
    out = [data[sec.payload_start:p + head_len]]
    pos = p + head_len
    while pos < sec.end:
        sub_id = data[pos]
        size, p = read_u32(data, pos + 1)
        sub_end = p + size
        if sub_end > sec.end:
            raise DecodeError("name subsection runs past its section", pos)
        if sub_id in (1, 2, 3):
            body = _name_map(data, p, sub_end, fmap, indirect=sub_id != 1)
        else:
            body = data[p:sub_end]
        out.append(bytes((sub_id,)) + encode_u(len(body)) + body)
        pos = sub_end
    return b"".join(out)


def _name_map(data, pos, end, fmap, indirect):
    count, pos = read_u32(data, pos)
    entries = []
    for _ in range(count):
        index, start = read_u32(data, pos)
        if indirect:
            n, p = read_u32(data, start)
            for _ in range(n):
                _, p = read_u32(data, p)
                length, p = read_u32(data, p)
                p += length
        else:
            length, p = read_u32(data, start)
            p += length
        if p > end:
            raise DecodeError("name map runs past its subsection", pos)
        new = fmap(index)
        if new is not None:
            entries.append((new, data[start:p]))
        pos = p
    if pos != end:
        raise DecodeError("name subsection size does not match its contents", pos)
    entries.sort(key=lambda e: e[0])
    seen = set()
    kept = [e for e in entries if not (e[0] in seen or seen.add(e[0]))]
    return encode_u(len(kept)) + b"".join(encode_u(i) + rest for i, rest in kept)
