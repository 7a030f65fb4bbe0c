"""Malformed and unreadable inputs: exit 3, exactly one `loom-post: error:` line
naming the path and the byte offset, no traceback, and the file left untouched
(optimize must never write when its input is bad). Plus a property test that
mutates real modules (WAT-built and Rust-built) and runs both commands on them."""

import contextlib
import io
import os
import random
import re
import tempfile

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loom_post import cli
from loom_post.wasm.module import read_module
from loom_post.errors import DecodeError

import wat_util as W

HEADER = b"\0asm\x01\x00\x00\x00"
COMMANDS = ("inspect", "optimize")


def _valid():
    return W.wat("""(module
      (import "env" "f" (func $f (param i32) (result i32)))
      (memory 1)
      (func $a (export "a") (param i32) (result i32)
        local.get 0 call $f i32.const 5 i32.add)
      (func $b (param i32) local.get 0 i32.const 9 i32.store offset=4)
      (data (i32.const 8) "abc"))""")


def _code_body_past_section():
    data = bytearray(_valid())
    module = read_module(bytes(data))
    entry = module.code[0]
    assert entry.body_start - entry.start == 1      # one-byte size prefix
    data[entry.start] = 0x7F                         # 127 > what is left in the section
    return bytes(data), entry.start


def _section_past_end():
    data = _valid()
    return data[:-3], None


def _overlong_body_size():
    """A function body size encoded in 6 bytes (u32 allows at most 5)."""
    return HEADER + b"\x0a\x07\x01\x80\x80\x80\x80\x80\x00", 11


def _malformed():
    rng = random.Random(20240611)
    noise = bytes(rng.randrange(256) for _ in range(300))
    assert not noise.startswith(b"\0asm")
    body_past, body_off = _code_body_past_section()
    sec_past, _ = _section_past_end()
    long_body, long_off = _overlong_body_size()
    return [
        # label, bytes, expected byte offset (None: just some offset), message fragment
        ("empty file", b"", 0, "empty"),
        ("truncated header (3 bytes)", b"\0as", 3, "truncated"),
        ("truncated header (6 bytes)", HEADER[:6], 6, "truncated"),
        ("wrong magic", b"\0ASM" + HEADER[4:], 0, "magic"),
        ("ELF file", b"\x7fELF\x02\x01\x01" + bytes(40), 0, "magic"),
        ("wrong version", b"\0asm\x02\x00\x00\x00", 4, "version"),
        # components are read (wasm/component.py); these are not well-formed ones
        ("component, wrong layer", b"\0asm\x0d\x00\x02\x00" + bytes(10), 6, "layer"),
        ("component, cut-short custom section", b"\0asm\x0d\x00\x01\x00" + bytes(10), 11,
         "custom section"),
        ("random bytes", noise, 0, "magic"),
        ("section size runs past the end", HEADER + b"\x01\x10\x01\x60\x00", 8, "past the end"),
        ("last section cut short", sec_past, None, ""),
        ("body size runs past its section", body_past, body_off, "past the end"),
        ("6-byte LEB128 section size", HEADER + b"\x01\x80\x80\x80\x80\x80\x00", 9, "LEB128"),
        ("5-byte LEB128 with bits beyond u32", HEADER + b"\x01\x80\x80\x80\x80\x70", 9, "LEB128"),
        ("6-byte LEB128 body size", long_body, long_off, "LEB128"),
        ("unknown section id", HEADER + b"\x0e\x00", 8, "section id"),
        ("sections out of order", HEADER + b"\x03\x01\x00\x01\x01\x00", 11, "order"),
        ("code without function section", HEADER + b"\x0a\x04\x01\x02\x00\x0b", None, ""),
        ("function count without code", HEADER + b"\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00",
         None, "no code section"),
    ]


MALFORMED = _malformed()
ERROR_LINE = re.compile(r"^loom-post: error: (.+): (.+) at byte (\d+)$")


