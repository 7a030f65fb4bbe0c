"""The four shapes of a `check` report: text for people, JSON for scripts, a Markdown
table for a pull-request comment or step summary, and GitHub workflow annotations.

Each takes the same measurements (gate.Verdict per readable module, (path, message)
per unreadable one) and returns a string. The CI shapes respect GitHub's limits:
the Markdown table is capped at MAX_ROWS rows (failing and largest changes first,
then "... and N more"), so hundreds of modules stay far below the 1 MiB step
summary, and at most MAX_ANNOTATIONS `::error` lines are printed (GitHub shows
about 10 per step) followed by one plain summary line.
"""

from __future__ import annotations

import json

from loom_post.report import JSON_VERSION

from loom_post.budget.gate import MAX_GROWTH_VS_BASELINE, grew_most
from loom_post.budget.units import percent, signed
from loom_post.report.demangle import demangle
from loom_post.sizes import MEASURES

MAX_ROWS = 50
MAX_ANNOTATIONS = 10
MAX_DETAILS = 10
MAX_PATH = 100


def status_of(verdicts, errors):
    """"error" when a module was unreadable, else "fail" when a budget broke, else "pass"."""
    if errors:
        return "error"
    return "fail" if any(v.status == "fail" for v in verdicts) else "pass"


def _headline(verdicts, errors):
    failing = sum(1 for v in verdicts if v.status == "fail")
    total = len(verdicts) + len(errors)
    parts = [f"{total} module{'s' if total != 1 else ''}"]
    parts.append(f"{failing} over budget" if failing else "all within budget"
                 if not errors else "none over budget")
    if errors:
        parts.append(f"{len(errors)} unreadable")
    warned = sum(1 for v in verdicts if v.warned)
    approved = sum(1 for v in verdicts if v.approved)
    if warned:
        parts.append(f"{warned} over a warn- level")
    if approved:
        parts.append(f"{approved} approved to grow")
    return ", ".join(parts)


def _ordered(verdicts):
    """Failing first (largest overrun first), then the largest changes since the
    baseline, then the largest modules; ties by path."""
    def key(v):
        over = max((b.over_by for b in v.budgets), default=0)
        delta = v.baseline_delta
        return (v.status != "fail", -over, delta is None, -abs(delta or 0),
                -v.code_bytes, v.path)
    return sorted(verdicts, key=key)


# -- sizes -----------------------------------------------------------------------

def sizes_line(v):
    """"code 811 B, file 1.2 kB ..., gzip 500 B (+3 since the baseline), brotli ..."
    for every measured size of a Verdict."""
    parts = []
    for m in MEASURES:
        now = v.size(m)
        if now is None:
            continue
        text = f"{m} {now} B"
        base = v.baseline_sizes.get(m)
        if base is not None:
            text += f" ({signed(now - base)}, {percent(now, base)} since the baseline)"
        parts.append(text)
    return ", ".join(parts)


def _size_cell(v, measure):
    """A Markdown cell: "500 B" or "500 B (+3)" against the baseline; "" unmeasured."""
    now = v.size(measure)
    if now is None:
        return ""
    base = v.baseline_sizes.get(measure)
    return f"{now} B" if base is None else f"{now} B ({signed(now - base)})"


# -- text ------------------------------------------------------------------------

_STATUS_WORD = {"fail": "FAIL", "warn": "WARN", "approved": "APPROVED"}
_MIN_CHANGE_NOTE = "; below min-change: not counted"


def text(verdicts, errors, top=5):
    lines = []
    for v in verdicts:
        state = "FAIL" if v.status == "fail" else "pass"
        extra = "" if v.budgets else " (no budgets apply)"
        if v.baseline_delta is not None and not any(
                b.kind == MAX_GROWTH_VS_BASELINE for b in v.budgets):
            extra += (f" (baseline {v.baseline_bytes} bytes, {signed(v.baseline_delta)}, "
                      f"{percent(v.code_bytes, v.baseline_bytes)})")
        lines.append(f"{v.path}: code section {v.code_bytes} bytes: {state}{extra}")
        lines.append(f"  sizes: {sizes_line(v)}")
        for b in v.budgets:
            lines.append(f"  {b.kind}: limit {b.limit_text()}, actual {b.actual_text()}: "
                         f"{_STATUS_WORD.get(b.status, 'pass')} ({b.message}"
                         f"{_MIN_CHANGE_NOTE if b.below_min_change else ''})")
        grows = (v.baseline_delta or 0) > 0 and not v.below_min_change("code")
        grown = grew_most(v, top) if grows or v.status == "fail" else []
        if grown:
            lines.append("  functions that grew most since the baseline:")
            for c in grown:
                was = "new" if c.old is None else f"{c.old} -> {c.new} bytes"
                lines.append(f"    {signed(c.delta):>8} B  {demangle(c.name)} ({was})")
    for path, message in errors:
        lines.append(f"{path}: unreadable: {message}")
    lines.append(f"check: {_headline(verdicts, errors)}")
    return "\n".join(lines) + "\n"


# -- json ------------------------------------------------------------------------

def to_json(verdicts, errors, top=5):
    modules = []
    for v in verdicts:
        doc = v.to_json()
        if v.baseline_functions is not None:
            doc["functions_grew_most"] = [c.to_json() for c in grew_most(v, top)]
        modules.append(doc)
    for path, message in errors:
        modules.append({"path": path, "status": "error", "error": message})
    return json.dumps({"version": JSON_VERSION, "status": status_of(verdicts, errors),
                       "modules": modules},
                      indent=2) + "\n"


