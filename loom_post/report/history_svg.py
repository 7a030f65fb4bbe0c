"""A small self-contained SVG line chart of `loom-post history`: one line per
module and measure, x the commits in order, y the bytes. No script, no font
or stylesheet fetched: it opens offline in any browser or image viewer."""

from __future__ import annotations

from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 30, 40
# Colour-blind-safe (Okabe-Ito); after these, lines are told apart by dashes.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
           "#F0E442", "#000000")
DASHES = ("", "6 3", "2 3")
MAX_LINES = 24


def _ticks(lo, hi, n=5):
    if hi == lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [round(lo + i * step) for i in range(n)]


def render(commits, series, measures):
    """The SVG text; lines past MAX_LINES are left out and the title says so."""
    lines = [(f"{s.key} {m}", [(i, p[m]) for i, p in s.points if m in p])
             for s in series for m in measures]
    lines = [(label, pts) for label, pts in lines if pts]
    dropped = max(0, len(lines) - MAX_LINES)
    lines = lines[:MAX_LINES]
    values = [v for _, pts in lines for _, v in pts] or [0]
    lo, hi = min(values), max(values)
    pad = max(1, (hi - lo) // 10)
    lo, hi = max(0, lo - pad), hi + pad
    n = max(1, len(commits) - 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    height = HEIGHT + 16 * len(lines)

    def x(i):
        return LEFT + plot_w * i / n

    def y(v):
        return TOP + plot_h * (1 - (v - lo) / (hi - lo or 1))

    title = f"loom-post history: {len(commits)} commits"
    if dropped:
        title += f" ({dropped} more lines not drawn; use --module or --measure)"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
           f'<text x="{LEFT}" y="18" font-size="13">{escape(title)}</text>',
           f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
           f'stroke="#888"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#888"/>']
    for v in _ticks(lo, hi):
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v} B</text>')
        out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - RIGHT}" y2="{y(v):.1f}" '
                   f'stroke="#eee"/>')
    step = max(1, len(commits) // 8)
    for i in range(0, len(commits), step):
        out.append(f'<text x="{x(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
                   f'{escape(commits[i].sha[:7])}</text>')
    for k, (label, pts) in enumerate(lines):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[(k // len(PALETTE)) % len(DASHES)]
        style = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{style} '
                   f'points="{coords}"><title>{escape(label)}</title></polyline>')
        for i, v in pts:
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                       f'<title>{escape(f"{label}: {v} B at {commits[i].sha[:10]}")}</title>'
                       f'</circle>')
        ly = HEIGHT + 16 * k
        out.append(f'<line x1="{LEFT}" y1="{ly - 4}" x2="{LEFT + 24}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"{style}/>')
        out.append(f'<text x="{LEFT + 30}" y="{ly}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
