"""Terminal manners shared by every command: `--quiet` and `--verbose`, colour
for pass/warn/fail, and a progress line for long runs.

Colour follows the conventions other tools follow (no-color.org,
force-color.org), in Python 3.13's order: a non-empty NO_COLOR turns it off,
else a non-empty FORCE_COLOR (other than "0" or "false") turns it on even when
piped, else it is on only for a terminal that is not TERM=dumb. Machine
formats (JSON, Markdown, GitHub annotations) are never coloured.

The progress line goes to stderr, only when stderr is a terminal and the run
is not --quiet, and only once the run has taken longer than a moment
(LOOM_POST_PROGRESS_DELAY seconds, default 0.5): a quick run leaves no trace,
and the line is erased before anything else is printed.
"""

import argparse
import os
import re
import sys
import time

_SGR = {"pass": "32", "warn": "33", "fail": "1;31", "dim": "2"}
_STATUS = re.compile(r"(?<=: |; )(PASS|pass|WARN|warn|FAIL|fail)(?=$| \()", re.MULTILINE)
_OVER = re.compile(r"(\d+ over budget|over budget:|unreadable)")
_WITHIN = re.compile(r"(all within budget)")


def add_options(parser, nested=False):
    """-q/--quiet and -v/--verbose, accepted before and after the command name
    (`nested`: a sub-command's parser, which must not reset what the main
    parser already read)."""
    default = argparse.SUPPRESS if nested else False
    group = parser.add_argument_group("output") if not nested else parser
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="print nothing on stdout unless something is wrong "
                            "(errors still go to stderr); no progress line")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="also say on stderr which configuration and modules were "
                            "used and how long each module took")


def quiet(args):
    return bool(getattr(args, "quiet", False))


def verbose(args):
    return bool(getattr(args, "verbose", False)) and not quiet(args)


def colour_enabled(stream, environ=None):
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force:
        return force.lower() not in ("0", "false")
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text, state):
    return f"\x1b[{_SGR[state]}m{text}\x1b[0m"


def paint_report(text):
    """A text report with its pass/warn/fail words and its headline coloured."""
    def status(m):
        return paint(m.group(1), m.group(1).lower())
    text = _STATUS.sub(status, text)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(("check: ", "  over budget: ")):
            line = _OVER.sub(lambda m: paint(m.group(1), "fail"), line)
            lines[i] = _WITHIN.sub(lambda m: paint(m.group(1), "pass"), line)
    return "\n".join(lines)


def emit_report(text, args, failed, stream=None):
    """Write a text report the way the options ask: nothing when --quiet and
    all is well, colour when the stream and the environment allow it."""
    stream = stream or sys.stdout
    if quiet(args) and not failed:
        return
    stream.write(paint_report(text) if colour_enabled(stream) else text)
    stream.flush()


def note(args, message, stream=None):
    """A --verbose line on stderr."""
    if verbose(args):
        print(f"loom-post: {message}", file=stream or sys.stderr)


class Progress:
    """`[3/14] check photon.wasm` on one rewritten stderr line."""

    def __init__(self, args, total, verb, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.verb, self.done = total, verb, 0
        self.args = args
        self.start = self.last = time.monotonic()
        self.shown = False
        try:
            self.delay = float(os.environ.get("LOOM_POST_PROGRESS_DELAY", "0.5"))
        except ValueError:
            self.delay = 0.5
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.enabled = tty and not quiet(args) and total > 0

    def step(self, label):
        """About to work on `label` (a module path)."""
        self.done += 1
        self.last = time.monotonic()
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        width = 70
        if len(label) > width:
            label = "..." + label[-(width - 3):]
        self.stream.write(f"\r\x1b[K[{self.done}/{self.total}] {self.verb} {label}")
        self.stream.flush()
        self.shown = True

    def finished(self, label):
        """Done with `label`: with --verbose, say how long it took."""
        if verbose(self.args):
            self.clear()
            now = time.monotonic()
            note(self.args, f"{label}: {self.verb} took {now - self.last:.2f} s", self.stream)
            self.last = now

    def clear(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
