"""`loom-post watch`: optimize and gate every module a build writes, as it writes it.

`loom-post watch [DIR...]` watches the configured build outputs (the directories
the `paths` globs start in, e.g. target/) or the DIRs given (any *.wasm under
them), and runs the same pipeline as `loom-post optimize` on each module once it
is completely written, printing one line per module. Modules already there at
start are processed once. A module over budget prints a `FAIL` line and a module
that cannot be read an error line; watching goes on either way. Ctrl-C or
SIGTERM stops it with exit status 0.

Only the configured `profiles` are touched (default: release; a module under
`<triple>/debug/` found in a DIR is left alone, said once). A module in cargo's
`deps/` is known by its artifact path, as on every other route. A configuration
error at start is one line and exit status 2; the configuration file is re-read
when it changes (or appears), and a broken edit is one error line while the
previous configuration stays in force. A baseline file that does not exist yet
is a note, not an error.

The machinery (what is watched, debouncing, ignoring its own writes, surviving
`cargo clean`, falling back to polling) lives in loom_post/watcher.py.
`run_watch` is the entry point both the CLI and in-process tests use.
"""

import math
import os
import signal
import sys
import threading
import time

from loom_post import exitcodes
from loom_post.budget.cargo_layout import profile_of, profile_selected, uplifted
from loom_post.budget.config import find_config, load_config
from loom_post.errors import ConfigError, LoomPostError, print_error
from loom_post.integrations.watcher import RESCAN_EVERY, ModuleWatcher, Selection
from loom_post.postlink import optimize_one
from loom_post.report.outcomes import render_text

DEFAULT_DEBOUNCE = 0.3


def add_parser(sub):
    p = sub.add_parser("watch", help="optimize and check modules whenever a build writes them")
    p.add_argument("dirs", nargs="*", metavar="DIR",
                   help="watch these directories for *.wasm (default: the directories "
                        "the configured `paths` globs start in)")
    p.add_argument("--polling", action="store_true",
                   help="poll the file system instead of using inotify")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    p.add_argument("--debounce", type=float, default=DEFAULT_DEBOUNCE, metavar="SECONDS",
                   help="quiet time a module needs before it is read (default: %(default)s)")
    p.add_argument("--keep-dwarf", action="store_true",
                   help="keep DWARF (.debug_*) sections even when code changes")
    p.set_defaults(func=run)


def run(args):
    if not math.isfinite(args.debounce) or args.debounce < 0:
        raise ConfigError(f"--debounce must be a number of seconds >= 0, not {args.debounce}")
    config = load_config(args.config)
    for d in args.dirs:
        if os.path.exists(d) and not os.path.isdir(d):
            raise ConfigError(f"not a directory", path=d)
    stop = threading.Event()
    with _stop_on_signals(stop):
        return run_watch(args.dirs, config, polling=args.polling, debounce=args.debounce,
                         stop_event=stop, out=sys.stdout, err=sys.stderr,
                         keep_dwarf=args.keep_dwarf, config_file=args.config)


class _stop_on_signals:
    """SIGINT/SIGTERM set `stop` (the loop then ends cleanly); a second one interrupts."""

    def __init__(self, stop):
        self.stop = stop
        self.previous = {}

    def _handler(self, signum, frame):
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self.previous.items():
            signal.signal(sig, old)
        return False


