"""The WebAssembly binary format: reading and writing whole modules.

`read_module(data)` checks the framing of every section (sizes, order, counts,
LEB128 limits) and parses what later layers need (types, imports, functions,
memories, globals, tags, exports, code entries, the name section). Sections it
does not need to understand (elements, data, custom sections) are kept as raw
bytes. Function bodies are only located, never decoded here: a pass decodes the
bodies it works on (body.py).

`read_module(data, lazy=True)` checks the framing only (header, section ids,
sizes, order, custom section names) and parses the payloads on the first use
of a parsed field: for bytes whose digest already vouches that they parse (a
result-cache hit), which need no more than the sections and the code size.

`Module.to_bytes()` returns the input unchanged when nothing was replaced, and
otherwise rebuilds only the sections that changed.
"""

from loom_post.wasm.errors import DecodeError
from loom_post.wasm.leb128 import encode_u, read_u32, read_u64

# The instruction decoder (instructions.py and its opcode table, ~10 ms to
# import) reads constant expressions and value types: imported by the first
# payload parse (_load_decoder), so a run that parses none (a cache hit) does
# not pay for it.
decode_instrs = read_valtype = None


def _load_decoder():
    global decode_instrs, read_valtype
    from loom_post.wasm.instructions import decode_instrs, read_valtype

MAGIC = b"\0asm"
CORE_VERSION = b"\x01\x00\x00\x00"

SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table",
                 5: "memory", 6: "global", 7: "export", 8: "start", 9: "element",
                 10: "code", 11: "data", 12: "datacount", 13: "tag"}
# Position of each known section in the required order (tag sits after memory).
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}
_EXTERN_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


class Section:
    __slots__ = ("id", "start", "payload_start", "end", "name")

    def __init__(self, id_, start, payload_start, end, name=None):
        self.id = id_
        self.start = start                  # offset of the id byte
        self.payload_start = payload_start  # first byte after id and size
        self.end = end
        self.name = name                    # custom sections only

    @property
    def payload_size(self):
        return self.end - self.payload_start

    @property
    def kind(self):
        return SECTION_NAMES.get(self.id, f"section {self.id}")


class CodeEntry:
    """One entry of the code section: its size prefix and body, as byte offsets."""

    __slots__ = ("start", "body_start", "end")

    def __init__(self, start, body_start, end):
        self.start, self.body_start, self.end = start, body_start, end

    @property
    def body_size(self):
        return self.end - self.body_start


class _Fields:
    """What the section parsers read from the payloads: a Module's parsed
    fields (_FIELDS), filled in apart and then taken over whole, so that a
    lazily read module whose payload does not parse stays unparsed."""

    def __init__(self):
        self.types = []            # (params, results) for function types, else None
        self.imports = []          # (module, name, kind, desc)
        self.func_types = []       # type index of every function, imports first
        self.num_imported_funcs = 0
        self.memories = []         # (flags, min, max), imports first
        self.globals = []          # (valtype, mutable), imports first
        self.tables = []           # reftype, imports first
        self.tags = []             # type index, imports first
        self.exports = []          # (name, kind, index)
        self.code = []             # CodeEntry per defined function


_FIELDS = frozenset(vars(_Fields()))


