"""Function bodies: the instruction decoder and encoder.

An instruction decodes to a tuple `(op, imm, start, end)`: the OpInfo row from
opcodes.py, its immediate operands, and its byte span in the module. Spans let
callers keep untouched bytes as they are; `encode_instr` writes minimal LEB128s.
This is the hot path: decode_instrs reads the immediate kinds rustc emits most
(none, index, memarg, s32, block type; one-byte LEB128s inline) itself, ordered by how often
they occur, and hands the rarer kinds to the readers in _READERS. While
decoding a body it also learns whether every LEB128 in it is minimal
(`Body.minimal`): then the body is its own re-encoding, and nobody needs to
encode it to know its minimal size.
"""

from loom_post.wasm import opcodes as O
from loom_post.wasm.errors import DecodeError, UnknownInstruction
from loom_post.wasm.leb128 import (encode_s, encode_u, read_s32, read_s33, read_s64, read_u32,
                     read_u64, size_s, size_u)

_SINGLE = O.SINGLE
# each one-byte opcode's immediate kind, read without the row's attribute
_SINGLE_KIND = [None if info is None else info.imm for info in _SINGLE]
_PREFIXED = O.PREFIXED
_END, _DELEGATE = 0x0B, 0x18
_SIMPLE_VALTYPES = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F,
                              0x6E, 0x6D, 0x6C, 0x6B, 0x6A, 0x69, 0x71, 0x72, 0x73, 0x74))


def read_valtype(data, pos):
    """A value type: a byte for number/vector/abstract reference types, or
    `(0x63|0x64, heaptype)` for a typed reference."""
    if pos >= len(data):
        raise DecodeError("unexpected end of data inside a value type", pos)
    b = data[pos]
    if b in _SIMPLE_VALTYPES:
        return b, pos + 1
    if b in (0x63, 0x64):
        ht, pos2 = read_s33(data, pos + 1)
        return (b, ht), pos2
    raise DecodeError(f"invalid value type 0x{b:02x}", pos)


def encode_valtype(vt):
    if isinstance(vt, int):
        return bytes((vt,))
    return bytes((vt[0],)) + encode_s(vt[1])


def _read_blocktype(data, pos):
    b = data[pos]
    if b == 0x40:
        return None, pos + 1
    if b in _SIMPLE_VALTYPES or b in (0x63, 0x64):
        return read_valtype(data, pos)
    idx, pos = read_s33(data, pos)
    if idx < 0:
        raise DecodeError(f"invalid block type 0x{b:02x}", pos)
    return ("t", idx), pos


def _encode_blocktype(bt):
    if bt is None:
        return b"\x40"
    if isinstance(bt, tuple) and bt[0] == "t":
        return encode_s(bt[1])
    return encode_valtype(bt)


def _read_memarg(data, pos):
    b = data[pos] if pos < len(data) else 0x80  # past the end: read_u32 reports it
    if b < 0x80:
        align = b
        pos += 1
    else:
        align, pos = read_u32(data, pos)
    mem = 0
    if align & 0x40:
        align &= ~0x40
        mem, pos = read_u32(data, pos)
    b = data[pos]
    if b < 0x80:
        return (align, mem, b), pos + 1
    if pos + 1 < len(data) and data[pos + 1] < 0x80:  # two bytes: any u14 fits
        return (align, mem, (b & 0x7F) | (data[pos + 1] << 7)), pos + 2
    offset, pos = read_u64(data, pos)
    return (align, mem, offset), pos


def _encode_memarg(m):
    align, mem, offset = m[0], m[1], m[2]
    if mem:
        return encode_u(align | 0x40) + encode_u(mem) + encode_u(offset)
    return encode_u(align) + encode_u(offset)


def _read_prefixed(data, op, pos, start):
    """The row of a prefixed opcode whose prefix byte `op` was just read."""
    table = _PREFIXED.get(op)
    if table is None:
        raise UnknownInstruction(f"unknown opcode 0x{op:02x}", start)
    sub, pos = read_u32(data, pos)
    info = table.get(sub)
    if info is None:
        raise UnknownInstruction(f"unknown opcode 0x{op:02x} {sub}", start)
    return info, pos


# Readers of the rarer immediate kinds, `(data, pos) -> (imm, pos_after)`; the
# common kinds (none, index, memarg, s32, block type) are read inline by decode_instrs.

