"""How module sizes changed commit by commit, from a baseline file's git log:
the series (`collect`), and the text and JSON renderings of `loom-post history`.

A point is recorded for every commit in which a module's entry differs from
the previous one (its first appearance included), so a commit that only
touched other modules adds nothing to this module's series. Sizes a commit's
file does not record (brotli before it was measured, or `--no-brotli`) are
absent, not zero.
"""

from __future__ import annotations

import json
import time as time_mod

from loom_post.budget.units import percent, signed
from loom_post.report import JSON_VERSION
from loom_post.sizes import MEASURES


class Series:
    """One module's sizes: [(commit index, {measure: bytes})], oldest first."""

    def __init__(self, key, baseline):
        self.key, self.baseline = key, baseline
        self.points = []

    def measures(self):
        return [m for m in MEASURES if any(m in p for _, p in self.points)]


def collect(snapshots, wanted=None):
    """{module key: Series} from [(baseline label, commit index, Baseline)];
    `wanted(key)` filters modules."""
    series = {}
    for label, index, base in snapshots:
        for key, entry in sorted(base.modules.items()):
            if wanted is not None and not wanted(key):
                continue
            sizes = {m: entry[f"{m}_bytes"] for m in MEASURES
                     if isinstance(entry.get(f"{m}_bytes"), int)}
            s = series.setdefault((label, key), Series(key, label))
            if not s.points or s.points[-1][1] != sizes:
                s.points.append((index, sizes))
    return [series[k] for k in sorted(series)]


def _date(t):
    return time_mod.strftime("%Y-%m-%d", time_mod.gmtime(t))


def _cell(sizes, prev, m):
    now = sizes.get(m)
    if now is None:
        return "-"
    old = prev.get(m) if prev else None
    if old is None or old == now:
        return str(now)
    return f"{now} ({signed(now - old)}, {percent(now, old)})"


def text(commits, series, measures):
    """A table per module: commit, date, one column per measure, subject."""
    if not series:
        return "history: no module sizes recorded in the baseline file's commits\n"
    lines = []
    for s in series:
        shown = [m for m in measures if m in s.measures()]
        lines.append(f"{s.key} ({s.baseline}, {len(s.points)} changes)")
        rows = [["commit", "date", *shown, "subject"]]
        prev = None
        for index, sizes in s.points:
            c = commits[index]
            rows.append([c.sha[:10], _date(c.time), *(_cell(sizes, prev, m) for m in shown),
                         c.subject[:60]])
            prev = sizes
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
            cells += [c.rjust(w) for c, w in zip(r[2:-1], widths[2:])]
            lines.append("  " + "  ".join(cells + [r[-1]]))
        first, last = s.points[0][1], s.points[-1][1]
        overall = [f"{m} {first[m]} -> {last[m]} ({signed(last[m] - first[m])}, "
                   f"{percent(last[m], first[m])})" for m in shown if m in first and m in last]
        if overall:
            lines.append("  overall: " + ", ".join(overall))
        lines.append("")
    return "\n".join(lines)


def to_json(commits, series, measures):
    modules = []
    for s in series:
        doc = {"path": s.key, "baseline": s.baseline}
        for m in measures:
            points, prev = [], None
            for index, sizes in s.points:
                if m in sizes:
                    points.append({"commit": commits[index].sha, "bytes": sizes[m],
                                   "delta": None if prev is None else sizes[m] - prev})
                    prev = sizes[m]
            if points:
                doc[m] = points
        modules.append(doc)
    return json.dumps({"version": JSON_VERSION,
                       "commits": [c.to_json() for c in commits],
                       "modules": modules}, indent=2) + "\n"
