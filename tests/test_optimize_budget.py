"""`loom-post optimize` applies the same budgets after optimizing: over budget exits 1,
but the optimized module is still written."""

import json

import pytest

from loom_post.wasm.module import read_module
from loom_post.cli import main

wasmtime = pytest.importorskip("wasmtime")

# The same costly expression three times: the CSE pass shrinks this function.
CSE_WAT = """(module
 (memory 1)
 (func $hot (export "hot") (param i32) (result i32)
   (i32.store (i32.const 64) (i32.add (i32.mul (local.get 0) (i32.const 100000)) (i32.const 77777)))
   (i32.store (i32.const 68) (i32.add (i32.mul (local.get 0) (i32.const 100000)) (i32.const 77777)))
   (i32.add (i32.mul (local.get 0) (i32.const 100000)) (i32.const 77777))))"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    data = bytes(wasmtime.wat2wasm(CSE_WAT))
    (tmp_path / "app.wasm").write_bytes(data)
    return tmp_path


def size(path):
    return read_module(path.read_bytes()).code_size


def run_hot(path, x):
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, path.read_bytes()), [])
    return instance.exports(store)["hot"](store, x)


def optimize(capsys, *argv):
    code = main(["optimize", "--never-grow", "code", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_max_code_size_breach_exits_1_but_writes_the_module(project, capsys):
    before = size(project / "app.wasm")
    original = (project / "app.wasm").read_bytes()
    (project / "loom-post.toml").write_text("max-code-size = 10\n")
    code, out, _ = optimize(capsys, "app.wasm")
    assert code == 1
    after = size(project / "app.wasm")
    assert after < before                                   # rewritten in place
    assert (project / "app.wasm").read_bytes() != original
    assert f"over budget: max-code-size: limit 10 B, actual {after} B (code section is {after} bytes" in out
    assert run_hot(project / "app.wasm", 3) == 3 * 100000 + 77777


def test_breach_with_output_file_writes_the_output(project, capsys):
    original = (project / "app.wasm").read_bytes()
    (project / "loom-post.toml").write_text("max-code-size = 10\n")
    code, _, _ = optimize(capsys, "app.wasm", "-o", "out.wasm", "--format", "json")
    assert code == 1
    assert (project / "app.wasm").read_bytes() == original
    assert size(project / "out.wasm") < size(project / "app.wasm")
    assert run_hot(project / "out.wasm", 5) == 5 * 100000 + 77777


def test_within_budget_exits_0_and_reports_max_growth(project, capsys):
    before = size(project / "app.wasm")
    (project / "loom-post.toml").write_text(f"max-code-size = {before}\n")
    code, out, _ = optimize(capsys, "app.wasm", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    budgets = {b["kind"]: b for b in doc["modules"][0]["budgets"]}
    after = size(project / "app.wasm")
    assert budgets["max-growth"]["limit"] == 0
    assert budgets["max-growth"]["actual"] == after - before < 0
    assert budgets["max-code-size"]["status"] == "pass"


def test_optimize_false_measures_without_rewriting(project, capsys):
    original = (project / "app.wasm").read_bytes()
    (project / "loom-post.toml").write_text(
        '[[module]]\npath = "app.wasm"\noptimize = false\nmax-code-size = 10\n')
    code, out, _ = optimize(capsys, "app.wasm")
    assert code == 1
    assert "measured (optimize = false)" in out and "over budget: max-code-size" in out
    assert (project / "app.wasm").read_bytes() == original


def test_growth_vs_baseline_applies_after_optimizing(project, capsys):
    (project / "loom-post.toml").write_text(
        'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    small = bytes(wasmtime.wat2wasm("(module (func $hot))"))
    (project / "small.wasm").write_bytes(small)
    # record the tiny module's size under app.wasm's name, then optimize app.wasm
    (project / "app_backup.wasm").write_bytes((project / "app.wasm").read_bytes())
    (project / "app.wasm").write_bytes(small)
    assert main(["baseline", "app.wasm"]) == 0
    (project / "app.wasm").write_bytes((project / "app_backup.wasm").read_bytes())
    capsys.readouterr()
    code, out, _ = optimize(capsys, "app.wasm")
    assert code == 1
    assert "over budget: max-growth-vs-baseline" in out
    assert size(project / "app.wasm") < size(project / "app_backup.wasm")


def test_missing_baseline_file_is_refused_before_any_module_is_rewritten(project, capsys):
    # Two modules; only the second has a budget against a baseline file that
    # does not exist. The error must come before the first one is rewritten,
    # not after (a half-done run would leave one module optimized).
    (project / "loom-post.toml").write_text(
        '[[module]]\npath = "b.wasm"\nbaseline = "sizes.json"\n'
        'max-growth-vs-baseline = "0 B"\n')
    original = (project / "app.wasm").read_bytes()
    (project / "b.wasm").write_bytes(original)
    code, out, err = optimize(capsys, "app.wasm", "b.wasm")
    assert code == 2
    assert err.startswith("loom-post: error: ") and "sizes.json" in err
    assert (project / "app.wasm").read_bytes() == original
    assert (project / "b.wasm").read_bytes() == original
    assert sorted(p.name for p in project.iterdir()) == [".git", "app.wasm", "b.wasm",
                                                         "loom-post.toml"]
