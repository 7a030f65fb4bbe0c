"""Warm runs (docs/speed.md): a run answered by the result cache reports
exactly what a cold run reports and writes exactly the same bytes, without
importing the validator or the compressors; `check` reads compressed sizes
it measured before instead of compressing again."""

import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from cli_util import run
from loom_post import sizes as sizes_mod

wasmtime = pytest.importorskip("wasmtime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")

# f computes the same pure expression three times: cse rewrites it.
CSE_WAT = """
(module
  (func $f (export "f") (param i32) (result i32)
    (i32.add (i32.add (i32.mul (i32.add (local.get 0) (i32.const 9)) (i32.const 77777))
                      (i32.mul (i32.add (local.get 0) (i32.const 9)) (i32.const 77777)))
             (i32.mul (i32.add (local.get 0) (i32.const 9)) (i32.const 77777)))))
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "loom-post.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def modules(project):
    shutil.copy(KERNEL, project / "kernel.wasm")
    (project / "cse.wasm").write_bytes(bytes(wasmtime.wat2wasm(CSE_WAT)))
    return ["kernel.wasm", "cse.wasm"]


def optimize(capsys, *argv):
    code, out, _err = run(capsys, "optimize", "--format", "json", "--brotli", *argv)
    assert code == 0, out
    (module,) = json.loads(out)["modules"]
    return module


def assert_same_report(warm, cold):
    assert sorted(warm) == sorted(cold)
    for key in cold:
        assert warm[key] == cold[key], key


@pytest.mark.parametrize("never_grow", [["--never-grow", "code"], []])
def test_a_warm_run_reports_and_writes_what_a_cold_run_does(project, capsys, never_grow):
    for name in modules(project):
        cold = optimize(capsys, "--no-cache", *never_grow, name, "-o", "cold.wasm")
        optimize(capsys, *never_grow, name, "-o", "primed.wasm")           # records
        same = optimize(capsys, *never_grow, name, "-o", "same.wasm")      # warm-same
        assert_same_report(same, cold)
        written = (project / "cold.wasm").read_bytes()
        assert (project / "same.wasm").read_bytes() == written
        assert (project / "primed.wasm").read_bytes() == written
        # warm-opt: loom-post's own output, against a cold run over the same file
        cold_opt = optimize(capsys, "--no-cache", *never_grow, "cold.wasm", "-o", "c2.wasm")
        warm_opt = optimize(capsys, *never_grow, "primed.wasm", "-o", "w2.wasm")
        warm_opt["path"] = cold_opt["path"]
        # the same bytes and figures; but a cold run over a guarded output may try
        # rewrites the guard reverted again, which "own output: nothing to do" never tries
        assert cold_opt["functions_changed"] == 0
        warm_opt["functions_reverted"] = cold_opt["functions_reverted"]
        assert_same_report(warm_opt, cold_opt)
        assert (project / "w2.wasm").read_bytes() == (project / "c2.wasm").read_bytes()


@pytest.mark.parametrize("never_grow", [["--never-grow", "code"], []])
def test_a_warm_run_prints_the_cold_run_s_text_report(project, capsys, never_grow):
    """Word for word, counters in the pass's own order (the record keeps them
    in JSON, which sorts keys: merge-similar's would be reordered)."""
    def text(*argv):
        code, out, _err = run(capsys, "optimize", *never_grow, "kernel.wasm", "-o", "o.wasm", *argv)
        assert code == 0, out
        return out
    modules(project)
    cold = text("--no-cache")
    assert "functions merged, 0 shared bodies, 0 params added" in cold
    text()                          # records
    assert text() == cold


def test_the_cse_module_changes_so_the_comparison_means_something(project, capsys):
    modules(project)
    report = optimize(capsys, "--no-cache", "--never-grow", "code", "cse.wasm", "-o", "o.wasm")
    assert report["functions_changed"] == 1 and report["bytes_saved"] > 0


def _primed_hits(project, capsys, monkeypatch):
    """cse.wasm, its recorded output, and a pipeline that fails if it runs."""
    from loom_post.passes import cached_run
    modules(project)
    optimize(capsys, "--never-grow", "code", "cse.wasm", "-o", "primed.wasm")
    data, out = (project / "cse.wasm").read_bytes(), (project / "primed.wasm").read_bytes()
    assert data != out

    def no_pipeline(*args):
        raise AssertionError("a hit ran the pipeline")
    monkeypatch.setattr(cached_run, "_run_pipeline", no_pipeline)
    return data, out