def _display(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class LiveConfig:
    """The configuration in force, re-read when its file changes or appears."""

    EVERY = 0.5     # seconds between looks: discovery may parse a pyproject.toml

    def __init__(self, config, config_file=None):
        self.config = config
        self.file = config_file
        self.seen = self._signature()
        self.looked = time.monotonic()

    def _where(self):
        return self.file or self.config.path or find_config(self.config.root)

    def _signature(self):
        try:
            path = self._where()
            st = os.stat(path) if path else None
        except (OSError, LoomPostError):
            return None
        return path, st and (st.st_ino, st.st_size, st.st_mtime_ns)

    def poll(self, say_err):
        """A new Config when the file changed and reads cleanly, else None."""
        if time.monotonic() - self.looked < self.EVERY:
            return None
        self.looked = time.monotonic()
        sig = self._signature()
        if sig == self.seen:
            return None
        self.seen = sig
        try:
            config = load_config(self.file, cwd=self.config.root)
        except LoomPostError as e:
            print_error(f"{e} (the previous configuration stays in force)", say_err)
            say_err.flush()
            return None
        self.config = config
        say_err.write(f"loom-post: watch: configuration reloaded ({config.describe()})\n")
        say_err.flush()
        return config


def _say(stream, line):
    stream.write(line + "\n")
    stream.flush()


class _Processor:
    """What watch does with a module (or component) once it is complete: the
    one pipeline (optimize_one), then its lines and any FAIL lines. Returns the
    bytes it left in the file (None when it left nothing of its own)."""

    def __init__(self, live, keep_dwarf, out, err):
        self.live, self.keep_dwarf, self.out, self.err = live, keep_dwarf, out, err
        self.left_alone = set()

    def __call__(self, path, data):
        shown = _display(path)
        identity = _display(uplifted(path))
        profiles = self.live.config.profiles
        if not profile_selected(identity, profiles):
            if identity not in self.left_alone:
                self.left_alone.add(identity)
                _say(self.err, f"loom-post: watch: {identity}: left as built "
                               f"({profile_of(identity)} build; profiles = {list(profiles)})")
            return None
        try:
            outcome = optimize_one(shown, self.live.config, identity=identity,
                                   keep_dwarf=self.keep_dwarf, first_run=True,
                                   dwarf_hint="--keep-dwarf")
        except LoomPostError as e:  # e.g. a baseline file that became unreadable
            return self._error(e)
        except Exception as e:      # a bug must not end a long-running watch
            return self._error(f"{shown}: internal error: {type(e).__name__}: {e}")
        for one in [outcome] + outcome.parts:   # a component's core modules follow it
            render_text(one, self.out)
        if outcome.error:
            return self._error(outcome.error)
        for one in [outcome] + outcome.parts:
            if one.verdict is not None and one.verdict.status == "fail":
                failed = [b.kind for b in one.verdict.budgets if b.status == "fail"]
                name = shown if one is outcome else one.path
                _say(self.out, f"FAIL {name}: over budget ({', '.join(failed)})")
        self.out.flush()
        return outcome.result.data

    def _error(self, error):
        print_error(error, self.err)
        self.err.flush()
        return None


def run_watch(dirs, config, polling=False, debounce=DEFAULT_DEBOUNCE, stop_event=None,
              out=None, err=None, started=None, rescan=RESCAN_EVERY, keep_dwarf=False,
              config_file=None):
    """Watch until `stop_event` is set; returns the exit status (0).

    `out` gets the per-module lines and `FAIL` lines, `err` the notices and error
    lines (both default to stdout/stderr; pass the same stream to get one log).
    `started`, if given, is called once the watches are armed (tests wait on it).
    `rescan`: seconds between safety-net scans of the globs (None: only when a
    watch is (re)armed or a directory appears).
    `config_file`: the --config file, re-read when it changes (else the
    configuration is rediscovered from its directory).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    stop_event = stop_event or threading.Event()

    say = _say
    live = LiveConfig(config, config_file)
    process = _Processor(live, keep_dwarf, out, err)

    def report_error(path, message):
        print_error(f"{_display(path)}: {message}", err)
        err.flush()

    def on_started(targets, mode):
        for t in targets:
            what = "*.wasm" if dirs else t.label
            missing = "" if os.path.isdir(t.path) else ", not created yet"
            say(out, f"watching {_display(t.path)} for {what}{missing} ({mode})")
        if started is not None:
            started(targets, mode)

    def reload():
        new = live.poll(err)
        return None if new is None else Selection(new, dirs)

    selection = Selection(config, dirs)
    watcher = ModuleWatcher(selection, process, report_error, debounce=debounce,
                            polling=polling, notice=lambda line: say(err, line),
                            rescan=rescan, reload=reload)
    watcher.run(stop_event, started=on_started)
    say(err, "loom-post: watch: stopped")
    return exitcodes.OK
