"""`loom-post report --html`: one self-contained HTML page people look at.

Per module: the sizes (code, file, gzip, brotli, each against the baseline),
the budgets, a treemap of the code by crate and function (report/treemap.py,
inline SVG), the crates, and the diff against the baseline (crates and
functions that changed). Everything is inline (CSS, SVG, a few lines of
script for hovering): the page loads nothing, so it can be a CI artifact
opened from disk, mailed, or viewed with the network off. Every name is
HTML-escaped; the script only reads the page.
"""

from html import escape

from loom_post.budget.baseline import compare_functions
from loom_post.budget.units import percent, signed
from loom_post.report.demangle import by_crate, crate_changes, demangle
from loom_post.report.treemap import svg
from loom_post.sizes import LABELS, MEASURES

MAX_CHANGES = 30

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;word-break:break-all}
h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;margin:4px 0 10px} td,th{padding:3px 10px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f5f7} td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#176f2c;font-weight:600} .fail{color:#b3161b;font-weight:700} .error{color:#9a6700}
.grow{color:#b3161b} .shrink{color:#176f2c} code{font-size:12px;word-break:break-all}
svg.treemap{width:100%;max-width:1000px;height:auto;border:1px solid #ccc;display:block}
svg.treemap rect{stroke:#fff;stroke-width:.5} svg.treemap rect.crate-box{stroke-width:2}
svg.treemap text{font:10px sans-serif;pointer-events:none;fill:#111}
svg.treemap text.crate-label{fill:#fff;font-weight:700}
svg.treemap g.dim{opacity:.35} .muted{color:#667}
"""

# Hovering a crate's row or rectangle dims the other crates; the page's
# `data-rectangles` says the script ran (the browser test reads it).
_JS = """
(function(){
  var rects=document.querySelectorAll('svg.treemap rect');
  document.body.setAttribute('data-rectangles', String(rects.length));
  function focus(crate){
    document.querySelectorAll('svg.treemap g.crate').forEach(function(g){
      g.classList.toggle('dim', crate!==null && g.getAttribute('data-crate')!==crate);});
  }
  document.querySelectorAll('[data-crate]').forEach(function(el){
    el.addEventListener('mouseenter',function(){focus(el.getAttribute('data-crate'));});
    el.addEventListener('mouseleave',function(){focus(null);});
  });
})();
"""


def _delta(now, base):
    if base is None or now is None:
        return ""
    cls = "grow" if now > base else "shrink" if now < base else ""
    return f' <span class="{cls}">({signed(now - base)}, {percent(now, base)})</span>'


def _status(state):
    return f'<span class="{state}">{ {"fail": "over budget"}.get(state, state)}</span>'


def _summary(modules, errors):
    rows = ["<table class='summary'><tr><th>module</th><th>status</th>" +
            "".join(f"<th>{m}</th>" for m in MEASURES) + "</tr>"]
    for v, _functions in modules:
        cells = "".join(f"<td class='n'>{'' if v.size(m) is None else str(v.size(m)) + ' B'}"
                        f"{_delta(v.size(m), v.baseline_sizes.get(m))}</td>" for m in MEASURES)
        rows.append(f"<tr><td><code>{escape(v.path)}</code></td><td>{_status(v.status)}</td>"
                    f"{cells}</tr>")
    for path, message in errors:
        rows.append(f"<tr><td><code>{escape(path)}</code></td><td class='error'>unreadable: "
                    f"{escape(message)}</td>" + "<td></td>" * len(MEASURES) + "</tr>")
    rows.append("</table>")
    return "".join(rows)


def _sizes(v):
    rows = ["<table class='sizes'><tr><th>size</th><th>now</th><th>baseline</th></tr>"]
    for m in MEASURES:
        now, base = v.size(m), v.baseline_sizes.get(m)
        if now is None:
            continue
        rows.append(f"<tr><td>{escape(LABELS[m])}</td><td class='n'>{now} B{_delta(now, base)}"
                    f"</td><td class='n'>{'' if base is None else f'{base} B'}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _budgets(v):
    if not v.budgets:
        return "<p class='muted'>No budgets apply to this module.</p>"
    rows = ["<table class='budgets'><tr><th>budget</th><th>limit</th><th>actual</th>"
            "<th>status</th><th></th></tr>"]
    for b in v.budgets:
        rows.append(f"<tr><td>{escape(b.kind)}</td><td class='n'>{escape(b.limit_text())}</td>"
                    f"<td class='n'>{escape(b.actual_text())}</td><td>{_status(b.status)}</td>"
                    f"<td class='muted'>{escape(b.message)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _crates(functions, total):
    rows = ["<table class='crates'><tr><th>crate</th><th>bytes</th><th>%</th>"
            "<th>functions</th></tr>"]
    for crate, size, count in by_crate(functions):
        rows.append(f"<tr data-crate='{escape(crate)}'><td>{escape(crate)}</td>"
                    f"<td class='n'>{size}</td><td class='n'>{100.0 * size / (total or 1):.1f}"
                    f"</td><td class='n'>{count}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _diff(v, functions):
    if v.baseline_functions is None:
        why = ("this module is not in the baseline yet" if v.baseline_path else
               "no baseline is configured (`baseline = ...`, then `loom-post baseline`)")
        return f"<p class='muted'>No diff: {escape(why)}.</p>"
    crates = crate_changes(v.baseline_functions, functions)
    changes = compare_functions(v.baseline_functions, functions)
    if not changes:
        return "<p>No function changed since the baseline.</p>"
    out = ["<table class='diff-crates'><tr><th>crate</th><th>baseline</th><th>now</th>"
           "<th>+-</th></tr>"]
    out += [f"<tr><td>{escape(c['crate'])}</td><td class='n'>{c['old']}</td>"
            f"<td class='n'>{c['new']}</td><td class='n'>{signed(c['delta'])}</td></tr>"
            for c in crates]
    out.append("</table><table class='diff-functions'><tr><th>function</th><th>baseline</th>"
               "<th>now</th><th>+-</th></tr>")
    for c in changes[:MAX_CHANGES]:
        out.append(f"<tr><td><code>{escape(demangle(c.name))}</code></td>"
                   f"<td class='n'>{'new' if c.old is None else c.old}</td>"
                   f"<td class='n'>{'gone' if c.new is None else c.new}</td>"
                   f"<td class='n'>{signed(c.delta)}</td></tr>")
    out.append("</table>")
    if len(changes) > MAX_CHANGES:
        out.append(f"<p class='muted'>... and {len(changes) - MAX_CHANGES} more changed "
                   f"functions (`loom-post diff` lists all).</p>")
    return "".join(out)


def _module(v, functions):
    return "".join([
        f"<section class='module'><h2>{escape(v.path)} {_status(v.status)}</h2>",
        "<h3>Sizes</h3>", _sizes(v), "<h3>Budgets</h3>", _budgets(v),
        "<h3>Code by crate and function</h3>", svg(functions, v.code_bytes),
        _crates(functions, v.code_bytes),
        "<h3>Since the baseline</h3>", _diff(v, functions), "</section>"])


def render(modules, errors, title="loom-post size report"):
    """The page: `modules` is [(gate.Verdict, {function: body bytes})],
    `errors` [(path, message)] for unreadable modules."""
    failing = sum(1 for v, _f in modules if v.status == "fail")
    headline = (f"{len(modules) + len(errors)} modules, "
                f"{failing} over budget" if failing else
                f"{len(modules) + len(errors)} modules, none over budget")
    if errors:
        headline += f", {len(errors)} unreadable"
    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><p class='headline'>{escape(headline)}</p>",
        _summary(modules, errors),
        "".join(_module(v, f) for v, f in modules),
        f"<script>{_JS}</script></body></html>\n"])