# -- markdown ----------------------------------------------------------------------

def _md_path(path):
    if len(path) > MAX_PATH:
        path = "..." + path[-(MAX_PATH - 3):]
    return "`" + path.replace("`", "'").replace("|", "\\|") + "`"


def _html(text):
    if len(text) > MAX_PATH:
        text = "..." + text[-(MAX_PATH - 3):]
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def _md_soft_status(v):
    """The status cell of a module within its hard budgets: warnings, approvals."""
    notes = [f":warning: {b.kind} {b.actual_text()} > {b.limit_text()}" for b in v.warned]
    notes += [f":heavy_check_mark: approved: {b.kind} {b.actual_text()} > {b.limit_text()}"
              for b in v.approved]
    return "; ".join(notes) or ":white_check_mark:"


def markdown(verdicts, errors, top=5, max_rows=MAX_ROWS):
    state = status_of(verdicts, errors)
    icon = {"pass": ":white_check_mark:", "fail": ":x:", "error": ":warning:"}[state]
    out = [f"### loom-post size check {icon} {_headline(verdicts, errors)}", "",
           "| module | baseline -> now | +- bytes | +- % | file | gzip | brotli | status |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    rows = []
    for path, message in errors:
        rows.append(f"| {_md_path(path)} | - | | | | | | :warning: unreadable: "
                    f"{_md_cell(message)} |")
    ordered = _ordered(verdicts)
    for v in ordered:
        if v.baseline_bytes is not None:
            sizes = f"{v.baseline_bytes} B -> {v.code_bytes} B"
            delta, pct = signed(v.baseline_delta), percent(v.code_bytes, v.baseline_bytes)
        else:
            sizes = f"new -> {v.code_bytes} B" if v.baseline_path else f"{v.code_bytes} B"
            delta = pct = ""
        if v.status == "fail":
            status = ":x: " + "; ".join(
                f"{b.kind} {b.actual_text()} > {b.limit_text()}" for b in v.failed)
        else:
            status = _md_soft_status(v)
        compressed = " | ".join(_size_cell(v, m) for m in ("file", "gzip", "brotli"))
        rows.append(f"| {_md_path(v.path)} | {sizes} | {delta} | {pct} | {compressed} | "
                    f"{_md_cell(status)} |")
    shown, hidden = rows[:max_rows], rows[max_rows:]
    out.extend(shown)
    if hidden:
        hidden_fail = sum(1 for v in ordered[max(0, max_rows - len(errors)):]
                          if v.status == "fail")
        note = f"{hidden_fail} of them over budget" if hidden_fail else "all within budget"
        out.append("")
        out.append(f"... and {len(hidden)} more ({note}; `loom-post check --format json` "
                   f"lists every module)")
    details = [v for v in ordered[:max(0, max_rows - len(errors))]
               if v.status == "fail" and grew_most(v, top)][:MAX_DETAILS]
    for v in details:
        out.append("")
        out.append(f"<details><summary><code>{_html(v.path)}</code>: functions that grew "
                   f"most since the baseline</summary>")
        out.append("")
        out.append("| function | baseline -> now | +- bytes |")
        out.append("| --- | ---: | ---: |")
        for c in grew_most(v, top):
            old = "new" if c.old is None else f"{c.old} B"
            out.append(f"| {_md_cell(demangle(c.name))} | {old} -> {c.new} B | {signed(c.delta)} |")
        out.append("")
        out.append("</details>")
    return "\n".join(out) + "\n"


# -- github annotations ------------------------------------------------------------

def _escape_data(s):
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s):
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _soft_annotations(verdicts):
    """`::warning` for a warn- level exceeded, `::notice` for an approved growth."""
    out = []
    for v in _ordered(verdicts):
        for b in v.warned + v.approved:
            level = "warning" if b.status == "warn" else "notice"
            what = "exceeded" if b.status == "warn" else "exceeded, approved"
            out.append((v.path, f"loom-post {b.kind}", f"{b.kind} {what}: {b.message}; "
                        f"limit {b.limit_text()}, actual {b.actual_text()}", level))
    return out


def github(verdicts, errors, top=3, max_annotations=MAX_ANNOTATIONS):
    problems = []
    for path, message in errors:
        problems.append((path, "loom-post unreadable module", message))
    for v in _ordered(verdicts):
        for b in v.failed:
            msg = (f"{b.kind} exceeded: {b.message}; limit {b.limit_text()}, "
                   f"actual {b.actual_text()}")
            if b.kind == MAX_GROWTH_VS_BASELINE:
                grown = grew_most(v, top)
                if grown:
                    msg += "; grew most: " + ", ".join(
                        f"{demangle(c.name)} {signed(c.delta)} B" for c in grown)
            msg += f" (sizes: {sizes_line(v)})"
            problems.append((v.path, f"loom-post {b.kind}", msg))
    problems += _soft_annotations(verdicts)
    out = [f"::{level} file={_escape_property(path)},title={_escape_property(title)}::"
           f"{_escape_data(msg)}" for path, title, msg, level in
           (p if len(p) == 4 else (*p, "error") for p in problems[:max_annotations])]
    summary = f"loom-post check: {_headline(verdicts, errors)}"
    if len(problems) > max_annotations:
        summary += (f"; {len(problems) - max_annotations} more problems not annotated "
                    f"(see the step summary or --format text)")
    out.append(summary)
    return "\n".join(out) + "\n"


FORMATS = {"text": text, "json": to_json, "markdown": markdown, "github": github}


def render(fmt, verdicts, errors, top=5):
    return FORMATS[fmt](verdicts, errors, top=top)
