"""The CI side of `check`: approvals, extra report files and --baseline-ref
checks, kept out of check.py so that the command stays a short sequence."""

from __future__ import annotations

import os

from loom_post.budget.approval import approve, patterns_from
from loom_post.errors import ConfigError
from loom_post.fileio import write_atomic
from loom_post.report.formats import FORMATS, render


def parse_writes(items):
    """[(format, path)] from --write FORMAT:PATH; ConfigError on a bad one."""
    out = []
    for item in items:
        fmt, sep, path = item.partition(":")
        if not sep or not path or fmt not in FORMATS:
            raise ConfigError(f"--write {item}: expected FORMAT:PATH with FORMAT one of "
                              f"{', '.join(FORMATS)}, e.g. markdown:size-report.md")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ConfigError(f"--write {item}: directory {directory} does not exist")
        out.append((fmt, path))
    return out


def write_reports(writes, verdicts, errors, top):
    for fmt, path in writes:
        try:
            write_atomic(path, render(fmt, verdicts, errors, top=top).encode("utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot write the report: {e.strerror or e}", path=path)


def require_baseline_for_ref(config, ref):
    """--baseline-ref needs a configured baseline file to look up in git."""
    if ref is None:
        return
    if not ref.strip() or ref.startswith("-"):
        raise ConfigError(f"--baseline-ref {ref!r}: expected a git revision, e.g. origin/main")
    if not config.defaults.baseline and not any("baseline" in r.overrides for r in config.rules):
        raise ConfigError(f"--baseline-ref {ref}: no `baseline` file is configured "
                          f"({config.describe()})")


def apply_approvals(verdicts, flags, environ=None):
    """Approve the modules named by --approve and LOOM_POST_APPROVE; a glob that
    matches no module gets a one-line note (a typo would otherwise pass unseen)."""
    import sys
    for pattern in approve(verdicts, patterns_from(flags, os.environ if environ is None
                                                    else environ)):
        sys.stderr.write(f"loom-post: note: approval {pattern!r} matches no module\n")
