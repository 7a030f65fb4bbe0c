"""Configuration that could reach outside the project: globs and baselines that
leave the configuration's directory, `**` through symlink loops, bad globs, and
the advice given for a bad baseline file. Real files and processes."""

import json
import os
import subprocess
import sys

import wasmtime

from conftest import ROOT

MODULE = wasmtime.wat2wasm('(module (func (export "f") (result i32) (i32.const 7)))')
# optimize shrinks this one (a repeated expression), so "untouched" means something
SHRINKS = wasmtime.wat2wasm("""(module (func (export "g") (param i32) (result i32)
  (i32.add (i32.mul (local.get 0) (i32.const 0x12345678))
           (i32.mul (local.get 0) (i32.const 0x12345678)))))""")


def loom(*args, cwd, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "loom_post", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def project(tmp_path, toml):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "loom-post.toml").write_text(toml)
    return proj


def test_globs_that_leave_the_project_are_refused_unless_allowed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "v.wasm").write_bytes(SHRINKS)
    before = (victim / "v.wasm").read_bytes()
    proj = project(tmp_path, 'paths = ["../victim/*.wasm"]\n')
    run = loom("optimize", cwd=proj)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "outside" in run.stderr and "allow-outside" in run.stderr
    assert (victim / "v.wasm").read_bytes() == before
    (proj / "loom-post.toml").write_text('paths = ["../victim/*.wasm"]\nallow-outside = true\n'
                                         'never-grow = ["code"]\n')
    run = loom("optimize", cwd=proj)
    assert run.returncode == 0, run.stderr
    assert len((victim / "v.wasm").read_bytes()) < len(before)  # the opt-in works


def test_a_symlinked_directory_out_of_the_project_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "v.wasm").write_bytes(MODULE)
    proj = project(tmp_path, 'paths = ["out/*.wasm"]\n')
    os.symlink(victim, proj / "out")
    run = loom("optimize", cwd=proj)
    assert run.returncode == 2 and "outside" in run.stderr, run.stderr


def test_baselines_outside_the_project_are_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for baseline in (str(elsewhere / "b.json"), "../elsewhere/b.json", "link.json"):
        proj = tmp_path / "proj"
        if proj.exists():
            for n in os.listdir(proj):
                os.unlink(proj / n)
            proj.rmdir()
        proj = project(tmp_path, f'baseline = "{baseline}"\n')
        os.symlink(elsewhere / "b.json", proj / "link.json")  # committed symlink
        (proj / "m.wasm").write_bytes(MODULE)
        run = loom("baseline", "m.wasm", cwd=proj)
        assert run.returncode == 2, (baseline, run.stderr)
        assert "baseline" in run.stderr and "outside" in run.stderr
        assert not (elsewhere / "b.json").exists()
    (proj / "loom-post.toml").write_text('baseline = "link.json"\nallow-outside = true\n')
    assert loom("baseline", "m.wasm", cwd=proj).returncode == 0
    assert "m.wasm" in json.loads((elsewhere / "b.json").read_text())["modules"]


def test_double_star_lists_each_file_once_through_symlink_loops(tmp_path):
    proj = project(tmp_path, 'paths = ["**/*.wasm"]\nmax-code-size = 1\n')
    deep = proj / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "m.wasm").write_bytes(MODULE)
    os.symlink("..", deep / "up")          # one loop
    os.symlink("../..", proj / "a" / "top")  # a second one, through the first
    run = loom("check", "--format", "json", cwd=proj, timeout=60)
    assert run.returncode == 1, run.stderr  # over the 1-byte budget: measured
    doc = json.loads(run.stdout)
    assert [m["path"] for m in doc["modules"]] == ["a/b/m.wasm"]


def test_a_bad_glob_is_a_configuration_error_naming_the_key(tmp_path):
    proj = project(tmp_path, 'paths = ["[z-a].wasm"]\n')
    run = loom("check", cwd=proj)
    assert run.returncode == 2
    assert "paths" in run.stderr and "[z-a].wasm" in run.stderr
    assert "Traceback" not in run.stderr
    (proj / "loom-post.toml").write_text('[[module]]\npath = "x[z-a]"\nmax-code-size = 5\n')
    run = loom("check", "m.wasm", cwd=proj)
    assert run.returncode == 2 and "module #1: path" in run.stderr, run.stderr


def test_the_bad_baseline_advice_works_when_followed(tmp_path):
    proj = project(tmp_path, 'baseline = "b.json"\nmax-growth-vs-baseline = 0\n')
    (proj / "m.wasm").write_bytes(MODULE)
    (proj / "b.json").write_text("{not json")
    run = loom("check", "m.wasm", cwd=proj)
    assert run.returncode == 2
    advice = run.stderr
    assert "delete it" in advice and "loom-post baseline" in advice
    # Running the command alone on the same file is refused the same way, so the
    # advice cannot be "run `loom-post baseline`" alone; following it works:
    assert loom("baseline", "m.wasm", cwd=proj).returncode == 2
    os.unlink(proj / "b.json")
    assert loom("baseline", "m.wasm", cwd=proj).returncode == 0
    assert loom("check", "m.wasm", cwd=proj).returncode == 0