def _raw_bytes(n):
    def read(data, pos):
        return bytes(data[pos:pos + n]), pos + n
    return read


def _read_br_table(data, pos):
    n, pos = read_u32(data, pos)
    labels = []
    for _ in range(n):
        label, pos = read_u32(data, pos)
        labels.append(label)
    default, pos = read_u32(data, pos)
    return (tuple(labels), default), pos


def _read_two_indices(data, pos):
    a, pos = read_u32(data, pos)
    b, pos = read_u32(data, pos)
    return (a, b), pos


def _read_valtypes(data, pos):
    n, pos = read_u32(data, pos)
    types = []
    for _ in range(n):
        vt, pos = read_valtype(data, pos)
        types.append(vt)
    return tuple(types), pos


def _read_lane_byte(data, pos):
    return data[pos], pos + 1


def _truncated(data, pos):
    return DecodeError("unexpected end of data inside an instruction", min(pos, len(data)))


# A reader that indexes `data` past a position it has advanced reports that
# position when the data ends, as decode_instrs does for what it reads inline.

def _read_memarg_lane(data, pos):
    m, pos = _read_memarg(data, pos)
    if pos >= len(data):
        raise _truncated(data, pos)
    return m + (data[pos],), pos + 1


def _read_zero_byte(data, pos):
    if data[pos] != 0:
        raise DecodeError("atomic.fence expects a zero byte", pos)
    return 0, pos + 1


def _read_try_table(data, pos):
    bt, pos = _read_blocktype(data, pos)
    n, pos = read_u32(data, pos)
    clauses = []
    for _ in range(n):
        if pos >= len(data):
            raise _truncated(data, pos)
        ck = data[pos]
        pos += 1
        if ck in (0, 1):
            tag, pos = read_u32(data, pos)
            label, pos = read_u32(data, pos)
            clauses.append((ck, tag, label))
        elif ck in (2, 3):
            label, pos = read_u32(data, pos)
            clauses.append((ck, None, label))
        else:
            raise DecodeError(f"invalid catch clause kind {ck}", pos - 1)
    return (bt, tuple(clauses)), pos


_READERS = {3: read_s64, 4: _raw_bytes(4), 5: _raw_bytes(8),
            8: _read_br_table, 9: _read_two_indices, 10: _read_valtypes, 11: read_s33,
            12: _raw_bytes(16), 13: _raw_bytes(16), 14: _read_lane_byte,
            15: _read_memarg_lane, 16: _read_zero_byte, 17: _read_try_table}
_unread = {op.imm for op in O.ALL} - set(_READERS) - {0, 1, 2, 6, 7}
if _unread:
    raise AssertionError(f"no decoder for immediate kinds {sorted(_unread)}")
del _unread


def decode_instrs(data, pos, end):
    """Decode instructions from `pos` up to the `end` that closes the expression.

    Returns `(instrs, pos_after)`. Raises UnknownInstruction for an opcode outside
    the table and DecodeError for anything malformed.
    """
    out, pos, _minimal = _decode_instrs(_as_bytes(data), pos, end)
    return out, pos


def _as_bytes(data):
    """`data` as bytes: the compiled decoder indexes bytes only (a bytearray
    or memoryview decodes to the same instructions, at the same offsets)."""
    return data if type(data) is bytes else bytes(data)


# Immediate kinds written as LEB128s (or holding some) that the inline paths
# below do not check for minimal width; the others are raw bytes.
_LEB_KINDS = frozenset((O.I64, O.BR_TABLE, O.U32X2, O.SELECT_T, O.HEAPTYPE, O.MEMARG_LANE,
                        O.TRY_TABLE))


# Offsets in a body, boxed once per process and shared by every decoded
# instruction that starts or ends there: a decoded instruction holds its end as
# an int object, and a new one per instruction (past the 256 small ints Python
# shares) was a quarter of the memory of a run's decoded bodies (resvg: 832k of
# them, 27 MB at the run's peak) and an allocation and a free each. Offsets
# from _SHARED_OFFSETS on are boxed as before: a table up to the largest body's
# end costs more than it saves only in a module that is mostly one function.
# Only bodies grow the table (their offsets start at 0): a module's constant
# expressions are decoded at offsets into the whole module.
_SHARED_OFFSETS = 1 << 17
_OFFSETS = []


