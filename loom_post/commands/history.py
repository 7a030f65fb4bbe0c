"""`loom-post history`: how each module's sizes changed, commit by commit, read
from the committed baseline file's git log (`git log -- FILE`, then `git show
COMMIT:FILE` for each commit). Nothing is built or measured.

Text (a table per module), JSON (`"version": 1`) and `--svg OUT.svg` (a small
self-contained line chart). A commit whose file is not a readable baseline
(deleted, or broken by hand) is skipped with a one-line note.
"""

from __future__ import annotations

import sys

from loom_post import exitcodes
from loom_post.budget import gitbase
from loom_post.budget.baseline import parse_baseline
from loom_post.budget.config import glob_regex, load_config
from loom_post.errors import ConfigError
from loom_post.fileio import write_atomic
from loom_post.report import history, history_svg
from loom_post.sizes import MEASURES, parse_measures


def add_parser(sub):
    p = sub.add_parser("history", help="module sizes commit by commit, from the baseline "
                                       "file's git log")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--svg", metavar="OUT.svg", help="also write a line chart to OUT.svg")
    p.add_argument("--module", action="append", default=[], metavar="GLOB",
                   help="only modules whose path matches GLOB (repeatable)")
    p.add_argument("--measure", metavar="M,...", default=",".join(MEASURES),
                   help="measures to show, among code, file, gzip, brotli (default all)")
    p.add_argument("--limit", type=int, default=0, metavar="N",
                   help="only the last N commits that changed each baseline file (0: all)")
    p.set_defaults(func=run)


def _baselines(config):
    found = [config.defaults.baseline] + [r.overrides.get("baseline") for r in config.rules]
    out = sorted({b for b in found if b})
    if not out:
        raise ConfigError(f"{config.describe()}: no `baseline` file is configured; history "
                          f"reads its git log")
    return out


def _snapshots(path, limit, notes):
    """[(Commit, label, Baseline)] of one baseline file's commits, oldest first."""
    what = "history"
    top, rel = gitbase.locate(path, what)
    out = []
    for c in gitbase.log(top, rel, what, limit=limit or None):
        try:
            raw = gitbase.show(top, c.sha, rel, what)
            out.append((c, rel, parse_baseline(f"{rel} at {c.sha[:12]}", raw)))
        except ConfigError as e:
            notes.append(str(e))
    return out


def _timeline(found):
    """(commits, [(label, commit index, Baseline)]): several baseline files'
    commits on one time axis, a commit that changed two of them once."""
    commits, index, snapshots = [], {}, []
    for c, label, base in sorted(found, key=lambda f: f[0].time):
        if c.sha not in index:
            index[c.sha] = len(commits)
            commits.append(c)
        snapshots.append((label, index[c.sha], base))
    return commits, snapshots


def run(args, out=None):
    out = out or sys.stdout
    if args.limit < 0:
        raise ConfigError("--limit takes a number >= 0")
    try:
        measures = parse_measures(args.measure, "--measure")
    except ValueError as e:
        raise ConfigError(f"--measure {args.measure}: {e}")
    config = load_config(args.config)
    regexes = [glob_regex(g) for g in args.module]

    def wanted(key):
        base = key.rsplit("/", 1)[-1]
        return not regexes or any(rx.match(key) or rx.match(base) for rx in regexes)

    notes, found = [], []
    for path in _baselines(config):
        found += _snapshots(path, args.limit, notes)
    commits, snapshots = _timeline(found)
    series = history.collect(snapshots, wanted)
    if args.format == "json":
        out.write(history.to_json(commits, series, measures))
    else:
        out.write(history.text(commits, series, measures))
    if args.svg:
        svg = history_svg.render(commits, series, measures)
        try:
            write_atomic(args.svg, svg.encode("utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot write the chart: {e.strerror or e}", path=args.svg)
    for note in notes:
        sys.stderr.write(f"loom-post: note: skipped {note}\n")
    return exitcodes.OK
