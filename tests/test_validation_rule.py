"""The validation rule: a module is rewritten only when a complete validator
(wasmtime's) accepts both its input and its output. An invalid input is left
untouched (exit 3, naming the complaint); one the validator cannot judge is
measured and gated but not rewritten; `check` and `inspect` measure both."""

import os
import subprocess
import sys

import wasmtime

from conftest import ROOT

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

# A function optimize shrinks (a repeated expression), to show "untouched" matters.
SHRINKS = """(func (export "g") (param i32) (result i32)
  (i32.add (i32.mul (local.get 0) (i32.const 0x12345678))
           (i32.mul (local.get 0) (i32.const 0x12345678))))"""


def loom(*args, cwd, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "loom_post", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def try_table_bad_label():
    """The 30-byte reproducer: one function `try_table (catch_all 5) end`."""
    body = bytes([0x00, 0x1F, 0x40, 0x01, 0x02, 0x05, 0x0B, 0x0B])

    def sec(i, payload):
        return bytes([i, len(payload)]) + payload
    return (b"\0asm\1\0\0\0" + sec(1, bytes([1, 0x60, 0, 0])) + sec(3, bytes([1, 0]))
            + sec(10, bytes([1, len(body)]) + body))


def test_try_table_with_a_missing_label_is_invalid_not_a_crash(tmp_path):
    data = try_table_bad_label()
    assert len(data) == 30
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    run = loom("optimize", path, cwd=tmp_path)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "invalid module" in run.stderr and "unknown label" in run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    assert path.read_bytes() == data
    for command in ("inspect", "check"):  # they measure what they can read
        assert loom(command, path, cwd=tmp_path).returncode == 0


def test_an_input_invalid_elsewhere_is_left_untouched(tmp_path):
    # Invalid only in a function the passes do not touch (global.set of an
    # immutable global); the weak per-function fall-back used to accept it.
    data = wasmtime.wat2wasm(f"""(module (global $g i32 (i32.const 0))
        (func (global.set $g (i32.const 1))) {SHRINKS})""")
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    run = loom("optimize", path, cwd=tmp_path)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "invalid module" in run.stderr and "immutable" in run.stderr
    assert path.read_bytes() == data


def test_a_feature_the_validator_lacks_is_measured_and_gated_not_rewritten(tmp_path):
    # Legacy exception handling (`try`/`catch_all`): wasmtime does not take it.
    data = wasmtime.wat2wasm(f"(module (func try nop catch_all end) {SHRINKS})")
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    run = loom("optimize", path, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "not rewritten: the validator does not support a feature" in run.stdout
    assert path.read_bytes() == data
    (tmp_path / "loom-post.toml").write_text("max-code-size = 10\n")
    run = loom("optimize", path, cwd=tmp_path)
    assert run.returncode == 1 and "FAIL" in run.stdout  # still gated
    assert path.read_bytes() == data


def test_a_valid_input_is_still_optimized(tmp_path):
    data = wasmtime.wat2wasm(f"(module {SHRINKS})")
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    assert loom("optimize", path, "--never-grow", "code", cwd=tmp_path).returncode == 0
    out = path.read_bytes()
    assert len(out) < len(data)
    wasmtime.Module.validate(wasmtime.Engine(), out)


def test_wasmtime_is_a_runtime_dependency():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert any(d.replace(" ", "").startswith("wasmtime") for d in project["dependencies"])


def test_the_fuzz_campaigns_invalid_module_is_left_untouched(tmp_path):
    """The campaign's observation (tests/data/fuzz): a module whose function g
    returns i32 for f32 used to be rewritten around g with exit 0."""
    src = os.path.join(ROOT, "tests", "data", "fuzz", "note-invalid-module-rewritten.wasm")
    path = tmp_path / "note.wasm"
    with open(src, "rb") as f:
        data = f.read()
    path.write_bytes(data)
    run = loom("optimize", path, "--never-grow", "code", cwd=tmp_path)
    assert run.returncode == 3 and "invalid module" in run.stderr
    assert path.read_bytes() == data
