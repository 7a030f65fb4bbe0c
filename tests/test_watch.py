"""`loom-post watch`: real files, real watchdog observers (inotify and polling),
real signals. Nothing is mocked: each test writes modules the way a build or a
user would and waits (with generous timeouts) for the lines the watcher prints.

Most tests run the watcher in-process on a thread (run_watch with a stop event);
the signal and inotify-fallback tests run `python -m loom_post watch` as a
subprocess.
"""

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import wasmtime

from loom_post import cli
from loom_post.wasm.module import read_module
from loom_post.commands.watch import run_watch
from loom_post.budget.config import load_config
from loom_post.errors import DecodeError
from loom_post.integrations.watcher import RESCAN_EVERY

from conftest import ROOT

RELEASE = os.path.join("target", "wasm32-unknown-unknown", "release")
TIMEOUT = 20


def module_bytes(functions=4, repeats=5, seed=0):
    """A valid module whose functions repeat a 5-byte constant (CSE shrinks it)."""
    funcs = []
    for i in range(functions):
        k = 305419896 + seed
        body = f"i32.const {k} " + f"i32.const {k} i32.add " * (repeats - 1)
        funcs.append(f'(func (export "f{i}") (result i32) {body})')
    return wasmtime.wat2wasm("(module " + " ".join(funcs) + ")")


def assert_valid(path):
    data = open(path, "rb").read()
    read_module(data)
    wasmtime.Module(wasmtime.Engine(), data)      # raises if invalid
    return data


class Lines(io.TextIOBase):
    """A thread-safe text stream that keeps every line written to it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buf = ""
        self.lines = []

    def write(self, s):
        with self._lock:
            self._buf += s
            *done, self._buf = self._buf.split("\n")
            self.lines.extend(done)
        return len(s)

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def wait_for(self, predicate, timeout=TIMEOUT, what="a line"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.snapshot():
                if predicate(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s; output so far:\n"
                             + "\n".join(self.snapshot()))

    def reports(self, name):
        """Per-module result lines (print_outcome's first line) for a file name."""
        return [l for l in self.snapshot()
                if ": code " in l and l.split(": code ")[0].endswith(os.sep + name)]

    def errors(self):
        return [l for l in self.snapshot() if "error" in l.lower()]


def make_project(tmp_path, toml='paths = ["target/wasm32-*/release/*.wasm"]\n'):
    project = tmp_path / "project"
    project.mkdir()
    (project / "loom-post.toml").write_text(toml)
    return project


class Watching:
    """run_watch on a thread; stop() sets the stop event and joins."""

    def __init__(self, project, dirs=(), polling=False, debounce=0.1, rescan=RESCAN_EVERY):
        self.out = Lines()
        self.stop_event = threading.Event()
        self.result = []
        self.config = load_config(cwd=str(project))
        self.thread = threading.Thread(target=self._run,
                                       args=(dirs, polling, debounce, rescan), daemon=True)
        self.thread.start()
        self.out.wait_for(lambda l: l.startswith("watching "), what="'watching' line")

    def _run(self, dirs, polling, debounce, rescan):
        try:
            self.result.append(run_watch(list(dirs), self.config, polling=polling,
                                         debounce=debounce, stop_event=self.stop_event,
                                         out=self.out, err=self.out, rescan=rescan))
        except BaseException as e:      # surfaced by stop()
            self.result.append(e)

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=TIMEOUT)
        assert not self.thread.is_alive(), "watcher did not stop"
        assert self.result == [0], self.result


@pytest.fixture
def watching():
    started = []

    def start(*args, **kwargs):
        w = Watching(*args, **kwargs)
        started.append(w)
        return w
    yield start
    for w in started:
        if w.thread.is_alive():
            w.stop()


