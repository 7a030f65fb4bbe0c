"""`loom-post optimize`: rewrite modules in place with the chosen passes, then
gate them against their budgets."""

import io
import os
import stat
import sys

from loom_post.budget.config import load_config, require_paths
from loom_post.budget.gate import require_baselines
from loom_post.budget.lint import add_strict, review
from loom_post.errors import ConfigError
from loom_post.fileio import kind_of
from loom_post.passes import PASSES, UnknownPass, resolve
from loom_post.postlink import exit_status, optimize_paths
from loom_post.report.outcomes import print_report
from loom_post.report.terminal import Progress, emit_report, note


def add_parser(sub):
    p = sub.add_parser("optimize", help="optimize modules in place and check their budgets")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="modules to optimize (default: the configured `paths` globs)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the result here (one input only)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    p.add_argument("--passes", metavar="NAME,...",
                   help="the passes to run, in order (default: the configured `passes`, "
                        "else every pass that is on by default); see --list-passes")
    p.add_argument("--list-passes", action="store_true",
                   help="list the passes with one line on what each does, and exit")
    p.add_argument("--keep-dwarf", action="store_true",
                   help="keep .debug_* sections even though changed code makes them stale")
    p.add_argument("--never-grow", metavar="MEASURE,...",
                   help="the sizes the optimizer may never grow, among code, file, gzip, "
                        "brotli (code is always included; default: the configured "
                        "`never-grow`, else all of them)")
    p.add_argument("--optimize-for", choices=("code", "gzip", "brotli"), default=None,
                   help="the size that wins when rewrites trade one against another, as "
                        "long as no never-grow size grows (default: the configured "
                        "`optimize-for`, else code)")
    p.add_argument("--gzip", action="store_true",
                   help="also report gzip -9 sizes (~0.1 s per MB; reported anyway when gzip "
                        "is guarded, the default, or optimized for, or a gzip budget applies)")
    p.add_argument("--brotli", action="store_true",
                   help="also report brotli q11 sizes (~5 s per MB; measured anyway when "
                        "brotli is guarded and rewrites survive, or a brotli budget applies)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes for large modules (default: one per idle CPU)")
    p.add_argument("--no-cache", action="store_true",
                   help="neither reuse nor record results in the cache (config key `cache`)")
    add_strict(p)
    p.set_defaults(func=run)


def list_passes(out):
    for name, p in PASSES.items():
        on = "on by default" if p.default else "off by default"
        out.write(f"{name:<20} {p.summary} ({on})\n")


def parse_passes(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    try:
        resolve(names)
    except UnknownPass as e:
        raise ConfigError(f"--passes: {e}")
    return names


def _asked(args):
    """The compressed sizes asked for on the command line."""
    return tuple(m for m, on in (("gzip", args.gzip), ("brotli", args.brotli)) if on)


def run(args):
    if args.list_passes:
        list_passes(sys.stdout)
        return 0
    passes = parse_passes(args.passes) if args.passes is not None else None
    never_grow = parse_never_grow(args.never_grow) if args.never_grow is not None else None
    config = load_config(args.config)
    review(config, args.paths, strict=args.strict)
    if args.no_cache:
        config.cache = False
    paths = require_paths(config, args.paths)
    if args.output and len(paths) != 1:
        raise ConfigError("-o/--output takes exactly one input module")
    if args.output:
        out_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(out_dir):
            raise ConfigError(f"-o/--output: directory {out_dir} does not exist")
        check_output(args.output)
    require_baselines(config, paths)  # before any module is rewritten
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs takes a number >= 1")
    note(args, f"configuration: {config.describe()}; {len(paths)} module(s)")
    progress = Progress(args, len(paths), "optimizing")
    outcomes = []
    for path in paths:
        progress.step(path)
        outcomes += optimize_paths([path], config, output=args.output,
                                   keep_dwarf=args.keep_dwarf, jobs=args.jobs, passes=passes,
                                   never_grow=never_grow, optimize_for=args.optimize_for,
                                   measures=_asked(args))
        progress.finished(path)
    progress.clear()
    return report(outcomes, args.format, args)


def parse_never_grow(text):
    from loom_post.sizes import guarded_measures, parse_measures
    try:
        return guarded_measures(parse_measures(text, "--never-grow"))
    except ValueError as e:
        raise ConfigError(f"--never-grow {text}: {e}")


def check_output(path):
    """-o must name a regular file or a path that does not exist yet: a device,
    FIFO, socket or directory is never replaced by a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError(f"-o/--output {path}: {e.strerror or e}")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"-o/--output {path}: not a regular file ({kind_of(st.st_mode)}); "
                          f"name a file or a new path")


def report(outcomes, fmt="text", args=None):
    status = exit_status(outcomes)
    if fmt != "text" or args is None:
        print_report(outcomes, status, fmt)
        return status
    buffer = io.StringIO()
    print_report(outcomes, status, fmt, out=buffer)
    emit_report(buffer.getvalue(), args, status != 0)
    return status