def test_a_hit_hashes_its_input_and_its_output_once_each(project, capsys, monkeypatch):
    """The module key, the cached output's check and both compressed sizes'
    keys (--brotli) share the run's digests (cache.Digests)."""
    data, out = _primed_hits(project, capsys, monkeypatch)
    hashed, real = [], hashlib.sha256

    def counting(b=b"", **kw):
        hashed.append(bytes(b))
        return real(b, **kw)
    monkeypatch.setattr(hashlib, "sha256", counting)
    optimize(capsys, "--never-grow", "code", "cse.wasm", "-o", "same.wasm")     # warm-same
    assert (hashed.count(data), hashed.count(out)) == (1, 1)
    # and nothing else holding it: the store's checksum of the entry holding
    # the output is that one hash (the output is stored apart, under its digest)
    assert [b for b in hashed if out in b] == [out]
    hashed.clear()
    optimize(capsys, "--never-grow", "code", "primed.wasm", "-o", "opt.wasm")   # warm-opt
    assert (hashed.count(data), hashed.count(out)) == (0, 1)


def test_a_run_keeps_no_module_bytes_once_it_returned(project, capsys, monkeypatch):
    """The digests live as long as their run: a long watch process holds no
    module image of a run that ended (no memo outlives the run)."""
    from loom_post import postlink
    _primed_hits(project, capsys, monkeypatch)
    read, kept = postlink.read_snapshot, []

    def keep(*args, **kw):
        data, st = read(*args, **kw)
        kept.append(data)
        return data, st
    monkeypatch.setattr(postlink, "read_snapshot", keep)
    for name in ("cse.wasm", "primed.wasm", "cse.wasm"):    # warm-same, warm-opt, again
        optimize(capsys, "--never-grow", "code", name, "-o", "again.wasm")
    gc.collect()
    assert [sys.getrefcount(kept[i]) for i in range(3)] == [2] * 3   # `kept`, the call


_PROBE = ("import sys\n"
          "from loom_post.cli import main\n"
          "code = main(sys.argv[1:])\n"
          "print(code, ' '.join(sorted(sys.modules)))\n")
HEAVY = ("wasmtime", "brotli", "_brotli", "urllib.request", "http.client", "wcmatch.glob",
         "subprocess", "secrets")
# A hit runs no pass (loom_post/passes/__init__.py knows them without importing
# them) and needs none of check's reports, the near-miss or unit parsers, the
# baseline or the demangler; it is answered by passes/cached_run.py, without
# the pipeline, the pass protocol, stack typing, the guard or the validator's
# module.
UNUSED_BY_A_HIT = ("loom_post.passes.cse", "loom_post.passes.zero_sets",
                   "loom_post.passes.merge_similar", "loom_post.passes.dedupe",
                   "loom_post.passes.compact", "loom_post.passes.renumber",
                   "loom_post.passes.effects", "loom_post.commands.check", "difflib", "decimal",
                   "loom_post.budget.baseline", "loom_post.report.demangle",
                   "loom_post.passes.pipeline", "loom_post.passes.base",
                   "loom_post.wasm.stack_types", "loom_post.passes.guard",
                   "loom_post.passes.funcindex", "loom_post.passes.bodies",
                   "loom_post.passes.validate",
                   # a hit reads the framing of input and output only (read_module(lazy=True)):
                   # no payload is parsed, so the instruction decoder and its table are not needed
                   "loom_post.wasm.instructions", "loom_post.wasm.opcodes")


def imported(*argv):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], env=env, capture_output=True,
                         text=True, check=True).stdout.split("\n")[-2].split()
    return int(out[0]), set(out[1:])


def test_a_hit_imports_neither_the_validator_nor_the_compressors_nor_the_passes(project, capsys):
    modules(project)
    optimize(capsys, "--never-grow", "code", "cse.wasm", "-o", "primed.wasm")
    for name in ("cse.wasm", "primed.wasm"):   # warm-same, warm-opt
        code, loaded = imported("optimize", "--never-grow", "code", name, "-o", "again.wasm")
        assert code == 0 and "loom_post.postlink" in loaded
        assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
        assert not loaded & set(UNUSED_BY_A_HIT), sorted(loaded & set(UNUSED_BY_A_HIT))
    code, loaded = imported("check", "--no-brotli", "primed.wasm")  # its reports, no client
    assert code == 0 and "loom_post.commands.check" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    code, loaded = imported("optimize", "--no-cache", "--never-grow", "code", "cse.wasm",
                            "-o", "cold.wasm")
    assert code == 0 and "loom_post.passes.wasmtime_c" in loaded   # a cold run validates,
    assert "wasmtime" not in loaded   # through wasmtime's library without its package
    assert "loom_post.passes.cse" in loaded     # and runs the passes
    assert "loom_post.passes.pipeline" in loaded and "loom_post.wasm.stack_types" in loaded


