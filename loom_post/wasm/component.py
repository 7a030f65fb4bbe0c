"""The WebAssembly component binary format, read far enough to find the core
modules inside a component and to write the component back with new ones.

A component (the component model's layer 1) starts with the magic, version
0x0d and layer 1, then a list of sections shaped like a core module's: id byte,
LEB128 size, payload. Two of them hold whole binaries: a core module section
(id 1) holds one complete core module, a component section (id 4) one complete
nested component, which is read the same way. Every other section (core
instances, types, aliases, canonical functions, imports, exports, start, custom
sections) is located and kept as its bytes; only the `component-name` custom
section and the alias and import sections are looked into, and only to name
core modules.

`read_component(data)` -> Component, or DecodeError with the offset.
`Component.to_bytes(replacements)` rewrites the core modules named by their
depth-first ordinal; sections and size prefixes not on the way to a replaced
module are copied byte for byte, so no replacement gives back the input.
"""

from loom_post.wasm import module as core
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.leb128 import encode_u, read_u32

MAGIC = b"\0asm"
COMPONENT_VERSION = b"\x0d\x00"
COMPONENT_LAYER = b"\x01\x00"

SECTION_NAMES = {0: "custom", 1: "core module", 2: "core instance", 3: "core type",
                 4: "component", 5: "instance", 6: "alias", 7: "type", 8: "canon",
                 9: "start", 10: "import", 11: "export", 12: "value"}
CORE_MODULE, NESTED_COMPONENT, ALIAS, IMPORT = 1, 4, 6, 10
_CORE_SORT, _CORE_MODULE_SORT = 0x00, 0x11


def is_component(data):
    """Whether `data` starts like a component (magic, version 0x0d; any layer)."""
    return len(data) >= 6 and data[:4] == MAGIC and data[4:6] == COMPONENT_VERSION


class Section(core.Section):
    """A component section: the core module's framing, the component's ids."""

    __slots__ = ()

    @property
    def kind(self):
        return SECTION_NAMES.get(self.id, f"section {self.id}")


class CoreModule:
    """One core module section: where its bytes are and what it is called."""

    def __init__(self, ordinal, section, data, name=None):
        self.ordinal = ordinal              # depth-first position among all core modules
        self.section = section              # its Section in the enclosing component
        self.data = data                    # the complete core module
        self.name = name                    # from component-name, else None


class Component:
    def __init__(self, data, offset=0):
        self.data = data                    # this component's bytes
        self.offset = offset                # where they start in the outermost file
        self.sections = []
        self.items = []                     # CoreModule and Component, in file order
        self.name = None                    # from component-name, else None

    def core_modules(self):
        """Every core module, nested ones included, in depth-first file order."""
        out = []
        for item in self.items:
            out.extend(item.core_modules() if isinstance(item, Component) else [item])
        return out

    def components(self):
        return [i for i in self.items if isinstance(i, Component)]

    def to_bytes(self, replacements=None):
        """The component with core module `ordinal` replaced by
        `replacements[ordinal]` (complete core module bytes)."""
        replacements = replacements or {}
        if not any(m.ordinal in replacements for m in self.core_modules()):
            return self.data
        by_section = {id(i.section): i for i in self.items}
        parts = [self.data[:8]]
        for sec in self.sections:
            item = by_section.get(id(sec))
            if isinstance(item, Component):
                changed = any(m.ordinal in replacements for m in item.core_modules())
            else:
                changed = item is not None and item.ordinal in replacements
            if not changed:
                parts.append(self.data[sec.start:sec.end])
                continue
            payload = (item.to_bytes(replacements) if isinstance(item, Component)
                       else bytes(replacements[item.ordinal]))
            parts.append(bytes([sec.id]) + encode_u(len(payload)) + payload)
        return b"".join(parts)


def _check_preamble(data):
    n = len(data)
    if n < 8:
        raise DecodeError("truncated WebAssembly component header", n)
    if data[:4] != MAGIC:
        raise DecodeError("not a WebAssembly component (bad magic number)", 0)
    if data[4:6] != COMPONENT_VERSION:
        raise DecodeError(f"not a WebAssembly component (version "
                          f"{int.from_bytes(data[4:6], 'little')}, expected 13)", 4)
    if data[6:8] != COMPONENT_LAYER:
        raise DecodeError(f"unsupported WebAssembly layer {int.from_bytes(data[6:8], 'little')} "
                          f"(a component is layer 1)", 6)


def _read_sections(data, base):
    """[Section] of the component `data`; offsets in errors are file offsets."""
    sections, pos, n = [], 8, len(data)
    while pos < n:
        start, sid = pos, data[pos]
        if sid not in SECTION_NAMES:
            raise DecodeError(f"unknown component section id {sid}", base + pos)
        try:
            size, pos = read_u32(data, pos + 1)
        except DecodeError as e:
            raise DecodeError(f"{SECTION_NAMES[sid]} section size: {e.message}", base + start)
        if pos + size > n:
            raise DecodeError(f"{SECTION_NAMES[sid]} section size {size} runs past the end "
                              f"of the component", base + start)
        sec = Section(sid, start, pos, pos + size)
        if sid == 0:
            sec.name = _custom_name(data, pos, pos + size, base)
        sections.append(sec)
        pos += size
    return sections


