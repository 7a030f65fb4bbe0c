"""wasm/component.py on real components (tests/components.py builds them):
byte-exact round trips, every section where `wasm-tools objdump` puts it,
rewritten modules written back validly, and malformed components refused with
a DecodeError naming the offset."""

import os

import pytest

from components import calc, calc_core, component, nested, wasi  # noqa: F401  (fixtures)
from components import objdump_sections, run, wasm_tools
from loom_post.wasm.component import is_component, read_component
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.leb128 import encode_u
from loom_post.wasm.module import read_module

pytestmark = pytest.mark.cargo


def _flat(comp, depth=0):
    """[(depth, section id, payload start, end, name)] depth first, file offsets."""
    out = []
    for sec in comp.sections:
        out.append((depth, sec.id, comp.offset + sec.payload_start, comp.offset + sec.end,
                    sec.name))
        if sec.id == 4:
            inner = next(c for c in comp.components() if c.section is sec)
            out.extend(_flat(inner, depth + 1))
    return out


def test_round_trip_is_byte_exact(component):
    _, data = component
    comp = read_component(data)
    assert comp.to_bytes() == data
    # every module "replaced" by its own bytes: still the input, byte for byte
    assert comp.to_bytes({m.ordinal: m.data for m in comp.core_modules()}) == data


def test_sections_where_wasm_tools_objdump_puts_them(component, tmp_path):
    name, data = component
    tool = wasm_tools()
    path = tmp_path / "c.wasm"
    path.write_bytes(data)
    theirs = objdump_sections(tool, path)
    ours = _flat(read_component(data))
    assert len(ours) == len(theirs), (ours, theirs)
    for (depth, sid, start, end, cname), (tdepth, label, tstart, tend) in zip(ours, theirs):
        assert depth == tdepth, (sid, label)
        if sid == 0:   # objdump's start is after the custom section's name
            name_bytes = cname.encode()
            assert tstart == start + len(encode_u(len(name_bytes))) + len(name_bytes)
            assert f'"{cname}"' in label
        else:
            assert tstart == start, (sid, label)
        assert tend == end, (sid, label)
        assert (sid == 1) == (label == "module") and (sid == 4) == (label == "component")
    modules = read_component(data).core_modules()
    assert len(modules) == sum(1 for t in theirs if t[1] == "module")
    for m in modules:     # each one a core module our own reader accepts
        assert read_module(m.data).data == m.data


def test_names_from_component_name(calc, nested, wasi):
    assert [m.name for m in read_component(calc).core_modules()] == ["main"]
    comp = read_component(nested)
    assert [m.name for m in comp.core_modules()] == ["main", "helper"]
    assert comp.components()[0].name == "inner"
    assert [m.name for m in read_component(wasi).core_modules()] == [
        "main", "wit-component:adapter:wasi_snapshot_preview1", "wit-component-shim-module",
        "wit-component-fixup"]


def test_replaced_modules_are_written_back_validly(nested, tmp_path):
    """Replace both modules (the nested one too) by wasm-tools' re-encoding of
    them: sizes re-encoded up the tree, the rest byte for byte, valid."""
    tool = wasm_tools()
    comp = read_component(nested)
    new = {}
    for m in comp.core_modules():
        src, dst = tmp_path / f"{m.ordinal}.wasm", tmp_path / f"{m.ordinal}.out.wasm"
        src.write_bytes(m.data)
        run([tool, "print", str(src), "-o", str(tmp_path / "m.wat")])
        run([tool, "parse", str(tmp_path / "m.wat"), "-o", str(dst)])
        new[m.ordinal] = dst.read_bytes()
        assert new[m.ordinal] != m.data
    out = comp.to_bytes(new)
    path = tmp_path / "out.wasm"
    path.write_bytes(out)
    run([tool, "validate", str(path)])
    again = read_component(out)
    assert [m.data for m in again.core_modules()] == [new[0], new[1]]
    kept = [(s.id, comp.data[s.start:s.end]) for s in comp.sections if s.id not in (1, 4)]
    assert [(s.id, out[s.start:s.end]) for s in again.sections if s.id not in (1, 4)] == kept
    inner, inner_again = comp.components()[0], again.components()[0]
    assert [inner.data[s.start:s.end] for s in inner.sections if s.id != 1] == \
        [inner_again.data[s.start:s.end] for s in inner_again.sections if s.id != 1]
    assert read_component(comp.to_bytes({1: new[1]})).core_modules()[0].data == \
        comp.core_modules()[0].data


# -- malformed components --------------------------------------------------

def _malformed(calc, nested):
    comp = read_component(nested)
    inner_sec = comp.sections[0]
    assert inner_sec.id == 4
    first = read_component(calc).sections[0]
    return [
        ("wrong layer", calc[:6] + b"\x02\x00" + calc[8:], 6, "layer"),
        ("wrong version", calc[:4] + b"\x0e\x00" + calc[6:], 4, "version"),
        ("truncated preamble", calc[:7], 7, "truncated"),
        ("cut in the middle", calc[:len(calc) // 2], None, ""),
        ("cut one byte short", calc[:-1], None, "past the end"),
        ("section size past the end",
         calc[:first.start + 1] + encode_u(len(calc)) + calc[first.payload_start:],
         first.start, "past the end"),
        ("unknown section id", calc + b"\x0f\x00", len(calc), "section id"),
        ("section size LEB128 too long", calc + b"\x02\x80\x80\x80\x80\x80\x00", len(calc),
         "LEB128"),
        ("core module section holding junk",
         calc[:8] + b"\x01\x08" + b"\0asm\x02\x00\x00\x00", 10, "core module"),
        ("nested component cut short",
         nested[:inner_sec.start + 1] + encode_u(inner_sec.payload_size - 3)
         + nested[inner_sec.payload_start:inner_sec.end - 3] + nested[inner_sec.end:],
         None, "past the end"),
    ]


def test_malformed_components_raise_decode_error(calc, nested):
    for label, data, offset, fragment in _malformed(calc, nested):
        with pytest.raises(DecodeError) as info:
            read_component(data)
        e = info.value
        assert fragment in e.message, (label, e.message)
        if offset is not None:
            assert e.offset == offset, (label, e)
        assert 0 <= e.offset <= len(data), label


def test_every_prefix_is_refused_cleanly(calc):
    """Each truncation raises DecodeError (never another exception), except at
    a section boundary, where what is left is a well-formed (shorter) component."""
    boundaries = {8} | {s.end for s in read_component(calc).sections}
    for n in range(len(calc)):
        if n in boundaries:
            assert read_component(calc[:n]).to_bytes() == calc[:n]
            continue
        with pytest.raises(DecodeError):
            read_component(calc[:n])


def test_is_component(calc, calc_core):
    assert is_component(calc)
    assert not is_component(calc_core)
    assert not is_component(calc[:5])