def _offsets(end):
    """The shared offsets, grown to cover 0..end (at most _SHARED_OFFSETS)."""
    have = len(_OFFSETS)
    if have <= end and have < _SHARED_OFFSETS:
        _OFFSETS.extend(range(have, min(end + 1, _SHARED_OFFSETS)))
    return _OFFSETS


def _decode_instrs(data, pos, end):
    """decode_instrs, and whether encode_instr would write every instruction
    back as it is (no LEB128 longer than needed, no memarg naming memory 0
    explicitly). Only the multi-byte paths check it (one-byte LEB128s are
    minimal), and only until the first that is not."""
    out = []
    append = out.append
    readers = _READERS
    single, kinds = _SINGLE, _SINGLE_KIND
    n = len(data)
    depth = 0
    minimal = True
    # `at` is the previous instruction's end, the object its tuple holds: the
    # next one's start (the compiled build would otherwise box it twice)
    offsets = _OFFSETS    # grown by decode_body only (see _offsets)
    shared = len(offsets)
    at = offsets[pos] if pos < shared else pos
    try:
        while pos < end:
            start = pos
            op = data[pos]
            pos += 1
            info = single[op]
            if info is None:
                info, pos = _read_prefixed(data, op, pos, start)
                if minimal and pos - start != len(info.opcode_bytes):
                    minimal = False
                kind = info.imm
            else:
                kind = kinds[op]
            if kind == 0:
                imm = None
                if op == _END:
                    depth -= 1
                    if depth < 0:
                        append((info, None, at, offsets[pos] if pos < shared else pos))
                        return out, pos, minimal
            elif kind == 1:
                b = data[pos]
                if b < 0x80:
                    imm = b
                    pos += 1
                elif pos + 1 < n and data[pos + 1] < 0x80:  # two bytes: any u14 fits
                    imm = (b & 0x7F) | (data[pos + 1] << 7)
                    pos += 2
                    if minimal and imm < 0x80:  # a second byte 0x00: padded
                        minimal = False
                else:
                    imm, pos = read_u32(data, pos)
                    if minimal and data[pos - 1] == 0:  # a u32 ending in 0x00: padded
                        minimal = False
                if op == _DELEGATE:
                    depth -= 1
            elif kind == 6:
                begin = pos
                imm, pos = _read_memarg(data, pos)
                if minimal and pos - begin != 2 and pos - begin != len(_encode_memarg(imm)):
                    minimal = False
            elif kind == 2:
                b = data[pos]
                if b < 0x40:
                    imm = b
                    pos += 1
                elif b < 0x80:
                    imm = b - 0x80
                    pos += 1
                elif pos + 1 < n and data[pos + 1] < 0x80:  # two bytes: any s14 fits
                    last = data[pos + 1]
                    imm = (b & 0x7F) | (last << 7)
                    if last & 0x40:
                        imm -= 0x4000
                    pos += 2
                    if minimal and (last == 0 and not b & 0x40 or last == 0x7F and b & 0x40):
                        minimal = False
                else:
                    imm, pos = read_s32(data, pos)
                    # padded: a last byte that only repeats the sign of the one before
                    if minimal:
                        last, sign = data[pos - 1], data[pos - 2] & 0x40
                        if (last == 0 and not sign) or (last == 0x7F and sign):
                            minimal = False
            elif kind == 7:
                b = data[pos]
                if b == 0x40:
                    imm = None
                    pos += 1
                elif b in _SIMPLE_VALTYPES:
                    imm = b
                    pos += 1
                else:
                    begin = pos
                    imm, pos = _read_blocktype(data, pos)
                    if minimal and pos - begin != len(_encode_blocktype(imm)):
                        minimal = False
                depth += 1
            else:
                begin = pos
                imm, pos = readers[kind](data, pos)
                if minimal and kind in _LEB_KINDS and pos - begin != len(encode_imm(info, imm)):
                    minimal = False
                if kind == 17:  # try_table opens a block too
                    depth += 1
            if pos > end:
                raise DecodeError(f"{info.name} runs past the end of its code", start)
            after = offsets[pos] if pos < shared else pos
            append((info, imm, at, after))
            at = after
    except IndexError:
        raise _truncated(data, pos)
    raise DecodeError("code ends without its final 'end'", pos)


