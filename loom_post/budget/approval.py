"""Approving a known size increase: modules allowed to grow this time.

A CI drives it with the LOOM_POST_APPROVE environment variable (globs separated
by commas or newlines, e.g. set from a pull-request label) and a person with
`check --approve GLOB`. An approved module's growth-since-baseline budgets
(max-growth-vs-baseline and its file/gzip/brotli siblings) that are exceeded
are reported as "approved" instead of failing; its absolute caps still apply,
since a cap is raised by editing the configuration, in review.
"""

from __future__ import annotations

import re

from loom_post.budget.config import glob_regex
from loom_post.budget.measures import BASELINE_KEYS

ENV = "LOOM_POST_APPROVE"


def patterns_from(flags, environ):
    """The approval globs: every --approve flag, then LOOM_POST_APPROVE's items."""
    items = list(flags or ())
    items += re.split(r"[,\n]", environ.get(ENV, ""))
    return [p.strip() for p in items if p.strip()]


def _matches(pattern, verdict):
    rx = glob_regex(pattern)
    key = verdict.key or verdict.path
    names = (key, verdict.path.replace("\\", "/"))
    if "/" not in pattern:
        names += (key.rsplit("/", 1)[-1],)
    return any(rx.match(n) for n in names)


def approve(verdicts, patterns):
    """Mark the growth-since-baseline budgets of the modules matching `patterns`
    approved; the patterns that matched no module (likely a typo) are returned."""
    unused = []
    for pattern in patterns:
        hits = [v for v in verdicts if _matches(pattern, v)]
        if not hits:
            unused.append(pattern)
        for v in hits:
            for b in v.budgets:
                if b.kind in BASELINE_KEYS:
                    b.approved = True
    return unused