_PROGRAM = ("import gc, sys\n"
            "from loom_post.cli import main\n"
            "frozen = gc.get_freeze_count()\n"
            "sys.argv[0] = 'loom-post'\n"
            "code = main()\n"
            "print(code, gc.get_freeze_count() > frozen)\n")


def as_program(*argv, probe=_PROGRAM):
    """loom-post as the program (main() reads sys.argv): (stdout lines, stderr)."""
    done = subprocess.run([sys.executable, "-c", probe, *argv],
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
    return done.stdout.splitlines(), done.stderr


def test_the_program_freezes_its_start_up_and_exits_cleanly(project, capsys):
    """cli._start_up: the command's imports are frozen out of the collector's
    reach (a warm run's largest saving); a cold run, which loads wasmtime into
    a frozen module, still exits without a word on stderr."""
    modules(project)
    for argv in (["--no-cache", "cse.wasm", "-o", "cold.wasm"],     # validates
                 ["cse.wasm", "-o", "primed.wasm"], ["cse.wasm", "-o", "same.wasm"]):
        out, err = as_program("optimize", "--never-grow", "code", "--quiet", *argv)
        assert out[-1] == "0 True" and err == "", (argv, out, err)
    same = subprocess.run([sys.executable, "-m", "loom_post", "optimize", "--no-cache",
                           "cse.wasm", "-o", "again.wasm"], env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True)
    assert same.returncode == 0 and same.stderr == "", same.stderr


def test_a_caller_s_main_freezes_nothing(project, capsys):
    """Freezing is process-wide: main(argv), called by a test or another
    program, leaves the caller's garbage to the collector."""
    import gc
    modules(project)
    frozen = gc.get_freeze_count()
    run(capsys, "optimize", "--never-grow", "code", "cse.wasm", "-o", "o.wasm")
    assert gc.get_freeze_count() == frozen


def count_brotli(monkeypatch):
    calls = []
    real = sizes_mod.brotli_size

    def counted(data, *a, **kw):
        calls.append(len(data))
        return real(data, *a, **kw)
    monkeypatch.setattr(sizes_mod, "brotli_size", counted)
    return calls


def check_json(capsys, *argv):
    code, out, _err = run(capsys, "check", "--format", "json", *argv)
    assert code == 0, out
    return json.loads(out)


def test_check_reads_compressed_sizes_measured_before(project, capsys, monkeypatch):
    names = modules(project)
    calls = count_brotli(monkeypatch)
    first = check_json(capsys, *names)
    assert len(calls) == 2
    again = check_json(capsys, *names)
    assert len(calls) == 2 and again == first   # nothing compressed again, same report
    (project / "loom-post.toml").write_text("cache = false\n")
    assert check_json(capsys, *names) == first and len(calls) == 4


def test_check_after_optimize_reuses_the_output_sizes(project, capsys, monkeypatch):
    modules(project)
    optimize(capsys, "--never-grow", "code", "cse.wasm")   # in place, brotli measured
    calls = count_brotli(monkeypatch)
    report = check_json(capsys, "cse.wasm")
    assert calls == [] and report["modules"][0]["brotli_bytes"] == sizes_mod.brotli_size(
        (project / "cse.wasm").read_bytes())


def test_damaged_or_foreign_size_entries_are_measured_again(project, capsys, monkeypatch):
    from loom_post import cache
    names = modules(project)
    first = check_json(capsys, *names)
    store = cache.Store(cache.default_dir())
    for name in names:
        key = cache._sizes_key((project / name).read_bytes(), cache.Digests())
        store.put("sizes", key, b'{"gzip": "many", "brotli": [1]}')
    calls = count_brotli(monkeypatch)
    assert check_json(capsys, *names) == first and len(calls) == 2
    monkeypatch.setattr(cache, "installed", lambda name: "brotli-0.0.0.dist-info")
    assert check_json(capsys, *names) == first and len(calls) == 4   # another brotli: miss
