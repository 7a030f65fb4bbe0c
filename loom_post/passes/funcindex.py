"""Rewriting every function index of a module: the shared part of the passes
that remove or reorder defined functions (dedupe-functions, renumber-functions).

A `Layout` says which defined functions stay, in which order, and where a
removed one's references go. `rewrite(module, spans, layout)` then writes the
code section (bodies in the new order, `call`/`return_call`/`ref.func`
immediates mapped: only those spliced, the bytes between them copied), the
function section, and every other place a function index lives: global
initializers, exports, start, element segments (all encodings) and the `name`
section (function, local and label names, moved with their function; a
removed function's are dropped).

Widths: in the code section an index, a body size or the count that was written
minimally is written minimally again; a padded one keeps its width (a new value
that does not fit raises ValueError: the caller then leaves the module alone).
So what these passes save is theirs, never what compacting saves. The other
sections are written with minimal LEB128s.

`understood(module)` is False for modules carrying something that refers to
functions by index or code offset which this module does not rewrite.
"""

from loom_post.wasm import opcodes
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.instructions import decode_body
from loom_post.wasm.leb128 import encode_u, encode_u_width, size_u
from loom_post.wasm.sections import ENCODERS, encode_function_section, encode_name

_REF_OPS = ("call", "return_call", "ref.func")
REF_ROWS = frozenset(op for op in opcodes.ALL if op.name in _REF_OPS)  # one u32 immediate each
_REF_ROW_TUPLE = tuple(sorted(REF_ROWS, key=lambda op: _REF_OPS.index(op.name)))
_FOREIGN = ("linking", "reloc.", "metadata.code.")


def understood(module):
    for sec in module.custom_sections():
        if sec.name.startswith(_FOREIGN):
            return False
    for sec in module.sections:
        if sec.id == 4 and b"\x40\x00" in module.data[sec.payload_start:sec.end]:
            return False  # maybe a table initializer expression: not rewritten here
    return True


def body(module, pos):
    entry = module.code[pos]
    return module.data[entry.body_start:entry.end]


def spans(module, pos, bodies=None):
    """[(start, end, target)] of one body's function-index immediates, offsets
    relative to the body; DecodeError when it does not decode. `bodies`: the
    run's store of decoded bodies (bodies.Bodies), or None."""
    return _spans(body(module, pos), bodies)


def references(module, pos, bodies=None):
    """(body chunks between references, spans) of one body: what
    dedupe-functions compares."""
    data = body(module, pos)
    found = _spans(data, bodies)
    chunks, last = [], 0
    for s, e, _t in found:
        chunks.append(data[last:s])
        last = e
    chunks.append(data[last:])
    return tuple(chunks), found


def _spans(data, bodies):
    found = None if bodies is None else bodies.known_references(data)
    if found is None:
        decoded = decode_body(data, 0, len(data)) if bodies is None else bodies.of_bytes(data)
        found = _scan(decoded.instrs)
        if bodies is not None:   # a later pass of the run (or the guard's rerun) reads them again
            bodies.note_references(data, found)
    return found


def _scan(instrs):
    """[(start, end, target)] of the function-index immediates among a body's
    decoded instructions: a look at each row, a tuple for each reference."""
    found = []
    call, return_call, ref_func = _REF_ROW_TUPLE
    for ins in instrs:
        info = ins[0]
        if info is call or info is return_call or info is ref_func:
            found.append((ins[2] + len(info.opcode_bytes), ins[3], ins[1]))
    return found


def find(target, index):
    while index in target:
        index = target[index]
    return index


class Layout:
    """`order`: the defined functions that stay (positions), in their new
    order; `target`: removed function index -> the index its references go to."""

    def __init__(self, module, order, target=None):
        n_imp = module.num_imported_funcs
        self.order = order
        self.target = target or {}
        self.new_index = {i: i for i in range(n_imp)}
        for new_pos, pos in enumerate(order):
            self.new_index[module.func_index(pos)] = n_imp + new_pos

    def ref(self, index):
        return self.new_index[find(self.target, index)]

    def name(self, index):
        return self.new_index.get(index)


def rewrite(module, spans, layout):
    """Apply `layout` to `module` (through set_code_payload / set_payload);
    `spans`: each body's, by position (see spans()). DecodeError, IndexError
    or ValueError leave the module untouched."""
    payloads = _sections(module, layout)
    code = _code(module, spans, layout)
    module.set_code_payload(code)
    for sec, payload in payloads:
        module.set_payload(sec, payload)


def _index(new, old, width):
    """`new` in place of `old`, written in `width` bytes: minimally when `old`
    was written minimally, else padded to the same width."""
    return encode_u(new) if width == size_u(old) else encode_u_width(new, width)


def _code(module, spans, layout):
    data = module.data
    count_width = module.code[0].start - module.code_section.payload_start
    parts = [_index(len(layout.order), len(module.code), count_width)]
    # (old index, width) -> its new immediate, b"" when unchanged: a function
    # is called from many places, each mapped and written once
    immediates = {}
    for pos in layout.order:
        entry = module.code[pos]
        old = data[entry.body_start:entry.end]
        new = _body(old, spans[pos], layout, immediates)
        if new is old:
            parts.append(data[entry.start:entry.end])
        else:
            parts.append(_index(len(new), len(old), entry.body_start - entry.start) + new)
    return b"".join(parts)


def _body(old, spans, layout, immediates):
    parts, last = [], 0
    for s, e, t in spans:
        key = (t, e - s)
        imm = immediates.get(key)
        if imm is None:
            new = layout.ref(t)
            imm = immediates[key] = b"" if new == t else _index(new, t, e - s)
        if imm:
            parts.append(old[last:s])
            parts.append(imm)
            last = e
    if not parts:
        return old
    parts.append(old[last:])
    return b"".join(parts)


def _sections(module, layout):
    data = module.data
    out = []
    for sec in module.sections:
        if sec.id == 3:
            types = [module.func_types[module.func_index(pos)] for pos in layout.order]
            out.append((sec, encode_function_section(types)))
        elif sec.id in (6, 7, 8, 9):
            out.append((sec, ENCODERS[sec.id](data, sec, layout.ref)))
        elif sec.id == 0 and sec.name == "name":
            out.append((sec, encode_name(data, sec, layout.name)))
    return out


def other_references(module):
    """Every function index named outside the code section (globals, exports,
    start, elements), once per occurrence."""
    seen = []

    def record(index):
        seen.append(index)
        return index
    for sec in module.sections:
        if sec.id in (6, 7, 8, 9):
            ENCODERS[sec.id](module.data, sec, record)
    return seen
