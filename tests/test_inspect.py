"""`loom-post inspect`: text and JSON output, function indices counting imports
first, --top, and usage errors."""

import json
import re

import pytest

from loom_post import cli

import wat_util as W

# Two imported functions, then three defined ones whose body sizes are worked
# out by hand below (locals, opcodes and LEB128 immediates, final `end`).
MODULE = """(module
  (import "env" "a" (func $imp_a (param i32)))
  (import "env" "b" (func $imp_b (result i32)))
  (memory 1)
  (func $tiny nop)
  (func $mid (result i32) i32.const 1000000)
  (func $big (param i32) (result i32) (local i64 i64 f32)
    local.get 0 call $imp_a call $imp_b local.get 0 i32.add i32.const 300 i32.mul))"""
# tiny: 00 | 01 | 0b                                             = 3
# mid:  00 | 41 c0 84 3d | 0b                                    = 6
# big:  02 02 7e 01 7d | 20 00 10 00 10 01 20 00 6a 41 ac 02 6c | 0b = 5 + 13 + 1 = 19
BODIES = {2: ("tiny", 3), 3: ("mid", 6), 4: ("big", 19)}
CODE_BYTES = 1 + sum(1 + size for _n, size in BODIES.values())   # count + size prefixes


@pytest.fixture
def module_path(tmp_path):
    path = tmp_path / "mod.wasm"
    path.write_bytes(W.wat(MODULE))
    return path


def _json(capsys, *argv):
    rc = cli.main(["inspect", "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, (json.loads(out) if out.strip() else None), err


def test_json_output(module_path, capsys):
    rc, doc, err = _json(capsys, str(module_path))
    assert rc == 0 and err == "" and doc["version"] == 1
    [mod] = doc["modules"]
    assert mod["path"] == str(module_path)
    assert mod["code_bytes"] == CODE_BYTES == 32
    assert mod["imported_functions"] == 2 and mod["function_count"] == 3
    funcs = [(f["index"], f["name"], f["body_bytes"]) for f in mod["functions"]]
    assert funcs == [(4, "big", 19), (3, "mid", 6), (2, "tiny", 3)]
    assert [(s["id"], s["name"]) for s in mod["sections"]] == [
        (1, "type"), (2, "import"), (3, "function"), (5, "memory"), (10, "code"), (0, "name")]
    code = [s for s in mod["sections"] if s["id"] == 10][0]
    assert code["bytes"] == CODE_BYTES
    total = sum(s["bytes"] for s in mod["sections"])
    # payloads plus one id byte and a one-byte size per section, plus the header
    assert 8 + total + 2 * len(mod["sections"]) == module_path.stat().st_size


def test_json_matches_wasm_objdump(module_path, capsys, wasm_objdump):
    import subprocess
    _rc, doc, _err = _json(capsys, str(module_path))
    [mod] = doc["modules"]
    dump = W.objdump_sections(wasm_objdump, module_path.read_bytes())
    assert [s["bytes"] for s in mod["sections"]] == [size for _k, _s, size, _n in dump]
    assert [s["name"] if s["id"] else "custom" for s in mod["sections"]] == \
        [kind for kind, _s, _z, _n in dump]
    # `wasm-objdump -x` lists "- func[N] size=S <name>" for every code entry.
    details = subprocess.run([wasm_objdump, "-x", str(module_path)], capture_output=True,
                             text=True, check=True).stdout
    code_part = details.split("Code[", 1)[1].split("Custom", 1)[0]
    listed = {int(i): (name, int(size)) for i, size, name in
              re.findall(r"- func\[(\d+)\] size=(\d+) <(\w+)>", code_part)}
    assert listed == BODIES
    assert {f["index"]: (f["name"], f["body_bytes"]) for f in mod["functions"]} == listed


def test_text_output(module_path, capsys):
    rc = cli.main(["inspect", str(module_path)])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{module_path}: code section 32 bytes, 3 functions (2 imported)"
    assert re.search(r"^\s+code\s+32$", out, re.M)
    assert re.search(r'^\s+custom "name"\s+\d+$', out, re.M)
    rows = [ln.split() for ln in lines if re.match(r"^\s+(big|mid|tiny)\s", ln)]
    assert [r[:2] for r in rows] == [["big", "19"], ["mid", "6"], ["tiny", "3"]]
    assert rows[0][2] == f"{100 * 19 / 32:.1f}%"


def test_unnamed_functions_show_their_index(tmp_path, capsys):
    path = tmp_path / "anon.wasm"
    path.write_bytes(W.wat('(module (import "e" "f" (func)) (func nop) (func i32.const 1 drop))'))
    assert cli.main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+func\[1\]\s+3\s", out, re.M)
    assert re.search(r"^\s+func\[2\]\s+5\s", out, re.M)
    rc, doc, _ = _json(capsys, str(path))
    assert [(f["index"], f["name"]) for f in doc["modules"][0]["functions"]] == \
        [(2, None), (1, None)]


def test_top(module_path, tmp_path, capsys):
    _rc, doc, _ = _json(capsys, "--top", "1", str(module_path))
    assert [f["name"] for f in doc["modules"][0]["functions"]] == ["big"]
    assert doc["modules"][0]["function_count"] == 3
    assert cli.main(["inspect", "--top", "2", str(module_path)]) == 0
    out = capsys.readouterr().out
    assert "big" in out and "mid" in out and "tiny" not in out
    # Default 10; 0 lists all. Twelve equal bodies are ordered by index.
    many = tmp_path / "many.wasm"
    many.write_bytes(W.wat("(module " + " ".join(f"(func $f{k} nop)" for k in range(12)) + ")"))
    _rc, doc, _ = _json(capsys, str(many))
    assert [f["index"] for f in doc["modules"][0]["functions"]] == list(range(10))
    _rc, doc, _ = _json(capsys, "--top", "0", str(many))
    assert [f["index"] for f in doc["modules"][0]["functions"]] == list(range(12))


def test_several_modules(module_path, tmp_path, capsys):
    other = tmp_path / "other.wasm"
    other.write_bytes(W.wat("(module (func $only (result i64) i64.const 1))"))
    rc, doc, _ = _json(capsys, str(module_path), str(other))
    assert rc == 0
    assert [m["path"] for m in doc["modules"]] == [str(module_path), str(other)]
    assert doc["modules"][1]["functions"] == [{"index": 0, "name": "only", "body_bytes": 4}]


@pytest.mark.parametrize("argv", [
    [], ["inspect"], ["inspect", "--top", "-1", "X"], ["inspect", "--top", "many", "X"],
    ["inspect", "--format", "xml", "X"], ["inspect", "--no-such-flag", "X"], ["frobnicate"]],
    ids=["no command", "no file", "negative top", "non-numeric top", "unknown format",
         "unknown flag", "unknown command"])
def test_bad_usage_exits_2(argv, module_path, capsys):
    argv = [str(module_path) if a == "X" else a for a in argv]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("loom-post: error:")]
    assert out == ""