def _run(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _listing(directory):
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("label,data,offset,fragment", MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_input(command, label, data, offset, fragment, tmp_path, capsys):
    with pytest.raises(DecodeError):
        read_module(data)
    path = tmp_path / "bad.wasm"
    path.write_bytes(data)
    before = _listing(tmp_path)
    stat = os.stat(path)
    rc, out, err = _run([command, str(path)], capsys)
    assert rc == 3, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    m = ERROR_LINE.match(lines[0])
    assert m, lines[0]
    assert m.group(1) == str(path)
    if offset is not None:
        assert int(m.group(3)) == offset, lines[0]
    assert int(m.group(3)) <= len(data)
    assert fragment in m.group(2)
    assert "Traceback" not in out + err
    assert path.read_bytes() == data
    assert os.stat(path).st_ino == stat.st_ino and os.stat(path).st_mtime_ns == stat.st_mtime_ns
    assert _listing(tmp_path) == before       # no temp file left behind


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_file(command, tmp_path, capsys):
    path = tmp_path / "nope.wasm"
    rc, out, err = _run([command, str(path)], capsys)
    assert rc == 3
    assert err.splitlines() == [f"loom-post: error: {path}: no such file"]
    assert not path.exists()
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_directory(command, tmp_path, capsys):
    d = tmp_path / "dir.wasm"
    d.mkdir()
    rc, out, err = _run([command, str(d)], capsys)
    assert rc == 3
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"loom-post: error: {d}: ")
    assert "directory" in lines[0]
    assert _listing(d) == [] and _listing(tmp_path) == ["dir.wasm"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_unreadable_file(command, tmp_path, capsys):
    path = tmp_path / "secret.wasm"
    path.write_bytes(_valid())
    path.chmod(0)
    try:
        rc, out, err = _run([command, str(path)], capsys)
    finally:
        path.chmod(0o644)
    assert rc == 3
    assert len(err.splitlines()) == 1 and str(path) in err
    assert path.read_bytes() == _valid()


def test_one_bad_among_good_inputs(tmp_path, capsys):
    """inspect reports the good modules, one error line for the bad one, exit 3."""
    good = tmp_path / "good.wasm"
    good.write_bytes(_valid())
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x02\x00\x00\x00")
    rc, out, err = _run(["inspect", str(good), str(bad)], capsys)
    assert rc == 3
    assert str(good) in out
    assert err.splitlines() == [f"loom-post: error: {bad}: unsupported WebAssembly version 2 "
                                "at byte 4"]


# --- mutations of real modules ------------------------------------------------

def _bases():
    bases = [_valid()]
    for case in W.all_cases():
        if case.id in ("br_table", "try_table", "i8x16.shuffle", "memory.init",
                       "block (type $bt) multi-value", "i32.atomic.rmw.cmpxchg",
                       "i32.load on memory 1", "call_indirect"):
            bases.append(W.assemble(case))
    return bases


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    out = _bases()
    try:
        out.append(W.build_rust_small(tmp_path_factory).read_bytes())
    except pytest.skip.Exception:
        pass
    return out


def _mutate(data, ops):
    data = bytearray(data)
    for kind, a, b, c in ops:
        if not data:
            break
        i = a % len(data)
        if kind == "truncate":
            del data[i:]
        elif kind == "flip":
            data[i] ^= (b % 255) + 1
        elif kind == "set":
            data[i] = b % 256
        elif kind == "splice":
            j = min(len(data), i + b % 16)
            data[i:j] = c
        elif kind == "dup":
            j = min(len(data), i + b % 32)
            data[j:j] = data[i:j]
    return bytes(data)


_op = st.tuples(st.sampled_from(["truncate", "flip", "set", "splice", "dup", "flip", "set"]),
                st.integers(0, 1 << 20), st.integers(0, 255), st.binary(max_size=8))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, 1000), ops=st.lists(_op, min_size=1, max_size=3))
def test_mutated_modules_never_crash(bases, which, ops):
    original = bases[which % len(bases)]
    data = _mutate(original, ops)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.wasm")
        with open(path, "wb") as f:
            f.write(data)
        try:
            before_code = read_module(data).code_size
        except Exception:
            before_code = None
        for command in COMMANDS:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    rc = cli.main([command, path])
                except BaseException as e:   # noqa: B036 - nothing may escape main
                    pytest.fail(f"{command} raised {type(e).__name__}: {e}")
            text = err.getvalue()
            assert "Traceback" not in text
            assert rc in (0, 1, 3), (command, rc, text)
            event(f"{command} exit {rc}")
            with open(path, "rb") as f:
                now = f.read()
            if rc == 3:
                assert now == data, command
                lines = text.splitlines()
                assert len(lines) == 1 and lines[0].startswith(f"loom-post: error: {path}: ")
                assert before_code is None or command == "optimize"
            else:
                assert before_code is not None, f"{command} accepted an unreadable module"
                after = read_module(now)
                assert after.code_size <= before_code
                data = now
            assert os.listdir(d) == ["m.wasm"]


def test_a_catch_label_out_of_range_is_not_a_crash(tmp_path, capsys):
    """30 bytes: one function `try_table (catch_all 5) end`. The label names no
    enclosing block; typing must refuse the body instead of the pass indexing
    past its scope stack (it used to end in an IndexError traceback)."""
    body = bytes([0x00, 0x1F, 0x40, 0x01, 0x02, 0x05, 0x0B, 0x0B])
    code = bytes([1, len(body)]) + body
    data = (b"\0asm\x01\0\0\0" + bytes([1, 4, 1, 0x60, 0, 0]) + bytes([3, 2, 1, 0])
            + bytes([10, len(code)]) + code)
    assert len(data) == 30
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    rc = cli.main(["optimize", str(path)])
    err = capsys.readouterr().err
    assert rc in (0, 3) and "internal error" not in err and "Traceback" not in err
    assert path.read_bytes() == data


def _code_only(code_payload):
    """type ()->(), one function, and a code section with `code_payload`."""
    from loom_post.wasm.leb128 import encode_u

    def section(sid, payload):
        return bytes([sid]) + encode_u(len(payload)) + payload
    return (b"\0asm\1\0\0\0" + section(1, bytes([1, 0x60, 0, 0]))
            + section(3, bytes([1, 0])) + section(10, code_payload))


def test_a_body_running_past_its_code_section_is_named():
    from loom_post.wasm.errors import DecodeError
    from loom_post.wasm.module import read_module
    good = _code_only(bytes([1, 2, 0, 0x0B]))
    assert read_module(good).code[0].body_size == 2
    bad = _code_only(bytes([1, 9, 0, 0x0B]))     # says 9 bytes, the section holds 2
    with pytest.raises(DecodeError, match="function body size 9 runs past the end of the code section"):
        read_module(bad)


def test_an_immediate_running_past_its_body_is_named():
    from loom_post.wasm.errors import DecodeError
    from loom_post.wasm.instructions import decode_body
    # locals: none; i32.const whose LEB128 continues past the body's end (3)
    # into bytes that belong to whatever follows.
    data = bytes([0x00, 0x41, 0x80, 0x80, 0x01, 0x0B])
    assert [op.name for op, *_ in decode_body(data, 0, 6).instrs] == ["i32.const", "end"]
    with pytest.raises(DecodeError, match="i32.const runs past the end of its code"):
        decode_body(data, 0, 3)
