"""A squarified treemap (Bruls, Huizing and van Wijk, 2000) as SVG: the code
of a module by crate, each crate's rectangle split by function.

Squarified layout keeps rectangles close to squares, so sizes compare by eye
and labels fit. Only the largest functions get a rectangle of their own
(MAX_FUNCTIONS in all); the rest of a crate is one "(N smaller)" rectangle, so
a module with 10^5 functions stays a page a browser opens at once.
"""

import hashlib
from html import escape

from loom_post.report.demangle import crate_label, demangle

WIDTH, HEIGHT = 1000, 560
MAX_FUNCTIONS = 400
_CRATE_PAD = 14           # room for a crate's label above its functions


def _worst(row, side):
    total = sum(row)
    return max(max(side * side * r / (total * total), total * total / (side * side * r))
               for r in row)


def squarify(values, x, y, w, h):
    """[(x, y, w, h)] for `values` (positive, largest first) filling the rectangle."""
    total = sum(values)
    if total <= 0 or w <= 0 or h <= 0:
        return [(x, y, 0.0, 0.0) for _ in values]
    areas = [v * w * h / total for v in values]
    out, i = [], 0
    while i < len(areas):
        side = min(w, h)
        row = [areas[i]]
        i += 1
        while i < len(areas) and _worst(row + [areas[i]], side) <= _worst(row, side):
            row.append(areas[i])
            i += 1
        thick = sum(row) / side
        offset = 0.0
        for a in row:
            length = a / thick
            out.append((x, y + offset, thick, length) if w >= h else
                       (x + offset, y, length, thick))
            offset += length
        if w >= h:
            x, w = x + thick, w - thick
        else:
            y, h = y + thick, h - thick
    return out


def _hue(crate):
    return int(hashlib.sha1(crate.encode("utf-8")).hexdigest()[:4], 16) % 360


def group(functions):
    """[(crate, total, [(label, bytes)])] largest first; small functions merged."""
    crates = {}
    for name, size in functions.items():
        if size > 0:
            crates.setdefault(crate_label(name), []).append((demangle(name), size))
    ranked = sorted(((size, crate, label) for crate, fs in crates.items()
                     for label, size in fs), reverse=True)
    keep = {(crate, label) for _s, crate, label in ranked[:MAX_FUNCTIONS]}
    out = []
    for crate, fs in crates.items():
        fs.sort(key=lambda f: (-f[1], f[0]))
        shown = [f for f in fs if (crate, f[0]) in keep]
        rest = [f for f in fs if (crate, f[0]) not in keep]
        if rest:
            shown.append((f"({len(rest)} smaller functions)", sum(s for _l, s in rest)))
        out.append((crate, sum(s for _l, s in fs), shown))
    out.sort(key=lambda c: (-c[1], c[0]))
    return out


def _segments(path):
    """The `::` segments of a demangled path at bracket depth 0."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(path):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        elif depth == 0 and path.startswith("::", i) and i >= start:
            out.append(path[start:i])
            start = i + 2
    out.append(path[start:])
    return [seg for seg in out if seg]


def short_name(path):
    """What fits on a rectangle: the last two path segments without generic
    arguments, an impl shown by its trait or type
    (`<alloc::vec::Vec<T> as core::ops::Drop>::drop` -> `Drop::drop`)."""
    segments = _segments(path)
    # a turbofish (`f::<T>`) is a segment that starts with "<" after the first
    segments = segments[:1] + [seg for seg in segments[1:] if not seg.startswith("<")]
    parts = []
    for seg in segments[-2:]:
        if seg.startswith("<") and seg.endswith(">"):
            inner = seg[1:-1]
            seg = inner.rsplit(" as ", 1)[-1]
            seg = _segments(seg)[-1] if _segments(seg) else seg
        cut = seg.find("<")
        parts.append(seg[:cut] if cut > 0 else seg)
    return "::".join(parts) or path


def _label(x, y, w, h, text, cls):
    if w < 40 or h < 12:
        return ""
    room = int(w / 6.6)
    if len(text) > room:
        text = text[:max(room - 1, 1)] + "\u2026"
    return (f'<text class="{cls}" x="{x + 3:.1f}" y="{y + 11:.1f}">{escape(text)}</text>')


def svg(functions, total_code):
    """The treemap of `functions` ({name: body bytes}) as an <svg> element."""
    groups = group(functions)
    parts = [f'<svg class="treemap" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="code by crate and function">']
    boxes = squarify([g[1] for g in groups], 0, 0, WIDTH, HEIGHT)
    for (crate, total, fs), (x, y, w, h) in zip(groups, boxes):
        hue = _hue(crate)
        pct = 100.0 * total / (total_code or 1)
        parts.append(f'<g class="crate" data-crate="{escape(crate)}">'
                     f'<rect class="crate-box" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                     f'height="{h:.1f}" fill="hsl({hue},45%,35%)">'
                     f'<title>{escape(crate)}: {total} B ({pct:.1f}%)</title></rect>')
        parts.append(_label(x, y, w, h, f"{crate} {total} B", "crate-label"))
        pad = _CRATE_PAD if h > 3 * _CRATE_PAD else 0
        inner = squarify([s for _l, s in fs], x + 1, y + pad, max(w - 2, 0), max(h - pad - 1, 0))
        for (label, size), (fx, fy, fw, fh) in zip(fs, inner):
            parts.append(f'<rect class="fn" x="{fx:.1f}" y="{fy:.1f}" width="{fw:.1f}" '
                         f'height="{fh:.1f}" fill="hsl({hue},55%,{62 if size % 2 else 58}%)">'
                         f'<title>{escape(label)}: {size} B</title></rect>')
            parts.append(_label(fx, fy, fw, fh, short_name(label), "fn-label"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
