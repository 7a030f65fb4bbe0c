"""`loom-post diff OLD NEW`: per-function differences, by name or by index, largest
first, added/removed functions and the code section totals."""

import json
import re

import pytest

from loom_post.cli import main
from loom_post.sizes import brotli_size, gzip_size

wasmtime = pytest.importorskip("wasmtime")

from wat_util import write_nop_module as write  # noqa: E402


def diff(capsys, *argv):
    code = main(["diff", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_text_diff_by_name(tmp_path, capsys):
    old = write(tmp_path / "old.wasm", {"keep": 5, "grow": 10, "shrink": 30, "gone": 8})
    new = write(tmp_path / "new.wasm", {"keep": 5, "grow": 25, "shrink": 28, "added": 3})
    code, out, _ = diff(capsys, tmp_path / "old.wasm", tmp_path / "new.wasm")
    assert code == 0
    lines = out.splitlines()
    delta = new - old
    assert lines[0] == (f"code section: {old} -> {new} bytes (+{delta}, "
                        f"{100.0 * delta / old:+.2f}%)")
    assert lines[1] == "functions: 4 -> 4 (1 added, 1 removed, 2 changed, 1 unchanged)"
    assert [l.split(":")[0] for l in lines[2:5]] == ["file", "gzip", "brotli"]
    rows = [l.split() for l in lines[6:]]
    assert [r[3] for r in rows] == ["grow", "gone", "added", "shrink"]   # largest first
    assert rows[0][:3] == ["+15", "12", "27"]
    assert rows[1][:3] == ["-10", "10", "-"] and rows[1][4] == "(removed)"
    assert rows[2][:3] == ["+5", "-", "5"] and rows[2][4] == "(added)"
    assert rows[3][:3] == ["-2", "32", "30"]
    assert "keep" not in out


def test_json_diff_and_index_keys_without_names(tmp_path, capsys):
    write(tmp_path / "old.wasm", {"a": 5, "b": 5}, named=False)
    write(tmp_path / "new.wasm", {"a": 5, "b": 9, "c": 1}, named=False)
    code, out, _ = diff(capsys, tmp_path / "old.wasm", tmp_path / "new.wasm", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1
    assert doc["delta_bytes"] == doc["code_bytes_after"] - doc["code_bytes_before"]
    assert [(f["name"], f["old"], f["new"], f["delta"], f["status"]) for f in doc["functions"]] == \
        [("func[1]", 7, 11, 4, "changed"), ("func[2]", None, 3, 3, "added")]
    assert (doc["added"], doc["removed"], doc["changed"], doc["unchanged"]) == (1, 0, 1, 1)


def test_identical_modules(tmp_path, capsys):
    size = write(tmp_path / "a.wasm", {"f": 3})
    code, out, _ = diff(capsys, tmp_path / "a.wasm", tmp_path / "a.wasm")
    assert code == 0
    data = (tmp_path / "a.wasm").read_bytes()
    gz, br = gzip_size(data), brotli_size(data)
    assert out.splitlines() == [f"code section: {size} -> {size} bytes (0, +0.00%)",
                                "functions: 1 -> 1 (0 added, 0 removed, 0 changed, 1 unchanged)",
                                f"file: {len(data)} -> {len(data)} bytes (0, +0.00%)",
                                f"gzip: {gz} -> {gz} bytes (0, +0.00%)",
                                f"brotli: {br} -> {br} bytes (0, +0.00%)"]


def test_top_limits_the_list(tmp_path, capsys):
    write(tmp_path / "old.wasm", {f"f{i}": 1 for i in range(10)})
    write(tmp_path / "new.wasm", {f"f{i}": 1 + i for i in range(10)})
    code, out, _ = diff(capsys, tmp_path / "old.wasm", tmp_path / "new.wasm", "--top", "3")
    assert code == 0
    names = re.findall(r"^\s+\+\d+\s+\d+\s+\d+\s+(\S+)$", out, re.M)
    assert names == ["f9", "f8", "f7"]
    assert "... and 6 more changed functions" in out


def test_unreadable_input_exits_3(tmp_path, capsys):
    write(tmp_path / "a.wasm", {"f": 3})
    (tmp_path / "bad.wasm").write_bytes(b"\0asm\1\0\0\0\x0a\x05\x01")
    code, out, err = diff(capsys, tmp_path / "a.wasm", tmp_path / "bad.wasm")
    assert code == 3 and out == ""
    assert re.search(r"^loom-post: error: .*bad\.wasm: .* at byte \d+$", err, re.M)
    code, _, err = diff(capsys, tmp_path / "nope.wasm", tmp_path / "a.wasm")
    assert code == 3 and "no such file" in err


def test_missing_argument_is_a_usage_error(tmp_path, capsys):
    write(tmp_path / "a.wasm", {"f": 3})
    code, _, _ = diff(capsys, tmp_path / "a.wasm")
    assert code == 2
