"""Reading a module no more than a run needs (docs/speed.md, "Fifth round"):
read_module(lazy=True) checks the framing at once and parses the payloads on
first use, a cache hit parses no payload, and a lazily read input is parsed
on a miss before any pass (exit 3 as before)."""

import os
import shutil

import pytest

from cli_util import run
from loom_post.errors import DecodeError
from loom_post.wasm import module as module_mod
from loom_post.wasm.module import read_module

wasmtime = pytest.importorskip("wasmtime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")
HEADER = b"\0asm\x01\x00\x00\x00"
# framed well, but the function section declares one function and the code
# section holds none: only parsing the payloads finds it
BAD_PAYLOAD = HEADER + b"\x01\x04\x01\x60\x00\x00" + b"\x03\x02\x01\x00" + b"\x0a\x01\x00"


@pytest.fixture
def parses(monkeypatch):
    """The bytes of every payload parse (module._parse_payloads), in order."""
    seen, real = [], module_mod._parse_payloads

    def counting(data, sections):
        seen.append(data)
        return real(data, sections)
    monkeypatch.setattr(module_mod, "_parse_payloads", counting)
    return seen


def test_a_lazy_read_checks_the_framing_now_and_the_payloads_on_first_use(parses):
    with pytest.raises(DecodeError, match="past the end"):
        read_module(HEADER + b"\x01\x10\x01\x60\x00", lazy=True)
    m = read_module(BAD_PAYLOAD, lazy=True)
    assert parses == [] and m.code_size == 1 and [s.id for s in m.sections] == [1, 3, 10]
    for _ in range(2):   # a failed parse leaves it unparsed: the next use fails again
        with pytest.raises(DecodeError, match="0 bodies for 1 declared"):
            m.code
    with pytest.raises(DecodeError, match="0 bodies for 1 declared"):
        read_module(BAD_PAYLOAD)


def test_a_lazy_read_parses_what_an_eager_one_does(parses):
    data = open(KERNEL, "rb").read()
    lazy, eager = read_module(data, lazy=True), read_module(data)
    assert len(parses) == 1
    assert lazy.parse() is lazy and len(parses) == 2
    for name in module_mod._FIELDS - {"code"}:
        assert getattr(lazy, name) == getattr(eager, name), name
    assert [(e.start, e.end) for e in lazy.code] == [(e.start, e.end) for e in eager.code]
    lazy.exports, lazy.code   # noqa: B018  parsed once
    assert len(parses) == 2


def test_a_hit_parses_no_payload(tmp_path, capsys, parses):
    shutil.copy(KERNEL, tmp_path / "k.wasm")
    argv = ("optimize", "--never-grow", "code", str(tmp_path / "k.wasm"), "-o")
    assert run(capsys, *argv, str(tmp_path / "o.wasm"))[0] == 0
    assert run(capsys, *argv[:-2], str(tmp_path / "o.wasm"), "-o",
               str(tmp_path / "o2.wasm"))[0] == 0   # records the output's own entry
    parses.clear()
    assert run(capsys, *argv, str(tmp_path / "same.wasm"))[0] == 0     # warm-same
    assert run(capsys, *argv[:-2], str(tmp_path / "o.wasm"), "-o",
               str(tmp_path / "opt.wasm"))[0] == 0                      # warm-opt
    assert parses == []
    assert (tmp_path / "same.wasm").read_bytes() == (tmp_path / "o.wasm").read_bytes()


@pytest.mark.parametrize("cache", [[], ["--no-cache"]])
def test_an_input_whose_payloads_do_not_parse_is_exit_3_and_untouched(tmp_path, capsys, cache):
    """Read lazily when a cache could answer, and parsed on the miss before
    any pass: the same one error line as an eager read, twice (nothing was
    recorded), and the file as it was."""
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(BAD_PAYLOAD)
    for _ in range(2):
        code, _out, err = run(capsys, "optimize", *cache, str(bad))
        assert code == 3 and bad.read_bytes() == BAD_PAYLOAD
        assert err == (f"loom-post: error: {bad}: code section has 0 bodies for 1 "
                       f"declared functions at byte 18\n"), err
