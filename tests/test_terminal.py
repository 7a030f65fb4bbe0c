"""Terminal manners, through real terminals (pty) and real pipes: colour only
where it belongs (NO_COLOR, FORCE_COLOR, TERM=dumb, non-TTY), --quiet and
--verbose before or after the command, and a progress line on a TTY only."""

import os
import pty
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")
ESC = "\x1b["


@pytest.fixture
def project(tmp_path):
    (tmp_path / ".git").mkdir()
    for name in ("a.wasm", "b.wasm"):
        shutil.copy(EXAMPLE, tmp_path / name)
    return tmp_path


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "LOOM_POST_PROGRESS_DELAY")}
    env["PYTHONPATH"] = ROOT
    env["TERM"] = "xterm"
    env.update(extra)
    return env


def _read_all(fd):
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:          # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def run(cwd, argv, tty=(), **env):
    """(exit status, stdout, stderr); `tty` names the streams that get a pty."""
    fds, masters = {}, {}
    for name in ("stdout", "stderr"):
        if name in tty:
            master, slave = pty.openpty()
            fds[name], masters[name] = slave, master
        else:
            fds[name] = subprocess.PIPE
    proc = subprocess.Popen([sys.executable, "-m", "loom_post", *argv], cwd=cwd,
                            stdin=subprocess.DEVNULL, env=_env(**env), **fds)
    for name in masters:
        os.close(fds[name])
    out = {name: _read_all(m) for name, m in masters.items()}
    piped_out, piped_err = proc.communicate(timeout=120)
    for m in masters.values():
        os.close(m)
    return (proc.returncode,
            out.get("stdout", (piped_out or b"").decode()),
            out.get("stderr", (piped_err or b"").decode()))


def over_budget(project):
    (project / "loom-post.toml").write_text('max-code-size = "10 B"\n')


def test_colour_on_a_terminal_and_never_in_a_pipe(project):
    over_budget(project)
    code, out, _ = run(project, ["check", "a.wasm", "--no-brotli"], tty=("stdout",))
    assert code == 1
    assert f"{ESC}1;31mFAIL{ESC}0m" in out
    code, out, _ = run(project, ["check", "a.wasm", "--no-brotli"])
    assert code == 1 and "FAIL" in out and ESC not in out


@pytest.mark.parametrize("env, tty, coloured", [
    ({"NO_COLOR": "1"}, True, False),
    ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),   # NO_COLOR wins
    ({"FORCE_COLOR": "0"}, True, False),
    ({"TERM": "dumb"}, True, False),
    ({"NO_COLOR": ""}, True, True),                           # empty: not set
])
def test_colour_follows_the_environment(project, env, tty, coloured):
    over_budget(project)
    _code, out, _ = run(project, ["check", "a.wasm", "--no-brotli"],
                        tty=("stdout",) if tty else (), **env)
    assert (ESC in out) == coloured
    assert "FAIL" in out


def test_a_pass_is_green_and_machine_formats_are_never_coloured(project):
    code, out, _ = run(project, ["check", "a.wasm", "--no-brotli"], tty=("stdout",))
    assert code == 0 and f"{ESC}32mpass{ESC}0m" in out
    assert f"{ESC}32mall within budget{ESC}0m" in out
    code, out, _ = run(project, ["check", "a.wasm", "--no-brotli", "--format", "json"],
                       FORCE_COLOR="1")
    assert code == 0 and ESC not in out and out.startswith("{")


def test_quiet_prints_nothing_when_all_is_well(project):
    for argv in (["-q", "check", "a.wasm", "--no-brotli"],
                 ["check", "--quiet", "a.wasm", "--no-brotli"]):
        code, out, err = run(project, argv)
        assert (code, out, err) == (0, "", "")
    over_budget(project)
    code, out, _ = run(project, ["--quiet", "check", "a.wasm", "--no-brotli"])
    assert code == 1 and "max-code-size: limit 10 B" in out


def test_quiet_optimize(project):
    code, out, err = run(project, ["optimize", "-q", "a.wasm"])
    assert (code, out, err) == (0, "", "")
    code, out, _ = run(project, ["optimize", "a.wasm"])
    assert code == 0 and "a.wasm: code" in out


def test_verbose_says_what_was_used_and_how_long(project):
    code, out, err = run(project, ["check", "-v", "a.wasm", "b.wasm", "--no-brotli"])
    assert code == 0 and "check: 2 modules" in out
    lines = err.splitlines()
    assert lines[0] == ("loom-post: configuration: defaults (no loom-post.toml or "
                        "[tool.loom-post] found); 2 module(s)")
    assert [l.split(" took ")[0] for l in lines[1:]] == [
        "loom-post: a.wasm: measuring", "loom-post: b.wasm: measuring"]


def test_progress_line_on_a_terminal_only(project):
    argv = ["check", "a.wasm", "b.wasm", "--no-brotli"]
    code, out, err = run(project, argv, tty=("stderr",), LOOM_POST_PROGRESS_DELAY="0")
    assert code == 0
    assert "\r\x1b[K[1/2] measuring a.wasm" in err and "[2/2] measuring b.wasm" in err
    assert err.endswith("\r\x1b[K")                  # erased before the end
    assert "[1/2]" not in out
    _code, _out, err = run(project, argv, LOOM_POST_PROGRESS_DELAY="0")     # piped
    assert err == ""
    _code, _out, err = run(project, ["-q"] + argv, tty=("stderr",),
                           LOOM_POST_PROGRESS_DELAY="0")
    assert err == ""
    _code, _out, err = run(project, argv, tty=("stderr",))      # a quick run: no trace
    assert "[1/2]" not in err
    code, _out, err = run(project, ["optimize", "a.wasm", "b.wasm"], tty=("stderr",),
                          LOOM_POST_PROGRESS_DELAY="0")
    assert code == 0 and "[2/2] optimizing b.wasm" in err


def test_errors_stay_one_line_with_the_options(project):
    code, out, err = run(project, ["-q", "check", "missing.wasm"], tty=("stdout",))
    assert code == 3 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("loom-post: error: missing.wasm")