def code_sizes(line):
    """(before, after) from 'PATH: code B -> A bytes ...'."""
    text = line.split(": code ", 1)[1]
    before, rest = text.split(" -> ", 1)
    return int(before), int(rest.split(" ", 1)[0])


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_copied_module_is_optimized_once_and_own_writes_ignored(tmp_path, watching, polling):
    # never-grow = code: the module must be rewritten (the default guard would
    # keep this tiny module as it is, since CSE grows its gzip size).
    project = make_project(tmp_path, 'paths = ["target/wasm32-*/release/*.wasm"]\n'
                                     'never-grow = ["code"]\n')
    w = watching(project, polling=polling)
    mode = "polling" if polling else "inotify"
    assert any(l.startswith("watching ") and l.endswith(f"({mode})") for l in w.out.snapshot())

    release = project / RELEASE
    release.mkdir(parents=True)
    original = module_bytes()
    shutil.copy(_write(tmp_path / "m.wasm", original), release / "m.wasm")

    line = w.out.wait_for(lambda l: l in w.out.reports("m.wasm"), what="report for m.wasm")
    assert line.endswith("PASS")
    before, after = code_sizes(line)
    assert after < before, "the module was not rewritten, so own writes were not tested"
    data = assert_valid(release / "m.wasm")
    assert data != original and read_module(data).code_size == after
    # The rewrite (rename of our temp file) must not be taken for a new module:
    # wait past the debounce, a polling interval and a safety-net rescan.
    time.sleep(RESCAN_EVERY + 1.5)
    assert len(w.out.reports("m.wasm")) == 1, w.out.snapshot()
    assert not w.out.errors(), w.out.snapshot()
    assert not [n for n in os.listdir(release) if n.startswith(".loom-post-")]
    w.stop()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def _chunks(data, n=4):
    """Cut points inside sections, each checked not to be a readable module."""
    size = len(data)
    cuts = [size * k // n for k in range(1, n)]
    for cut in cuts:
        with pytest.raises(DecodeError):
            read_module(data[:cut])
    bounds = [0] + cuts + [size]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("how", ["one-handle", "reopened", "polling"])
def test_slowly_written_module_is_processed_once_when_complete(tmp_path, watching, how):
    project = make_project(tmp_path)
    release = project / RELEASE
    release.mkdir(parents=True)
    w = watching(project, polling=(how == "polling"), debounce=0.1)
    data = module_bytes(functions=8, seed=1)
    target = release / "slow.wasm"
    if how == "one-handle":
        with open(target, "wb") as f:
            for chunk in _chunks(data):
                f.write(chunk)
                f.flush()
                time.sleep(0.2)          # twice the debounce, with the file open
    else:
        for chunk in _chunks(data):    # closed between chunks: only the stable
            with open(target, "ab") as f:  # check and the parse grace protect it
                f.write(chunk)
            time.sleep(0.2)
    line = w.out.wait_for(lambda l: l in w.out.reports("slow.wasm"), what="report")
    before, after = code_sizes(line)
    assert before == read_module(data).code_size      # it read the complete module
    time.sleep(1.5)
    assert len(w.out.reports("slow.wasm")) == 1, w.out.snapshot()
    assert not w.out.errors(), w.out.snapshot()
    assert_valid(target)
    w.stop()


def _first_section_end(data):
    """Offset just past the first section: a prefix that is itself a valid module."""
    pos = 9
    size = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return pos + size


def test_writer_still_holding_the_file_open_is_waited_for(tmp_path, watching):
    """The first part alone is a valid module, and the writer pauses far longer
    than the debounce with the file still open: inotify's close-after-write is
    what says the module is complete (polling cannot know, see docs/watch.md)."""
    project = make_project(tmp_path)
    release = project / RELEASE
    release.mkdir(parents=True)
    w = watching(project, debounce=0.1)
    data = module_bytes(functions=6, seed=12)
    cut = _first_section_end(data)
    read_module(data[:cut])                       # premise: the prefix parses
    with open(release / "paused.wasm", "wb") as f:
        f.write(data[:cut])
        f.flush()
        time.sleep(1.2)
        f.write(data[cut:])
    line = w.out.wait_for(lambda l: l in w.out.reports("paused.wasm"), what="report")
    assert code_sizes(line)[0] == read_module(data).code_size
    time.sleep(1.0)
    assert len(w.out.reports("paused.wasm")) == 1, w.out.snapshot()
    assert_valid(release / "paused.wasm")
    w.stop()


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watched_tree_deleted_and_recreated(tmp_path, watching, polling):
    """Without the periodic safety-net scan: the watch itself must come back."""
    project = make_project(tmp_path)
    release = project / RELEASE
    release.mkdir(parents=True)
    w = watching(project, polling=polling, rescan=None)
    _write(release / "first.wasm", module_bytes(seed=2))
    w.out.wait_for(lambda l: l in w.out.reports("first.wasm"), what="report for first.wasm")

    for n in range(2):                   # `cargo clean` then a build, twice
        shutil.rmtree(project / "target")
        time.sleep(0.3)
        release.mkdir(parents=True)
        name = f"rebuilt{n}.wasm"
        _write(release / name, module_bytes(seed=3 + n))
        line = w.out.wait_for(lambda l: l in w.out.reports(name), what=f"report for {name}")
        assert line.endswith("PASS")
        assert_valid(release / name)
    assert not w.out.errors(), w.out.snapshot()
    w.stop()


def test_symlinked_target_directory_is_followed(tmp_path, watching):
    """target/ as a symlink to another disk (a common CARGO_TARGET_DIR setup)."""
    project = make_project(tmp_path)
    real = tmp_path / "elsewhere" / "target"
    real.mkdir(parents=True)
    os.symlink(real, project / "target")
    w = watching(project, rescan=None)
    release = project / RELEASE
    release.mkdir(parents=True)
    _write(release / "linked.wasm", module_bytes(seed=13))
    w.out.wait_for(lambda l: l in w.out.reports("linked.wasm"), what="report for linked")
    assert_valid(real / "wasm32-unknown-unknown" / "release" / "linked.wasm")
    w.stop()


def test_watch_and_concurrent_optimize_leave_a_valid_module(tmp_path, watching):
    project = make_project(tmp_path)
    release = project / RELEASE
    release.mkdir(parents=True)
    w = watching(project, debounce=0.05)
    data = module_bytes(functions=40, repeats=8, seed=5)
    expected = None
    for round_ in range(3):
        path = release / f"race{round_}.wasm"
        _write(path, data)
        procs = [subprocess.Popen([sys.executable, "-m", "loom_post", "optimize", str(path)],
                                  cwd=str(project), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, out + err
        w.out.wait_for(lambda l: l in w.out.reports(path.name), what=f"report for {path.name}")
        final = assert_valid(path)
        expected = expected or final
        assert final == expected          # every race ends in the same optimized module
        assert read_module(final).code_size < read_module(data).code_size
    assert not w.out.errors(), w.out.snapshot()
    w.stop()


def test_over_budget_and_unreadable_modules_are_reported_and_watching_goes_on(tmp_path,
                                                                              watching):
    project = make_project(tmp_path, toml=(
        'paths = ["target/wasm32-*/release/*.wasm"]\n'
        '[[module]]\npath = "target/wasm32-*/release/big.wasm"\nmax-code-size = "10 B"\n'))
    release = project / RELEASE
    release.mkdir(parents=True)
    w = watching(project)

    _write(release / "big.wasm", module_bytes(seed=6))
    w.out.wait_for(lambda l: l.startswith("FAIL") and "big.wasm" in l, what="FAIL line")
    assert w.out.reports("big.wasm")[0].endswith("FAIL")

    _write(release / "garbage.wasm", os.urandom(64) + b"not a module")
    w.out.wait_for(lambda l: "error" in l and "garbage.wasm" in l, what="error for garbage")

    _write(release / "next.wasm", module_bytes(seed=7))
    line = w.out.wait_for(lambda l: l in w.out.reports("next.wasm"), what="report for next")
    assert line.endswith("PASS")
    time.sleep(RESCAN_EVERY + 0.5)    # each is reported once, not on every rescan
    assert len([l for l in w.out.snapshot() if "garbage.wasm" in l]) == 1, w.out.snapshot()
    assert len([l for l in w.out.snapshot() if l.startswith("FAIL")]) == 1, w.out.snapshot()
    w.stop()


def test_dirs_on_the_command_line_watch_any_wasm(tmp_path, watching):
    project = make_project(tmp_path)
    out_dir = project / "pkg"
    w = watching(project, dirs=[str(out_dir)], rescan=None)   # does not exist yet
    assert any("not created yet" in l for l in w.out.snapshot())
    (out_dir / "nested").mkdir(parents=True)
    _write(out_dir / "nested" / "app_bg.wasm", module_bytes(seed=8))
    _write(out_dir / "notes.txt", b"not a module, not a .wasm")
    w.out.wait_for(lambda l: l in w.out.reports("app_bg.wasm"), what="report for app_bg")
    assert not w.out.errors(), w.out.snapshot()
    w.stop()


# -- the command line ----------------------------------------------------------

class Proc:
    """A `python -m loom_post watch` subprocess whose output lines are collected."""

    def __init__(self, args, cwd, prefix=()):
        self.out = Lines()
        self.p = subprocess.Popen(list(prefix) + [sys.executable, "-m", "loom_post", "watch",
                                                  *args],
                                  cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=dict(os.environ, PYTHONPATH=ROOT))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.out.write(line)

    def finish(self, sig):
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(tmp_path, sig):
    project = make_project(tmp_path)
    release = project / RELEASE
    proc = Proc(["--debounce", "0.1"], cwd=str(project))
    try:
        proc.out.wait_for(lambda l: l.startswith("watching target"), what="'watching' line")
        release.mkdir(parents=True)
        _write(release / "cli.wasm", module_bytes(seed=9))
        proc.out.wait_for(lambda l: "cli.wasm: code" in l, what="report for cli.wasm")
        rc = proc.finish(sig)
    finally:
        proc.kill()
    lines = proc.out.snapshot()
    assert rc == 0, lines
    assert "loom-post: watch: stopped" in lines
    assert not any("Traceback" in l for l in lines), lines


def _unshare_prefix(limit, value):
    """A command prefix that runs the rest in a new user namespace whose inotify
    `limit` (max_inotify_instances / max_inotify_watches) is `value`."""
    unshare = shutil.which("unshare")
    if not unshare:
        pytest.skip("unshare(1) not installed")
    script = f'echo {value} > /proc/sys/user/{limit} && exec "$@"'
    probe = subprocess.run([unshare, "--user", "--map-root-user", "sh", "-c", script, "sh",
                            "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot lower {limit} in a user namespace here: {probe.stderr.strip()}")
    return [unshare, "--user", "--map-root-user", "sh", "-c", script, "sh"]


@pytest.mark.parametrize("limit", ["max_inotify_instances", "max_inotify_watches"])
def test_falls_back_to_polling_when_inotify_limit_is_reached(tmp_path, limit):
    """A real kernel limit, lowered to 0 in a private user namespace only."""
    prefix = _unshare_prefix(limit, 0)
    project = make_project(tmp_path)
    release = project / RELEASE
    release.mkdir(parents=True)
    proc = Proc(["--debounce", "0.1"], cwd=str(project), prefix=prefix)
    try:
        proc.out.wait_for(lambda l: l.startswith("watching target"), what="'watching' line")
        lines = proc.out.snapshot()
        notice = [l for l in lines if "falling back to polling" in l]
        assert len(notice) == 1, lines
        assert any(l.startswith("watching target") and l.endswith("(polling)") for l in lines)
        _write(release / "fallback.wasm", module_bytes(seed=10))
        proc.out.wait_for(lambda l: "fallback.wasm: code" in l, what="report after fallback")
        rc = proc.finish(signal.SIGTERM)
    finally:
        proc.kill()
    assert rc == 0, proc.out.snapshot()


def test_rescan_finds_modules_in_directories_inotify_could_not_watch(tmp_path):
    """With one inotify watch allowed, target/ is watched but its subdirectories
    are not (watchdog skips them silently): the periodic scan still finds the module."""
    prefix = _unshare_prefix("max_inotify_watches", 1)
    project = make_project(tmp_path)
    release = project / RELEASE
    release.mkdir(parents=True)
    proc = Proc(["--debounce", "0.1"], cwd=str(project), prefix=prefix)
    try:
        proc.out.wait_for(lambda l: l.startswith("watching target"), what="'watching' line")
        assert any(l.endswith("(inotify)") for l in proc.out.snapshot())
        _write(release / "unwatched.wasm", module_bytes(seed=11))
        proc.out.wait_for(lambda l: "unwatched.wasm: code" in l, what="report from the rescan")
        rc = proc.finish(signal.SIGTERM)
    finally:
        proc.kill()
    assert rc == 0, proc.out.snapshot()


@pytest.mark.parametrize("args,needle", [
    (["--debounce", "soon"], "invalid float value"),
    (["--debounce", "-1"], "--debounce"),
    (["--config", "missing.toml"], "missing.toml"),
])
def test_bad_usage_exits_2_without_traceback(tmp_path, monkeypatch, capsys, args, needle):
    project = make_project(tmp_path)
    _write(project / "file.wasm", module_bytes())
    monkeypatch.chdir(project)
    assert cli.main(["watch", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_a_file_given_as_dir_is_a_usage_error(tmp_path, monkeypatch, capsys):
    project = make_project(tmp_path)
    _write(project / "file.wasm", module_bytes())
    monkeypatch.chdir(project)
    assert cli.main(["watch", "file.wasm"]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.corpus
def test_a_module_rewritten_while_watch_optimizes_it_is_left_alone_then_redone(
        tmp_path, watching, corpus):
    big = os.path.join(os.path.dirname(corpus[0]), "resvg.wasm")
    if not os.path.exists(big):
        pytest.skip("resvg.wasm not in the corpus")
    # never-grow = code: the redone module must be rewritten (see above).
    project = make_project(tmp_path, 'paths = ["target/wasm32-*/release/*.wasm"]\n'
                                     'never-grow = ["code"]\n')
    release = project / RELEASE
    release.mkdir(parents=True)
    w = watching(project)
    target = release / "m.wasm"
    shutil.copy(big, tmp_path / "staged.wasm")
    os.rename(tmp_path / "staged.wasm", target)     # complete at once
    deadline = time.monotonic() + 60
    while not _holds_open(target) and time.monotonic() < deadline:
        time.sleep(0.01)                           # the watcher's lock on it
    assert _holds_open(target), w.out.snapshot()
    time.sleep(0.5)
    new = module_bytes(functions=6, seed=3)
    with open(target, "r+b") as f:                 # rewritten in place, as `cat >` does
        f.truncate(0)
        f.write(new)
    w.out.wait_for(lambda l: "changed while being optimized; left alone" in l, timeout=300,
                   what="the left-alone error")
    line = w.out.wait_for(lambda l: l in w.out.reports("m.wasm"), timeout=60,
                          what="a report for the new module")
    before, after = code_sizes(line)
    assert before == read_module(new).code_size and after < before
    assert read_module(assert_valid(target)).code_size == after
    w.stop()


def _holds_open(path):
    fd_dir = f"/proc/{os.getpid()}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == str(path):
                return True
        except OSError:
            pass
    return False
