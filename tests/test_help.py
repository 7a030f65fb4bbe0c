"""Help written for users, a sub-command's own usage on a bad option, and counted
words that agree with their number ("1 function changed")."""

import os

import pytest

from loom_post.words import counted, plural
from cli_util import run  # noqa: E402

wasmtime = pytest.importorskip("wasmtime")


def test_top_level_help_is_for_users(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "commands/" not in out and "sub-command per module" not in out
    assert out.startswith("usage: loom-post")
    assert "Shrink the .wasm files of a Rust WebAssembly build" in out
    for text in ("loom-post cargo build --release", "loom-post check", "exit status: 0",
                 "loom-post.toml"):
        assert text in out


@pytest.mark.parametrize("command,extra", [
    ("check", []), ("optimize", []), ("baseline", []), ("inspect", ["m.wasm"]),
    ("diff", ["a.wasm", "b.wasm"]), ("watch", []),
])
def test_an_unknown_option_shows_the_sub_commands_usage(capsys, command, extra):
    code, _, err = run(capsys, command, *extra, "--no-such-option")
    assert code == 2
    assert f"usage: loom-post {command} " in err
    assert "usage: loom-post [-h]" not in err
    assert err.rstrip().endswith("unrecognized arguments: --no-such-option")


def test_an_unknown_top_level_option_still_shows_the_top_level_usage(capsys):
    code, _, err = run(capsys, "--no-such-option", "check")
    assert code == 2 and "usage: loom-post [-h]" in err


@pytest.mark.parametrize("n,phrase,expected", [
    (1, "functions moved", "1 function moved"), (2, "functions moved", "2 functions moved"),
    (1, "rounds", "1 round"), (0, "rounds", "0 rounds"),
    (1, "other section bytes saved", "1 other section byte saved"),
    (1, "deduplicated", "1 deduplicated"), (1, "rejected by cost gate", "1 rejected by cost gate"),
])
def test_counted(n, phrase, expected):
    assert counted(n, phrase) == expected


def test_plural():
    assert plural(1, "function") == "1 function" and plural(3, "function") == "3 functions"
    assert plural(1, "entry", "entries") == "1 entry" and plural(0, "entry", "entries") == \
        "0 entries"


def test_one_function_changed_in_the_report(tmp_path, capsys):
    """A real module with one padded function: the optimizer changes exactly one."""
    from padding import pad_module
    wasm = wasmtime.wat2wasm('(module (func (export "f") (result i32) i32.const 1000))')
    path = tmp_path / "m.wasm"
    path.write_bytes(pad_module(wasm))
    code, out, _ = run(capsys, "optimize", str(path))
    assert code == 0, out
    assert "; 1 function changed;" in out
    assert "1 functions" not in out
    code, out, _ = run(capsys, "inspect", str(path))
    assert "1 function (0 imported)" in out


def test_one_byte_of_growth_is_one_byte(tmp_path, monkeypatch, capsys):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loom-post.toml").write_text(
        'paths = ["m.wasm"]\nbaseline = "b.json"\nmax-growth-vs-baseline = "0 B"\n')
    (tmp_path / "m.wasm").write_bytes(wasmtime.wat2wasm("(module (func nop))"))
    assert run(capsys, "baseline", "--no-brotli")[0] == 0
    (tmp_path / "m.wasm").write_bytes(wasmtime.wat2wasm("(module (func nop nop))"))
    code, out, _ = run(capsys, "check", "--no-brotli")
    assert code == 1
    assert "grew by 1 byte (" in out and "1 bytes" not in out
