"""`loom-post watch`: optimize and gate every module a build writes, as it writes it.

`loom-post watch [DIR...]` watches the configured build outputs (the directories
the `paths` globs start in, e.g. target/) or the DIRs given (any *.wasm under
them), and runs the same pipeline as `loom-post optimize` on each module once it
is completely written, printing one line per module. Modules already there at
start are processed once. A module over budget prints a `FAIL` line and a module
that cannot be read an error line; watching goes on either way. Ctrl-C or
SIGTERM stops it with exit status 0.

The machinery (what is watched, debouncing, ignoring its own writes, surviving
`cargo clean`, falling back to polling) lives in loom_post/watcher.py.
`run_watch` is the entry point both the CLI and in-process tests use.
"""

import math
import os
import signal
import sys
import threading

from loom_post import exitcodes
from loom_post.budget.config import load_config
from loom_post.errors import ConfigError, print_error
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
                         stop_event=stop, out=sys.stdout, err=sys.stderr)


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


def run_watch(dirs, config, polling=False, debounce=DEFAULT_DEBOUNCE, stop_event=None,
              out=None, err=None, started=None, rescan=RESCAN_EVERY):
    """Watch until `stop_event` is set; returns the exit status (0).

    `out` gets the per-module lines and `FAIL` lines, `err` the notices and error
    lines (both default to stdout/stderr; pass the same stream to get one log).
    `started`, if given, is called once the watches are armed (tests wait on it).
    `rescan`: seconds between safety-net scans of the globs (None: only when a
    watch is (re)armed or a directory appears).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    stop_event = stop_event or threading.Event()

    def say(stream, line):
        stream.write(line + "\n")
        stream.flush()

    def process(path, data):
        shown = _display(path)
        try:
            outcome = optimize_one(shown, config)
        except Exception as e:      # a bug must not end a long-running watch
            print_error(f"{shown}: internal error: {type(e).__name__}: {e}", err)
            err.flush()
            return None
        render_text(outcome, out)
        if outcome.error:
            print_error(outcome.error, err)
            err.flush()
            return None
        if outcome.verdict is not None and outcome.verdict.status == "fail":
            failed = [b.kind for b in outcome.verdict.budgets if b.status == "fail"]
            say(out, f"FAIL {shown}: over budget ({', '.join(failed)})")
        out.flush()
        return outcome.result.data

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

    selection = Selection(config, dirs)
    watcher = ModuleWatcher(selection, process, report_error, debounce=debounce,
                            polling=polling, notice=lambda line: say(err, line),
                            rescan=rescan)
    watcher.run(stop_event, started=on_started)
    say(err, "loom-post: watch: stopped")
    return exitcodes.OK