class Module:
    def __init__(self, data):
        self.data = data
        self.sections = []
        self.code_section = None
        self._replaced = {}        # defined-function position -> new body bytes
        self._code = None          # a whole new code section payload
        self._payloads = {}        # id (python id) of a section -> its new payload
        self._dropped = set()      # ids (python id) of sections to leave out

    def __getattr__(self, name):
        # reached only for an attribute not set: the parsed fields of a lazily
        # read module, parsed on first use (DecodeError if they do not parse)
        if name not in _FIELDS:
            raise AttributeError(name)
        self.__dict__.update(vars(_parse_payloads(self.data, self.sections)))
        return self.__dict__[name]

    def parse(self):
        """Parse the payloads now if read_module(lazy=True) left them for later
        (DecodeError as read_module would have raised); the module itself."""
        self.code  # noqa: B018  (any field parses them all)
        return self

    # -- sizes ---------------------------------------------------------------
    @property
    def code_size(self):
        """Code section payload bytes, as `wasm-objdump -h` reports them."""
        return self.code_section.payload_size if self.code_section else 0

    def func_index(self, position):
        """Function index (imports first) of the defined function at `position`."""
        return self.num_imported_funcs + position

    def func_type(self, func_index):
        return self.types[self.func_types[func_index]]

    def shared_memory(self, mem_index=0):
        return bool(self.memories[mem_index][0] & 0x02) if mem_index < len(self.memories) else False

    def memory64(self):
        return any(m[0] & 0x04 for m in self.memories)

    def custom_sections(self, name=None):
        return [s for s in self.sections if s.id == 0 and (name is None or s.name == name)]

    def function_names(self):
        """{function index: name} from the `name` section; {} when absent or broken."""
        for sec in self.custom_sections("name"):
            return parse_function_names(self.data, sec)
        return {}

    # -- rewriting -----------------------------------------------------------
    def replace_body(self, position, body_bytes):
        """Replace the body (locals + instructions, no size prefix) of a defined function."""
        self._replaced[position] = bytes(body_bytes)

    def revert_body(self, position):
        """Undo replace_body: the function keeps its original bytes."""
        self._replaced.pop(position, None)

    def replaced_bodies(self):
        """{position: new body bytes} of every replaced function (a copy)."""
        return dict(self._replaced)

    def set_code_payload(self, payload):
        """Replace the whole code section payload (the number of bodies may
        change: the caller rewrites the function section and every index)."""
        self._code = bytes(payload)
        self._replaced = {}

    def set_payload(self, section, payload):
        """Replace the payload of a section other than code (for a custom
        section the payload includes its name)."""
        self._payloads[id(section)] = bytes(payload)

    def drop_section(self, section):
        self._dropped.add(id(section))

    @property
    def changed(self):
        return bool(self._replaced or self._dropped or self._payloads or self._code is not None)

    def to_bytes(self):
        if not self.changed:
            return self.data
        data = self.data
        out = [data[:8]]
        for sec in self.sections:
            if id(sec) in self._dropped:
                continue
            if sec is self.code_section and (self._replaced or self._code is not None):
                payload = self.code_payload()
            else:
                payload = self._payloads.get(id(sec))
            if payload is None:
                out.append(data[sec.start:sec.end])
            else:
                out.append(bytes((sec.id,)) + encode_u(len(payload)))
                out.append(payload)
        return b"".join(out)

    def code_payload(self):
        """The code section's payload as it will be written."""
        if self._code is not None:
            return self._code
        data = self.data
        parts = [encode_u(len(self.code))]
        for pos, entry in enumerate(self.code):
            new = self._replaced.get(pos)
            if new is None:
                parts.append(data[entry.start:entry.end])
            else:
                parts.append(encode_u(len(new)))
                parts.append(new)
        return b"".join(parts)


def _check_header(data):
    """Raise DecodeError unless `data` starts with a core module's magic and version."""
    n = len(data)
    if n == 0:
        raise DecodeError("empty file, not a WebAssembly module", 0)
    if data[:4] != MAGIC[:min(4, n)] or n < 4:
        if data[:4] == MAGIC[:n]:
            raise DecodeError("truncated WebAssembly header", n)
        raise DecodeError("not a WebAssembly module (bad magic number)", 0)
    if n < 8:
        raise DecodeError("truncated WebAssembly header", n)
    version = data[4:8]
    if version != CORE_VERSION:
        if version[2:4] == b"\x01\x00":
            raise DecodeError("a WebAssembly component, not a core module", 4)
        raise DecodeError(f"unsupported WebAssembly version {int.from_bytes(version, 'little')}", 4)


def read_module(data, lazy=False):
    """Parse `data` (bytes) as a core WebAssembly module, or raise DecodeError.
    `lazy`: check the framing now and parse the payloads on first use (only
    for bytes known to parse: Module.parse checks them where that is not known)."""
    data = bytes(data)
    _check_header(data)
    m = Module(data)
    if lazy:
        for _sec in _sections(data, m.sections):
            pass
    else:   # each section framed and parsed in turn: the first fault is the one named
        m.__dict__.update(vars(_parse_payloads(data, _sections(data, m.sections))))
    m.code_section = next((s for s in m.sections if s.id == 10), None)
    return m


def _sections(data, out):
    """Yield each section of `data` once its framing is checked (id, size,
    order, a custom section's name), appending it to `out`."""
    n = len(data)
    pos = 8
    last_rank = 0
    while pos < n:
        start = pos
        sid = data[pos]
        if sid not in SECTION_NAMES:
            raise DecodeError(f"unknown section id {sid}", pos)
        size, pos = read_u32(data, pos + 1)
        end = pos + size
        if end > n:
            raise DecodeError(f"{SECTION_NAMES[sid]} section size {size} runs past the end of the file", start)
        sec = Section(sid, start, pos, end)
        if sid == 0:
            name_len, p = read_u32(data, pos)
            if p + name_len > end:
                raise DecodeError("custom section name runs past the end of its section", p)
            try:
                sec.name = data[p:p + name_len].decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("custom section name is not valid UTF-8", p)
        else:
            rank = _ORDER[sid]
            if rank <= last_rank:
                raise DecodeError(f"{SECTION_NAMES[sid]} section out of order or repeated", start)
            last_rank = rank
        out.append(sec)
        yield sec
        pos = end


