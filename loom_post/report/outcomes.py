"""How `optimize` (and every route that optimizes: cargo, the linker hook,
watch) reports what it did: a text block per module, or one JSON document.

JSON schema (docs/json.md): {"version": 1, "status", "modules": [...]}, each
module with the same size keys as `check` (code_bytes_before/after, and
{file,gzip,brotli}_bytes_before/after for the sizes measured), the per-pass
statistics under `passes`, and the guard's `never_grow` / `functions_reverted`
(and `guard_reference`: the sizes of the stripped input it judged against).
"""

import json
import sys

from loom_post import exitcodes
from loom_post.budget.gate import grew_most
from loom_post.budget.units import percent, signed
from loom_post.errors import print_error
from loom_post.report import JSON_VERSION
from loom_post.words import counted, plural

STRIPPED = "input without its stale DWARF"   # the never-grow guard's reference, when not the input

def outcome_json(o):
    if o.error:
        return {"path": o.path, "error": o.error}
    r = o.result
    out = {"path": o.path, "optimized": o.optimized, "code_bytes": r.code_bytes_after,
           "code_bytes_before": r.code_bytes_before, "code_bytes_after": r.code_bytes_after,
           "bytes_saved": r.code_bytes_before - r.code_bytes_after,
           "functions_changed": r.functions_changed,
           "bytes_saved_by_reencoding": r.bytes_saved_by_reencoding,
           "not_understood": r.not_understood, "skipped": r.skipped,
           "passes": {name: s.to_json() for name, s in r.passes.items()},
           "dwarf_dropped": r.dwarf_dropped, "notes": o.notes,
           "never_grow": list(r.never_grow), "functions_reverted": r.functions_reverted}
    out.update(r.sizes_before.to_json("_before"))
    out.update(r.sizes_after.to_json("_after"))
    if r.guard_reference:   # what the guard judged against instead of the input
        out["guard_reference"] = {"of": STRIPPED,
                                  **{f"{m}_bytes": n for m, n in r.guard_reference.items()}}
    if o.verdict is not None:
        out["status"] = o.verdict.status
        out["budgets"] = [b.to_json() for b in o.verdict.budgets]
    return out


def render_json(outcomes, status):
    doc = {"version": JSON_VERSION,
           "status": {exitcodes.OK: "pass", exitcodes.OVER_BUDGET: "fail"}.get(status, "error"),
           "modules": [outcome_json(o) for o in outcomes]}
    return json.dumps(doc, indent=2) + "\n"


def _what(o):
    r = o.result
    if not o.optimized:
        return "measured (optimize = false)"
    parts = [f"{plural(r.functions_changed, 'function')} changed"]
    for name, s in r.passes.items():
        detail = ", ".join(counted(v, k.replace('_', ' ')) for k, v in s.counters.items())
        parts.append(f"{name}: {signed(-s.bytes_saved)} B" + (f" ({detail})" if detail else ""))
    return "; ".join(parts)


def render_text(o, out):
    """Write the lines for one module (nothing for an unreadable one: its error
    goes to stderr)."""
    if o.error:
        return
    r = o.result
    before, after = r.code_bytes_before, r.code_bytes_after
    verdict = o.verdict.status.upper() if o.verdict is not None else "PASS"
    out.write(f"{o.path}: code {before} -> {after} bytes ({signed(after - before)}, "
              f"{percent(after, before)}); {_what(o)}; {verdict}\n")
    sizes = _sizes_text(r)
    if sizes:
        out.write(f"  {sizes}\n")
    if r.functions_reverted:
        rewritten = r.functions_changed + r.functions_reverted
        out.write(f"  never-grow ({', '.join(r.never_grow)}): kept {r.functions_changed} of "
                  f"{plural(rewritten, 'rewritten function')}; the "
                  f"{'other' if r.functions_reverted == 1 else 'others'} would have grown a "
                  f"guarded size\n")
    if r.bytes_saved_by_reencoding:
        n = r.bytes_saved_by_reencoding
        out.write(f"  of the bytes saved, {n} {'comes' if n == 1 else 'come'} from re-encoding "
                  f"changed functions with minimal LEB128s\n")
    if r.not_understood:
        verb = "uses" if r.not_understood == 1 else "use"
        out.write(f"  {plural(r.not_understood, 'function')} {verb} instructions loom-post does "
                  f"not understand and were kept as they are\n")
    for note in o.notes:
        out.write(f"  note: {note}\n")
    if r.dwarf_dropped:
        out.write(f"  note: dropped stale DWARF ({', '.join(r.dwarf_dropped)}); "
                  f"{getattr(o, 'dwarf_hint', '--keep-dwarf')} keeps it\n")
    if o.verdict is not None:
        _budget_lines(o.verdict, out)


def _sizes_text(r):
    """"file A -> B bytes (+-n, +-%), gzip ..., brotli ..." for the measured sizes.
    A "before" the input's own size was not measured for, but the guard's
    reference's was, is that figure, and says so."""
    parts = []
    for m in ("file", "gzip", "brotli"):
        before, after, of = r.sizes_before.known(m), r.sizes_after.known(m), ""
        if before is None and r.changed and m in r.guard_reference:
            before, of = r.guard_reference[m], f" ({STRIPPED})"
        if before is not None and after is not None:
            parts.append(f"{m} {before}{of} -> {after} bytes ({signed(after - before)}, "
                         f"{percent(after, before)})")
    return ", ".join(parts)


def _budget_lines(verdict, out):
    for b in verdict.budgets:
        if b.status == "fail":
            out.write(f"  over budget: {b.kind}: limit {b.limit_text()}, actual "
                      f"{b.actual_text()} ({b.message})\n")
        elif b.status == "warn":
            out.write(f"  warning: {b.kind}: limit {b.limit_text()}, actual "
                      f"{b.actual_text()} ({b.message})\n")
    if verdict.status == "fail":
        grown = grew_most(verdict, 5)
        if grown:
            from loom_post.report.demangle import demangle  # (its regexes) only here
            out.write("  functions that grew most since the baseline:\n")
            for c in grown:
                was = "new" if c.old is None else f"{c.old} -> {c.new} bytes"
                out.write(f"    {signed(c.delta):>8} B  {demangle(c.name)} ({was})\n")


def print_report(outcomes, status, fmt="text", out=None):
    """The report of `outcomes` on `out` (stdout), their errors on stderr."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(render_json(outcomes, status))
    else:
        for o in outcomes:
            render_text(o, out)
    for o in outcomes:
        if o.error:
            print_error(o.error)