def encode_imm(info, imm):
    kind = info.imm
    if kind == 0:
        return b""
    if kind == 1:
        return encode_u(imm)
    if kind == 14:              # a lane index is one raw byte, not a LEB128
        return bytes((imm,))
    if kind == 2 or kind == 3 or kind == 11:
        return encode_s(imm)
    if kind == 6:
        return _encode_memarg(imm)
    if kind == 7:
        return _encode_blocktype(imm)
    if kind == 4 or kind == 5 or kind == 12 or kind == 13:
        return imm
    if kind == 8:
        labels, default = imm
        return encode_u(len(labels)) + b"".join(encode_u(x) for x in labels) + encode_u(default)
    if kind == 9:
        return encode_u(imm[0]) + encode_u(imm[1])
    if kind == 10:
        return encode_u(len(imm)) + b"".join(encode_valtype(t) for t in imm)
    if kind == 15:
        return _encode_memarg(imm) + bytes((imm[3],))
    if kind == 16:
        return b"\x00"
    if kind == 17:
        bt, clauses = imm
        out = [_encode_blocktype(bt), encode_u(len(clauses))]
        for ck, tag, label in clauses:
            out.append(bytes((ck,)))
            if tag is not None:
                out.append(encode_u(tag))
            out.append(encode_u(label))
        return b"".join(out)
    raise AssertionError(f"immediate kind {kind} of {info.name} not encoded")


def encode_instr(info, imm):
    """Minimal encoding of one instruction."""
    return info.opcode_bytes + encode_imm(info, imm)


class Body:
    """A decoded function body: local groups and instructions."""

    __slots__ = ("locals", "instrs", "start", "end", "code_start", "minimal")

    def __init__(self, locals_, instrs, start, end, code_start, minimal=False):
        self.locals = locals_        # [(count, valtype)]
        self.instrs = instrs         # [(op, imm, start, end)]
        self.start = start           # first byte of the body (after its size)
        self.end = end
        self.code_start = code_start  # first byte of the instructions
        # True: encode_body(locals, instrs) is exactly data[start:end] (known
        # while decoding; False when unknown or not)
        self.minimal = minimal

    def local_types(self):
        out = []
        for count, vt in self.locals:
            out.extend([vt] * count)
        return out


MAX_LOCALS = 50000  # what engines accept (wasmtime, V8); the spec allows 2**32 - 1


def decode_locals(data, pos, end):
    n, pos = read_u32(data, pos)
    groups = []
    total = 0
    for _ in range(n):
        count, pos = read_u32(data, pos)
        vt, pos = read_valtype(data, pos)
        total += count
        if total > MAX_LOCALS:
            raise DecodeError(f"more than {MAX_LOCALS} locals", pos)
        groups.append((count, vt))
    if pos > end:
        raise DecodeError("local declarations run past the end of the function body", pos)
    return groups, pos


def decode_body(data, start, end):
    """Decode the body occupying data[start:end] (after its size prefix)."""
    data = _as_bytes(data)
    groups, code_start = decode_locals(data, start, end)
    _offsets(end)
    instrs, pos, minimal = _decode_instrs(data, code_start, end)
    if pos != end:
        raise DecodeError("function body has bytes after its final 'end'", pos)
    minimal = minimal and code_start - start == len(encode_locals(groups))
    return Body(groups, instrs, start, end, code_start, minimal)


def encode_locals(groups):
    return encode_u(len(groups)) + b"".join(encode_u(c) + encode_valtype(t) for c, t in groups)


def encode_body(groups, instrs):
    """Minimal encoding of a body (without its size prefix)."""
    return bytes(_encode_into(groups, instrs, _NONE_MARKED, None))


def encode_body_marked(groups, instrs, marked, source=None):
    """encode_body, and [(start, end, index)] of the index immediate of every
    instruction whose row is in `marked` (rows with one u32 immediate, e.g.
    the calls), offsets relative to the body: what a caller would otherwise
    decode the new bytes again to find. `source`: (instructions, bytes) of a
    body decoded from those bytes with `Body.minimal` true, which `instrs`
    was made from (a pass's rewrite of it): its instructions are copied, not
    encoded."""
    marks = []
    if source is None:
        return bytes(_encode_into(groups, instrs, marked, marks)), marks
    out = _encode_reusing(groups, instrs, marked, marks, source[0], _as_bytes(source[1]))
    return bytes(out), marks