def _custom_name(data, pos, end, base):
    try:
        length, p = read_u32(data, pos)
    except DecodeError:
        raise DecodeError("custom section name runs past the end of its section", base + pos)
    if p + length > end:
        raise DecodeError("custom section name runs past the end of its section", base + p)
    try:
        return data[p:p + length].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("custom section name is not valid UTF-8", base + p)


def read_component(data, _base=0, _ordinal=None):
    """Parse `data` as a component, nested components included, or raise DecodeError."""
    data = bytes(data)
    _check_preamble(data)
    comp = Component(data, _base)
    comp.sections = _read_sections(data, _base)
    ordinal = _ordinal if _ordinal is not None else [0]
    for sec in comp.sections:
        payload = data[sec.payload_start:sec.end]
        if sec.id == CORE_MODULE:
            _check_core_header(payload, _base + sec.payload_start)
            comp.items.append(CoreModule(ordinal[0], sec, payload))
            ordinal[0] += 1
        elif sec.id == NESTED_COMPONENT:
            inner = read_component(payload, _base + sec.payload_start, ordinal)
            inner.section = sec
            comp.items.append(inner)
    _apply_names(comp)
    return comp


def _check_core_header(payload, offset):
    """A core module section must hold a core module (its own reader checks the rest)."""
    if len(payload) < 8 or payload[:4] != MAGIC or payload[4:8] != b"\x01\x00\x00\x00":
        raise DecodeError("core module section does not hold a core WebAssembly module", offset)


# -- names -----------------------------------------------------------------
# The component-name section names items by their index in each index space.
# The core module index space counts core module sections, core module aliases
# and core module imports in file order, so those are walked to map an index to
# a section. Names are a convenience: anything unexpected gives no names.

def _apply_names(comp):
    try:
        names, comp_name = _component_names(comp)
        if not names:
            comp.name = comp_name
            return
        space = _core_module_space(comp)
    except (DecodeError, IndexError, UnicodeDecodeError):
        return
    comp.name = comp_name
    for index, item in enumerate(space):
        if item is not None and index in names:
            item.name = names[index]


def _component_names(comp):
    """({core module index: name}, component name or None) from component-name."""
    data = comp.data
    for sec in comp.sections:
        if sec.id == 0 and sec.name == "component-name":
            length, pos = read_u32(data, sec.payload_start)
            pos += length
            return _name_subsections(data, pos, sec.end)
    return {}, None


def _name_subsections(data, pos, end):
    names, comp_name = {}, None
    while pos < end:
        kind = data[pos]
        size, pos = read_u32(data, pos + 1)
        sub_end = pos + size
        if sub_end > end:
            raise DecodeError("name subsection runs past its section", pos)
        if kind == 0:
            length, p = read_u32(data, pos)
            comp_name = data[p:p + length].decode("utf-8")
        elif kind == 1 and data[pos] == _CORE_SORT and data[pos + 1] == _CORE_MODULE_SORT:
            count, p = read_u32(data, pos + 2)
            for _ in range(count):
                index, p = read_u32(data, p)
                length, p = read_u32(data, p)
                names[index] = data[p:p + length].decode("utf-8")
                p += length
        pos = sub_end
    return names, comp_name


def _core_module_space(comp):
    """[CoreModule or None (an alias or import)] in core module index order."""
    by_section = {id(i.section): i for i in comp.items if isinstance(i, CoreModule)}
    space = []
    for sec in comp.sections:
        if sec.id == CORE_MODULE:
            space.append(by_section[id(sec)])
        elif sec.id == ALIAS:
            space.extend([None] * _count_core_module_aliases(comp.data, sec))
        elif sec.id == IMPORT:
            space.extend([None] * _count_core_module_imports(comp.data, sec))
    return space


def _count_core_module_aliases(data, sec):
    count, pos = read_u32(data, sec.payload_start)
    found = 0
    for _ in range(count):
        sort = data[pos]
        is_module = sort == _CORE_SORT and data[pos + 1] == _CORE_MODULE_SORT
        pos += 2 if sort == _CORE_SORT else 1
        target = data[pos]
        if target in (0x00, 0x01):        # (core) instance export: index, name
            _, pos = read_u32(data, pos + 1)
            length, pos = read_u32(data, pos)
            pos += length
        elif target == 0x02:              # outer: count, index
            _, pos = read_u32(data, pos + 1)
            _, pos = read_u32(data, pos)
        else:
            raise DecodeError(f"unknown alias target {target}", pos)
        found += is_module
    return found


def _count_core_module_imports(data, sec):
    count, pos = read_u32(data, sec.payload_start)
    found = 0
    for _ in range(count):
        if data[pos] != 0x00:             # a versioned or unknown import name form
            raise DecodeError("import name form not mapped to names", pos)
        length, pos = read_u32(data, pos + 1)
        pos += length
        kind = data[pos]
        if kind == 0x00 and data[pos + 1] == _CORE_MODULE_SORT:
            _, pos = read_u32(data, pos + 2)
            found += 1
        elif kind in (0x01, 0x04, 0x05):  # func, component, instance: a type index
            _, pos = read_u32(data, pos + 1)
        elif kind == 0x03 and data[pos + 1] == 0x00:   # type (eq i)
            _, pos = read_u32(data, pos + 2)
        elif kind == 0x03 and data[pos + 1] == 0x01:   # type (sub resource)
            pos += 2
        else:
            raise DecodeError(f"import kind {kind} not mapped to names", pos)
    return found