def _parse_payloads(data, sections):
    """The _Fields of `sections` (framed, in order), checked against each
    other, or DecodeError."""
    if decode_instrs is None:
        _load_decoder()
    m = _Fields()
    num_funcs_declared = None
    code_section = None
    for sec in sections:
        parser = _PARSERS.get(sec.id)
        if parser is not None:
            result = parser(m, data, sec.payload_start, sec.end)
            if sec.id == 3:
                num_funcs_declared = result
            if sec.id == 10:
                code_section = sec
    defined = len(m.func_types) - m.num_imported_funcs
    if code_section is None and defined:
        raise DecodeError(f"function section declares {defined} functions but there is no code section",
                          len(data))
    if code_section is not None and len(m.code) != (num_funcs_declared or 0):
        raise DecodeError(f"code section has {len(m.code)} bodies for {num_funcs_declared or 0} declared functions",
                          code_section.start)
    for ti in m.func_types:
        if ti >= len(m.types) or m.types[ti] is None:
            raise DecodeError(f"function uses type {ti}, which is not a function type", 0)
    return m


def _vec(data, pos, end, what):
    count, pos = read_u32(data, pos)
    if count > end - pos:  # every item takes at least one byte
        raise DecodeError(f"{what} count {count} runs past the end of its section", pos)
    return count, pos


def _done(data, pos, end, what):
    if pos != end:
        raise DecodeError(f"{what} section size does not match its contents", pos if pos < end else end)


def _limits(data, pos):
    flags = data[pos]
    if flags > 0x0F:
        raise DecodeError(f"invalid limits flags 0x{flags:02x}", pos)
    read = read_u64 if flags & 0x04 else read_u32
    lo, pos = read(data, pos + 1)
    hi = None
    if flags & 0x01:
        hi, pos = read(data, pos)
    if flags & 0x08:
        _page, pos = read_u32(data, pos)
    return (flags, lo, hi), pos


def _name(data, pos, end):
    length, pos = read_u32(data, pos)
    if pos + length > end:
        raise DecodeError("name runs past the end of its section", pos)
    try:
        return data[pos:pos + length].decode("utf-8"), pos + length
    except UnicodeDecodeError:
        raise DecodeError("name is not valid UTF-8", pos)


def _parse_type(m, data, pos, end):
    count, pos = _vec(data, pos, end, "type")
    for _ in range(count):
        pos = _comp_or_rec(m, data, pos, end)
    _done(data, pos, end, "type")


def _comp_or_rec(m, data, pos, end):
    form = data[pos]
    if form == 0x4E:  # rec group
        n, pos = _vec(data, pos + 1, end, "rec group")
        for _ in range(n):
            pos = _sub(m, data, pos, end)
        return pos
    return _sub(m, data, pos, end)


def _sub(m, data, pos, end):
    form = data[pos]
    if form in (0x50, 0x4F):
        n, pos = _vec(data, pos + 1, end, "supertype")
        for _ in range(n):
            _, pos = read_u32(data, pos)
        form = data[pos]
    pos += 1
    if form == 0x60:
        params, pos = _valtypes(data, pos, end)
        results, pos = _valtypes(data, pos, end)
        m.types.append((params, results))
    elif form == 0x5F:
        n, pos = _vec(data, pos, end, "struct field")
        for _ in range(n):
            pos = _fieldtype(data, pos)
        m.types.append(None)
    elif form == 0x5E:
        pos = _fieldtype(data, pos)
        m.types.append(None)
    else:
        raise DecodeError(f"invalid type form 0x{form:02x}", pos - 1)
    if pos > end:
        raise DecodeError("type runs past the end of its section", end)
    return pos


def _fieldtype(data, pos):
    if data[pos] in (0x78, 0x77):  # packed i8 / i16
        pos += 1
    else:
        _, pos = read_valtype(data, pos)
    if data[pos] > 1:
        raise DecodeError("invalid mutability flag", pos)
    return pos + 1


def _valtypes(data, pos, end):
    n, pos = _vec(data, pos, end, "value type")
    out = []
    for _ in range(n):
        vt, pos = read_valtype(data, pos)
        out.append(vt)
    return tuple(out), pos


def _global_type(data, pos):
    vt, pos = read_valtype(data, pos)
    mut = data[pos]
    if mut > 1:
        raise DecodeError("invalid global mutability flag", pos)
    return (vt, bool(mut)), pos + 1


