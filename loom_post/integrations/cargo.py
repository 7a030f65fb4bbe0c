"""`loom-post cargo ARGS...`: run cargo, then optimize and gate the .wasm it built.

    loom-post cargo [--loom-config FILE] [--loom-format text|json] [--loom-keep-dwarf] ARGS...

cargo runs with ARGS plus `--message-format=json-render-diagnostics`, so its
stderr (progress, rendered diagnostics) streams through untouched while its
stdout is a JSON message stream; the `.wasm` files of `compiler-artifact`
messages are then handed, in build order and once each, to the same pipeline
as `loom-post optimize`, which prints one summary. Lines on cargo's stdout that
are not JSON messages pass through.

Why `--loom-` options: everything else belongs to cargo, which has none by that
name, so they may stand anywhere before a `--`. The configuration is, in order:
`--loom-config FILE`, `$LOOM_POST_CONFIG`, else loom-post.toml found upwards from
the `--manifest-path` directory (or the current one).

cargo is `$CARGO` when set (cargo sets it for `cargo loom-post`), else `cargo` on
PATH. When cargo fails, nothing is optimized and cargo's exit status is ours.

Only modules of the configured `profiles` (default: release) are optimized and
gated; the others (a plain `cargo build` is a debug build) are left as cargo
built them, with one line saying so. A configured baseline file that does not
exist yet is a note naming `loom-post baseline`, not an error: the build's
report is still printed and the other budgets still apply.
`--version` (alone) prints loom-post's version, `--help` this text.
"""

import argparse
import os
import shutil
import subprocess
import sys

from loom_post import __version__, exitcodes
from loom_post.budget.cargo_layout import profile_of, profile_selected
from loom_post.integrations.cargo_messages import Collector, split_args, with_json_messages
from loom_post.budget.config import load_config
from loom_post.errors import ConfigError
from loom_post.postlink import exit_status, optimize_paths
from loom_post.report.outcomes import print_report

USAGE = "loom-post cargo [--loom-config FILE] [--loom-format text|json] [--loom-keep-dwarf] ARGS..."
HELP = __doc__.split("\n\n", 2)[2]


class Options:
    def __init__(self):
        self.config = os.environ.get("LOOM_POST_CONFIG") or None
        self.format = "text"
        self.keep_dwarf = False
        self.cargo_args = []


def parse(argv):
    """Split loom-post's `--loom-*` options from cargo's arguments."""
    opts = Options()
    head, tail = split_args(argv)
    end, i = len(head), 0
    while i < end:
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in ("--loom-config", "--loom-format"):
            if not eq:
                if i + 1 >= end:
                    raise ConfigError(f"{name} needs a value")
                value = argv[i + 1]
                i += 1
            if name == "--loom-config":
                opts.config = value
            elif value in ("text", "json"):
                opts.format = value
            else:
                raise ConfigError(f"--loom-format: expected text or json, not {value!r}")
        elif arg == "--loom-keep-dwarf":
            opts.keep_dwarf = True
        elif arg.startswith("--loom-"):
            raise ConfigError(f"unknown option {arg} (usage: {USAGE})")
        else:
            opts.cargo_args.append(arg)
        i += 1
    opts.cargo_args.extend(tail)
    return opts


def find_cargo():
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        raise ConfigError("cannot find cargo: it is not on PATH and $CARGO is not set")
    return cargo


def manifest_dir(cargo_args):
    """The directory of `--manifest-path`, where configuration discovery starts."""
    head = split_args(cargo_args)[0]
    for i, arg in enumerate(head):
        if arg == "--manifest-path" and i + 1 < len(head):
            return os.path.dirname(os.path.abspath(head[i + 1]))
        if arg.startswith("--manifest-path="):
            return os.path.dirname(os.path.abspath(arg.split("=", 1)[1]))
    return None


def _passthrough(raw):
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(raw)
        buffer.flush()
    else:
        sys.stdout.write(raw.decode("utf-8", "replace"))
        sys.stdout.flush()


def run_cargo(cargo, args, user_wants_json):
    """Run cargo; return (exit status, .wasm artifacts in build order)."""
    collector = Collector()
    try:
        proc = subprocess.Popen([cargo] + args, stdout=subprocess.PIPE)
    except FileNotFoundError:
        raise ConfigError(f"cannot run cargo: {cargo}: no such file")
    except PermissionError:
        raise ConfigError(f"cannot run cargo: {cargo}: permission denied")
    try:
        for raw in proc.stdout:
            msg = collector.feed(raw.decode("utf-8", "replace"))
            if msg is None or user_wants_json:
                _passthrough(raw)
    finally:
        proc.stdout.close()
        status = proc.wait()
    if status < 0:  # killed by a signal: report it the way a shell would
        status = 128 - status
    return status, collector.paths


def run_argv(argv):
    argv = list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(f"usage: {USAGE}\n\n{HELP}")
        return exitcodes.OK
    if argv in (["--version"], ["-V"]):
        print(f"loom-post {__version__}")
        return exitcodes.OK
    opts = parse(argv)
    if not opts.cargo_args:
        raise ConfigError(f"no cargo command given (usage: {USAGE})")
    config = load_config(opts.config, cwd=manifest_dir(opts.cargo_args))
    cargo_args, user_wants_json = with_json_messages(opts.cargo_args)
    status, paths = run_cargo(find_cargo(), cargo_args, user_wants_json)
    if status != 0:
        return status
    if not paths:
        print("loom-post: cargo built no .wasm files (build with --target wasm32-unknown-unknown?)",
              file=sys.stderr)
        return exitcodes.OK
    # With the user's JSON on stdout, the report must not interleave with it.
    out = sys.stderr if user_wants_json else sys.stdout
    paths = [p for p in paths if _selected(p, config)]
    if not paths:
        return exitcodes.OK
    outcomes = optimize_paths(paths, config, keep_dwarf=opts.keep_dwarf, first_run=True,
                              dwarf_hint="--loom-keep-dwarf")
    status = exit_status(outcomes)
    print_report(outcomes, status, fmt=opts.format, out=out)
    return status


def _selected(path, config):
    """Whether `path` is in a profile the configuration selects; says so when not."""
    if profile_selected(path, config.profiles):
        return True
    print(f"loom-post: {path}: left as built ({profile_of(path)} build; the configured "
          f"profiles are {', '.join(config.profiles)}: set profiles = [...] in "
          f"{os.path.basename(config.path or 'loom-post.toml')} to include it)",
          file=sys.stderr)
    return False
