"""`loom-post optimize` as a user meets it: in place, -o, reports, DWARF, and the
guarantees about the file on disk (atomic, locked, validated, never lost)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import wasmtime

from loom_post.wasm.module import read_module
from loom_post.cli import main
from loom_post.passes import default_names
from loom_post.passes.cached_run import optimize

REPEATS = """
  (func (export "f{i}") (param $p i32) (result i32)
    (i32.add (i32.add (i32.mul (local.get $p) (i32.const 0x1234567{d}))
                      (i32.mul (local.get $p) (i32.const 0x1234567{d})))
             (i32.mul (local.get $p) (i32.const 0x1234567{d}))))"""


def module_with(n_funcs=3, extra=""):
    funcs = "".join(REPEATS.format(i=i, d=i % 10) for i in range(n_funcs))
    return wasmtime.wat2wasm(f"(module {funcs} {extra})")


def test_in_place_and_text_report(tmp_path, capsys):
    path = tmp_path / "m.wasm"
    data = module_with()
    path.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(path)]) == 0
    out = capsys.readouterr().out
    new = path.read_bytes()
    assert len(new) < len(data)
    before, after = read_module(data).code_size, read_module(new).code_size
    assert f"code {before} -> {after} bytes" in out
    # merge-similar-functions makes the three near-twins thunks of one shared
    # body (a module pass), cse then changes that one function
    assert "1 function changed" in out and "PASS" in out


def test_json_report_has_the_documented_fields(tmp_path, capsys):
    path = tmp_path / "m.wasm"
    path.write_bytes(module_with())
    assert main(["optimize", "--never-grow", "code", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (mod,) = doc["modules"]
    assert doc["version"] == 1
    for key in ("path", "code_bytes_before", "code_bytes_after", "functions_changed",
                "bytes_saved", "bytes_saved_by_reencoding", "passes"):
        assert key in mod
    cse = mod["passes"]["cse"]
    for key in ("bytes_saved", "functions_changed", "deduplicated", "rejected_by_cost_gate"):
        assert key in cse
    assert mod["code_bytes_after"] < mod["code_bytes_before"]
    assert cse["deduplicated"] == 2 and mod["functions_changed"] == 1  # in the shared body
    assert mod["passes"]["merge-similar-functions"]["functions_merged"] == 3
    assert set(mod["passes"]) == set(default_names())  # every default pass reports
    # The module's saving is the passes' savings plus what re-encoding gained
    # outside compact (compact is on: 0 here, and nothing to compact in WAT output).
    assert mod["passes"]["compact"]["bytes_saved"] == mod["bytes_saved_by_reencoding"] == 0
    assert mod["bytes_saved"] == sum(p["bytes_saved"] for p in mod["passes"].values()) \
        + mod["bytes_saved_by_reencoding"] \
        == cse["bytes_saved"] + mod["passes"]["merge-similar-functions"]["bytes_saved"]


def test_output_option_leaves_the_input_alone(tmp_path):
    src, dst = tmp_path / "in.wasm", tmp_path / "out.wasm"
    data = module_with()
    src.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(src), "-o", str(dst)]) == 0
    assert src.read_bytes() == data
    assert dst.read_bytes() == optimize(data).data


def test_output_option_takes_one_input(tmp_path, capsys):
    a, b = tmp_path / "a.wasm", tmp_path / "b.wasm"
    a.write_bytes(module_with())
    b.write_bytes(module_with())
    assert main(["optimize", "--never-grow", "code", str(a), str(b), "-o", str(tmp_path / "x.wasm")]) == 2
    assert "exactly one input" in capsys.readouterr().err


def test_dwarf_is_dropped_with_a_notice_unless_kept(tmp_path, capsys):
    extra = '(@custom ".debug_info" "dwarf") (@custom "producers" "p") (@custom "name2" "keep")'
    data = module_with(extra=extra)
    assert [s.name for s in read_module(data).custom_sections()] == [".debug_info", "producers", "name2", "name"]
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(path)]) == 0
    assert "dropped stale DWARF (.debug_info)" in capsys.readouterr().out
    kept = read_module(path.read_bytes())
    assert [s.name for s in kept.custom_sections()] == ["producers", "name2", "name"]
    # every other custom section byte for byte
    orig = read_module(data)
    for s0, s1 in zip(orig.custom_sections()[1:], kept.custom_sections()):
        assert data[s0.start:s0.end] == kept.data[s1.start:s1.end]
    path.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(path), "--keep-dwarf"]) == 0
    assert ".debug_info" in [s.name for s in read_module(path.read_bytes()).custom_sections()]


def test_dwarf_stays_when_no_code_changed(tmp_path):
    data = wasmtime.wat2wasm('(module (func (export "f")) (@custom ".debug_info" "x"))')
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(path)]) == 0
    assert path.read_bytes() == data


def test_an_invalid_output_never_replaces_its_input(tmp_path, capsys, monkeypatch):
    # Fault injection: a pass that emits a body that does not type-check (an
    # i32.add with nothing to add). Real passes cannot be made to do this on
    # purpose, which is the point of the check.
    from loom_post import passes
    from loom_post.passes.base import FunctionPass
    from loom_post.wasm import opcodes as O

    class Broken(FunctionPass):
        name = "broken"

        def run_function(self, context, func, stats):
            func.update([], [(O.BY_NAME["i32.add"], None, -1, -1),
                             (O.BY_NAME["end"], None, -1, -1)])
            return True

    monkeypatch.setitem(passes.PASSES, "broken", Broken())
    path = tmp_path / "m.wasm"
    data = module_with()
    path.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(path), "--passes", "broken"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("loom-post: error: ") and "invalid" in err
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["m.wasm"]  # no temp file left


def test_unreadable_input_exit_3_and_other_modules_still_done(tmp_path, capsys):
    bad, good = tmp_path / "bad.wasm", tmp_path / "good.wasm"
    bad.write_bytes(b"\0asm\x01\x00\x00\x00\x01\x05\x01")
    good.write_bytes(module_with())
    assert main(["optimize", "--never-grow", "code", str(bad), str(good)]) == 3
    err = capsys.readouterr().err
    assert f"loom-post: error: {bad}: " in err and "at byte" in err
    assert bad.read_bytes() == b"\0asm\x01\x00\x00\x00\x01\x05\x01"
    assert read_module(good.read_bytes()).code_size < read_module(module_with()).code_size


def _run_optimize(path):
    return subprocess.Popen([sys.executable, "-m", "loom_post", "optimize", "--never-grow", "code", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def big_module():
    data = module_with(n_funcs=1500)
    return data, optimize(data).data


def test_killing_optimize_at_any_moment_leaves_old_or_new(tmp_path, big_module):
    data, expected = big_module
    assert expected != data
    rng = random.Random(1234)
    path = tmp_path / "m.wasm"
    seen = set()
    for _ in range(10):
        path.write_bytes(data)
        proc = _run_optimize(path)
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = path.read_bytes()
        assert now in (data, expected)
        seen.add(now == expected)
    # clean up what a SIGKILL can leave: temp files, never the module itself
    for p in tmp_path.iterdir():
        assert p.name == "m.wasm" or p.name.startswith(".loom-post-")


def test_two_processes_on_one_module_never_corrupt_it(tmp_path, big_module):
    data, expected = big_module
    path = tmp_path / "m.wasm"
    for _ in range(3):
        path.write_bytes(data)
        procs = [_run_optimize(path) for _ in range(2)]
        for p in procs:
            assert p.wait() == 0, p.stderr.read().decode()
        assert path.read_bytes() == expected  # second run sees the first's output: no-op


def test_cargo_hard_link_is_kept_pointing_at_the_new_module(tmp_path):
    deps = tmp_path / "release" / "deps"
    deps.mkdir(parents=True)
    data = module_with()
    (deps / "k.wasm").write_bytes(data)
    os.link(deps / "k.wasm", tmp_path / "release" / "k.wasm")
    assert main(["optimize", "--never-grow", "code", str(tmp_path / "release" / "k.wasm")]) == 0
    a, b = os.stat(deps / "k.wasm"), os.stat(tmp_path / "release" / "k.wasm")
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)
    assert (deps / "k.wasm").read_bytes() == optimize(data).data


def test_a_symlinked_module_is_optimized_where_it_lives(tmp_path):
    real = tmp_path / "real.wasm"
    data = module_with()
    real.write_bytes(data)
    link = tmp_path / "link.wasm"
    link.symlink_to("real.wasm")
    assert main(["optimize", "--never-grow", "code", str(link)]) == 0
    assert link.is_symlink()
    assert real.read_bytes() == optimize(data).data


def test_output_into_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    src = tmp_path / "in.wasm"
    data = module_with()
    src.write_bytes(data)
    assert main(["optimize", "--never-grow", "code", str(src), "-o", str(tmp_path / "nope" / "out.wasm")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert src.read_bytes() == data


def test_a_hard_link_outside_the_cargo_layout_is_reported(tmp_path, capsys):
    path = tmp_path / "m.wasm"
    data = module_with()
    path.write_bytes(data)
    os.link(path, tmp_path / "elsewhere.wasm")
    assert main(["optimize", "--never-grow", "code", str(path)]) == 0
    assert "1 other hard link(s)" in capsys.readouterr().out
    assert (tmp_path / "elsewhere.wasm").read_bytes() == data  # a rename cannot reach it
    assert path.read_bytes() == optimize(data).data


def test_output_through_a_symlink_writes_the_file_it_points_to(tmp_path):
    src = tmp_path / "in.wasm"
    data = module_with()
    src.write_bytes(data)
    (tmp_path / "out-real.wasm").write_bytes(b"old")
    link = tmp_path / "out.wasm"
    link.symlink_to("out-real.wasm")
    assert main(["optimize", "--never-grow", "code", str(src), "-o", str(link)]) == 0
    assert link.is_symlink()
    assert (tmp_path / "out-real.wasm").read_bytes() == optimize(data).data
