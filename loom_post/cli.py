"""The `loom-post` command line: one sub-command per module in commands/.

Every command module has `add_parser(subparsers)` and `run(args) -> int`. Errors a
user can cause are LoomPostError subclasses and become one `loom-post: error:`
line and an exit code, never a traceback.
"""

import argparse
import contextlib
import gc
import importlib
import signal
import sys
import threading

from loom_post import __version__
from loom_post import exitcodes
from loom_post.errors import ConfigError, DecodeError, LoomPostError, print_error
from loom_post.report import terminal

COMMANDS = ("inspect", "optimize", "check", "baseline", "diff", "cargo", "watch",
            "history", "schema", "report")

# What `loom-post --help` tells a user (the docstring above is for developers).
DESCRIPTION = """\
Shrink the .wasm files of a Rust WebAssembly build safely, and fail the build when
one grows past its size budget."""

EPILOG = """\
examples:
  loom-post cargo build --release --target wasm32-unknown-unknown
                                   build, then optimize and gate every .wasm cargo wrote
  loom-post check                  gate the modules the configured `paths` globs match
  loom-post optimize pkg/app_bg.wasm
                                   optimize one module in place, then gate it
  loom-post baseline               record today's sizes for growth budgets
  loom-post inspect app.wasm       the largest functions and sections

Budgets and globs are read from loom-post.toml or [tool.loom-post] in pyproject.toml,
found by searching upwards (`--config FILE` names one). `loom-post COMMAND --help`
describes a command.

exit status: 0 within budget, 1 a budget was exceeded, 2 bad usage or configuration,
3 an input module could not be read (left untouched), 70 an internal error."""


class _Version(argparse.Action):
    """`--version`: the version and which build runs (native.describe), worked
    out only when asked: it reads the hot modules' sources."""

    def __call__(self, parser, namespace, values, option_string=None):
        from loom_post import native
        print(f"loom-post {__version__} ({native.describe()})")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of exiting the interpreter."""

    def error(self, message):
        self.print_usage(sys.stderr)
        raise ConfigError(message)


def build_parser(only=None):
    """The whole parser, or with `only` (a command name) just that command's:
    importing every command (and through them the passes, the budgets and the
    reports) would cost more start-up than a small module's whole run."""
    parser = _Parser(prog="loom-post", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show loom-post's version and build, and exit")
    terminal.add_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in (only,) if only in COMMANDS else COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        module.add_parser(sub)
    for command_parser in sub.choices.values():
        terminal.add_options(command_parser, nested=True)
    parser.commands = sub.choices   # name -> the sub-command's parser
    return parser


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C so temporary files are removed."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# SIGHUP does not exist on Windows.
_UNWIND_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_unwind():
    """SIGTERM/SIGHUP raise Terminated for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, _raise_terminated) for s in _UNWIND_SIGNALS}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _start_up(program):
    """The command's imports without the cyclic collector, and what they built
    frozen out of its reach (gc.freeze): modules, classes and functions live
    as long as the process, yet every collection, and the one at exit, walked
    them again; ~8% of a warm run's instructions. Only when loom-post is the
    program (`program`): freezing is process-wide, and a caller's (a test's)
    garbage would never be collected."""
    if not program or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main(argv=None):
    program = argv is None
    argv = sys.argv[1:] if program else list(argv)
    with _signals_unwind():
        return _main(argv, program)


def _main(argv, program=False):
    try:
        with _start_up(program):
            parser = build_parser(argv[0] if argv else None)
        # `loom-post cargo ARGS...` hands everything after `cargo` to cargo.
        if argv and argv[0] == "cargo":
            from loom_post.integrations.cargo import run_argv
            return run_argv(argv[1:])
        args, extra = parser.parse_known_args(argv)
        if extra:  # the usage of the command the option was given to
            before = argv[:argv.index(args.command)] if args.command in argv else []
            owner = parser if extra[0] in before else parser.commands[args.command]
            owner.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except SystemExit as e:  # --help / --version
        return e.code if isinstance(e.code, int) else 0
    except LoomPostError as e:
        print_error(e)
        return e.exit_code
    except DecodeError as e:
        print_error(e)
        return exitcodes.BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Terminated as e:
        return 128 + e.signum
    except BrokenPipeError:
        return exitcodes.OK
    except Exception as e:  # a bug: one line, its own exit code, never 1
        print_error(f"internal error: {type(e).__name__}: {e} "
                    f"(please report it with the module that caused it)")
        return exitcodes.INTERNAL