def _parse_import(m, data, pos, end):
    count, pos = _vec(data, pos, end, "import")
    for _ in range(count):
        mod, pos = _name(data, pos, end)
        name, pos = _name(data, pos, end)
        kind = data[pos]
        pos += 1
        if kind == 0:
            desc, pos = read_u32(data, pos)
            m.func_types.append(desc)
            m.num_imported_funcs += 1
        elif kind == 1:
            reftype, pos = read_valtype(data, pos)
            lim, pos = _limits(data, pos)
            desc = (reftype, lim)
            m.tables.append(reftype)
        elif kind == 2:
            desc, pos = _limits(data, pos)
            m.memories.append(desc)
        elif kind == 3:
            desc, pos = _global_type(data, pos)
            m.globals.append(desc)
        elif kind == 4:
            if data[pos] != 0:
                raise DecodeError("invalid tag attribute", pos)
            desc, pos = read_u32(data, pos + 1)
            m.tags.append(desc)
        else:
            raise DecodeError(f"invalid import kind {kind}", pos - 1)
        m.imports.append((mod, name, _EXTERN_KINDS[kind], desc))
        if pos > end:
            raise DecodeError("import runs past the end of its section", end)
    _done(data, pos, end, "import")


def _parse_function(m, data, pos, end):
    count, pos = _vec(data, pos, end, "function")
    for _ in range(count):
        ti, pos = read_u32(data, pos)
        m.func_types.append(ti)
    _done(data, pos, end, "function")
    return count


def _parse_table(m, data, pos, end):
    count, pos = _vec(data, pos, end, "table")
    for _ in range(count):
        with_init = data[pos] == 0x40
        if with_init:
            if data[pos + 1] != 0:
                raise DecodeError("invalid table encoding", pos)
            pos += 2
        reftype, pos = read_valtype(data, pos)
        _, pos = _limits(data, pos)
        if with_init:
            _, pos = decode_instrs(data, pos, end)
        m.tables.append(reftype)
    _done(data, pos, end, "table")


def _parse_memory(m, data, pos, end):
    count, pos = _vec(data, pos, end, "memory")
    for _ in range(count):
        lim, pos = _limits(data, pos)
        m.memories.append(lim)
    _done(data, pos, end, "memory")


def _parse_global(m, data, pos, end):
    count, pos = _vec(data, pos, end, "global")
    for _ in range(count):
        gt, pos = _global_type(data, pos)
        _, pos = decode_instrs(data, pos, end)
        m.globals.append(gt)
    _done(data, pos, end, "global")


def _parse_export(m, data, pos, end):
    count, pos = _vec(data, pos, end, "export")
    for _ in range(count):
        name, pos = _name(data, pos, end)
        kind = data[pos]
        if kind not in _EXTERN_KINDS:
            raise DecodeError(f"invalid export kind {kind}", pos)
        idx, pos = read_u32(data, pos + 1)
        m.exports.append((name, _EXTERN_KINDS[kind], idx))
    _done(data, pos, end, "export")


def _parse_tag(m, data, pos, end):
    count, pos = _vec(data, pos, end, "tag")
    for _ in range(count):
        if data[pos] != 0:
            raise DecodeError("invalid tag attribute", pos)
        ti, pos = read_u32(data, pos + 1)
        m.tags.append(ti)
    _done(data, pos, end, "tag")


def _parse_code(m, data, pos, end):
    count, pos = _vec(data, pos, end, "code")
    code = m.code
    for _ in range(count):
        start = pos
        size, pos = read_u32(data, pos)
        body_end = pos + size
        if body_end > end:
            raise DecodeError(f"function body size {size} runs past the end of the code section", start)
        if size == 0:
            raise DecodeError("empty function body", start)
        code.append(CodeEntry(start, pos, body_end))
        pos = body_end
    _done(data, pos, end, "code")


def _guard(parser):
    def parse(m, data, pos, end):
        try:
            return parser(m, data, pos, end)
        except IndexError:
            raise DecodeError("unexpected end of data", min(end, len(data)))
    return parse


_PARSERS = {1: _guard(_parse_type), 2: _guard(_parse_import), 3: _guard(_parse_function),
            4: _guard(_parse_table), 5: _guard(_parse_memory), 6: _guard(_parse_global),
            7: _guard(_parse_export), 10: _guard(_parse_code), 13: _guard(_parse_tag)}


def parse_function_names(data, sec):
    """Function names from a `name` custom section. A broken name section is not an
    error (engines ignore it too): whatever parsed cleanly is returned."""
    names = {}
    try:
        _, pos = _name(data, sec.payload_start, sec.end)
        while pos < sec.end:
            sub_id = data[pos]
            size, pos = read_u32(data, pos + 1)
            sub_end = pos + size
            if sub_end > sec.end:
                break
            if sub_id == 1:
                count, p = read_u32(data, pos)
                for _ in range(count):
                    idx, p = read_u32(data, p)
                    name, p = _name(data, p, sub_end)
                    names[idx] = name
            pos = sub_end
    except (DecodeError, IndexError):
        pass
    return names
