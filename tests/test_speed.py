"""Start-up and worker defaults (docs/speed.md): `check` and `inspect` import
only what they need, and -j defaults to the CPUs nobody else is using."""

import os
import subprocess
import sys

import pytest

from loom_post import postlink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("loom_post.passes", "loom_post.passes.cse", "wasmtime", "watchdog", "tomllib",
         "loom_post.postlink", "multiprocessing")
_PROBE = ("import sys\n"
          "from loom_post.cli import main\n"
          "try:\n"
          "    main(sys.argv[1:])\n"
          "except SystemExit:\n"
          "    pass\n"
          "print(' '.join(sorted(sys.modules)))\n")


def imported(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True).stdout
    return set(out.split()[-1000:]) if out else set()


@pytest.mark.parametrize("argv", [("check", "--help"), ("inspect", "--help"), ("diff", "--help")])
def test_read_only_commands_import_no_optimizer(argv, tmp_path):
    loaded = imported(*argv, cwd=str(tmp_path))
    assert loaded and not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_inspect_of_a_module_imports_no_optimizer(tmp_path):
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(bytes.fromhex("0061736d01000000"))
    loaded = imported("inspect", "--no-brotli", str(wasm), cwd=str(tmp_path))
    assert "loom_post.wasm.module" in loaded and not loaded & set(HEAVY)


def test_the_full_help_still_lists_every_command(capsys):
    from loom_post.cli import COMMANDS, main
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_a_passes_key_is_still_checked(tmp_path, capsys):
    from loom_post.cli import main
    (tmp_path / "loom-post.toml").write_text('passes = ["no-such-pass"]\n')
    assert main(["check", "--config", str(tmp_path / "loom-post.toml"), str(tmp_path)]) == 2
    assert "no-such-pass" in capsys.readouterr().err


@pytest.mark.parametrize("cpus, load, jobs", [(2, 0.1, 2), (2, 0.6, 1), (2, 16.0, 1),
                                             (8, 3.2, 5), (1, 0.0, 1)])
def test_default_jobs_counts_idle_cpus(monkeypatch, cpus, load, jobs):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)), raising=False)
    assert postlink.default_jobs(load) == jobs