def _encode_reusing(groups, instrs, marked, marks, orig, data):
    """_encode_into for a rewrite of `orig`, a body decoded from `data` where
    every instruction is written minimally: a tuple of `orig` in `instrs` is
    its own encoding, copied from `data` by runs of consecutive ones (a
    function pass keeps most of them: CSE inserts a few, zero-sets removes a
    few); any other tuple is encoded. `orig`'s starts increase, so one index
    moving forward finds each of its tuples `instrs` kept in order (a tuple
    found out of order is encoded, and so is one merely equal to one of
    `orig`'s: only the very tuple is known to come from `data`)."""
    out = bytearray(encode_locals(groups))
    # the first byte of each marked row: a copied instruction is looked up in
    # `marked` only when it starts with one
    firsts = bytearray(256)
    for info in marked:
        firsts[info.opcode_bytes[0]] = 1
    j, n = 0, len(orig)
    run_start = run_end = 0     # data[run_start:run_end]: to copy, not yet written
    fresh = []                  # instructions to encode (_append_instrs), not yet written
    for ins in instrs:
        if j < n and orig[j] is not ins and ins[2] >= 0:
            s = ins[2]
            while j < n:        # skip the originals the rewrite removed
                start = orig[j][2]
                if start >= s:
                    break
                j += 1
        if j < n and orig[j] is ins:
            j += 1
            if fresh:           # written first: a copied mark's offset counts them
                _append_instrs(out, fresh, marked, marks)
                fresh = []
            s = ins[2]
            if s != run_end:
                out += data[run_start:run_end]
                run_start = s
            run_end = ins[3]
            if firsts[data[s]] and ins[0] in marked:  # its immediate ends the instruction
                marks.append((len(out) + (s - run_start) + len(ins[0].opcode_bytes),
                              len(out) + (run_end - run_start), ins[1]))
            continue
        out += data[run_start:run_end]
        run_start = run_end = 0
        fresh.append(ins)
    out += data[run_start:run_end]
    _append_instrs(out, fresh, marked, marks)
    return out


_NONE_MARKED = frozenset()


def _encode_into(groups, instrs, marked, marks):
    """The body's bytes, written into one bytearray: a mark's offsets are its
    length before and after the immediate."""
    out = bytearray(encode_locals(groups))
    _append_instrs(out, instrs, marked, marks)
    return out


def _append_instrs(out, instrs, marked, marks):
    """`instrs` encoded at the end of `out` (a body's locals and any
    instructions before them already there)."""
    append = out.append
    # Indices (kind 1), i32 constants (kind 2), memargs (6) and block types
    # (7) are most immediates and nearly always fit one or two bytes each:
    # written here without a call.
    for info, imm, _s, _e in instrs:
        out += info.opcode_bytes
        kind = info.imm
        if kind == 0:
            continue
        if kind == 1:
            at = len(out)
            if imm < 0x80:
                append(imm)
            elif imm < 0x4000:
                append(imm & 0x7F | 0x80)
                append(imm >> 7)
            else:
                out += encode_u(imm)
            if info in marked:
                marks.append((at, len(out), imm))
        elif kind == 2 and -0x40 <= imm < 0x40:
            append(imm & 0x7F)
        elif kind == 2 and -0x2000 <= imm < 0x2000:
            append(imm & 0x7F | 0x80)
            append(imm >> 7 & 0x7F)
        elif kind == 6 and imm[0] < 0x80 and not imm[1] and imm[2] < 0x4000:
            append(imm[0])      # memory 0, alignment of one byte, offset of one or two
            if imm[2] < 0x80:
                append(imm[2])
            else:
                append(imm[2] & 0x7F | 0x80)
                append(imm[2] >> 7)
        elif kind == 7 and (imm is None or type(imm) is int):
            append(0x40 if imm is None else imm)  # no type, or one value type
        else:
            out += encode_imm(info, imm)


def instr_size(info, imm):
    """Bytes of the minimal encoding of one instruction (= len(encode_instr(...)))."""
    kind = info.imm
    base = len(info.opcode_bytes)
    if kind == 0:
        return base
    if kind == 1:
        return base + (1 if imm < 0x80 else size_u(imm))
    if kind == 2 or kind == 3:
        return base + size_s(imm)
    if kind == 6:
        align, mem, offset = imm
        n = (1 if offset < 0x80 else size_u(offset))
        return base + n + (1 + size_u(mem) if mem else 1)
    return base + len(encode_imm(info, imm))
