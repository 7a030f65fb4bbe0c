"""Readable Rust symbol names for reports, and the crate each function belongs to.

The demangler itself (legacy and v0, `.llvm.` suffixes) is loom_post/symbols.py,
below the budget layer, which matches functions by the same readable form.
Reports show the demangled path without hashes, as twiggy and `c++filt -i` do;
machine-readable output (JSON, baselines) keeps the exact name.
"""

import re

from loom_post.symbols import crate_of, demangle  # noqa: F401  (the reports' API)

# baseline.function_sizes tells two functions of one name apart by this suffix
_DUPLICATE = re.compile(r" \(func\[\d+\]\)$")
NOT_RUST = "(not Rust)"
UNNAMED = "(unnamed)"


def crate_label(name):
    """The crate a function's code belongs to, for per-crate rollups:
    `(unnamed)` without a name, `(not Rust)` for a C, export or other name."""
    if name is None or (name.startswith("func[") and name.endswith("]")):
        return UNNAMED
    return crate_of(_DUPLICATE.sub("", name)) or NOT_RUST


def by_crate(sizes):
    """[(crate, bytes, functions)] of a {function key: bytes} map, largest first."""
    totals = {}
    for name, size in sizes.items():
        crate = crate_label(name)
        total, count = totals.get(crate, (0, 0))
        totals[crate] = (total + size, count + 1)
    return sorted(((c, b, n) for c, (b, n) in totals.items()), key=lambda t: (-t[1], t[0]))


def crate_changes(old, new):
    """[{"crate", "old", "new", "delta"}] between two {function key: bytes}
    maps (old None: no baseline functions), changed crates only, largest change first."""
    before = {c: b for c, b, _n in by_crate(old or {})}
    after = {c: b for c, b, _n in by_crate(new)}
    out = []
    for crate in set(before) | set(after):
        a, b = before.get(crate, 0), after.get(crate, 0)
        if a != b:
            out.append({"crate": crate, "old": a, "new": b, "delta": b - a})
    out.sort(key=lambda c: (-abs(c["delta"]), c["crate"]))
    return out


def names_crates(crates):
    """Whether a rollup says more than "(not Rust)" and "(unnamed)": text
    reports of modules without Rust names leave it out."""
    return any(c["crate"] not in (NOT_RUST, UNNAMED) for c in crates)
