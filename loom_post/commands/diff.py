"""`loom-post diff OLD NEW`: which functions grew or shrank between two modules.

Like `twiggy diff`: functions are matched by their name from the `name` section
when both modules have one, else by index ("func[12]"); largest changes first;
added and removed functions; and the code section total, old -> new. Function
sizes are body bytes, so their sum differs from the section total by the size
prefixes and the function count.
"""

from __future__ import annotations

import json

from loom_post.report import JSON_VERSION

from loom_post import exitcodes
from loom_post.budget.baseline import compare_functions, function_sizes
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.fileio import load_module
from loom_post.budget.units import percent, signed
from loom_post.commands.check import add_no_brotli
from loom_post.report.demangle import demangle
from loom_post.sizes import MEASURES, Sizes


def add_parser(sub):
    p = sub.add_parser("diff", help="per-function size differences between two modules")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW", nargs="?")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--top", type=int, default=30, metavar="N",
                   help="how many changed functions to list in text (0: all; default 30)")
    p.add_argument("--max-input-size", type=_size, default=None, metavar="SIZE",
                   help="refuse larger files (default 256 MiB)")
    add_no_brotli(p)
    p.add_argument("--baseline-ref", metavar="REF",
                   help="diff NEW against its baseline entry committed at `git merge-base "
                        "REF HEAD` (give only NEW)")
    p.add_argument("--config", metavar="FILE",
                   help="configuration file, for --baseline-ref (default: search upwards)")
    p.set_defaults(func=run)


def _size(text):
    from loom_post.budget.units import UnitError, parse_size
    try:
        return parse_size(int(text) if text.isdigit() else text)
    except UnitError as e:
        raise ConfigError(f"--max-input-size {text}: {e}")


def compare(old_module, new_module, measures=()):
    """The differences; `measures`: also compare these whole-file sizes
    (file, gzip, brotli) as `<measure>_bytes_before/after`, `<measure>_delta_*`."""
    old, new = function_sizes(old_module), function_sizes(new_module)
    changes = compare_functions(old, new)
    sizes = {}
    for m in measures:
        a = Sizes(old_module.data, old_module.code_size).get(m)
        b = Sizes(new_module.data, new_module.code_size).get(m)
        sizes.update({f"{m}_bytes_before": a, f"{m}_bytes_after": b,
                      f"{m}_delta_bytes": b - a, f"{m}_delta_percent": percent(b, a)})
    return {
        **sizes,
        "code_bytes_before": old_module.code_size,
        "code_bytes_after": new_module.code_size,
        "delta_bytes": new_module.code_size - old_module.code_size,
        "delta_percent": percent(new_module.code_size, old_module.code_size),
        "functions_before": len(old), "functions_after": len(new),
        "added": sum(1 for c in changes if c.status == "added"),
        "removed": sum(1 for c in changes if c.status == "removed"),
        "changed": sum(1 for c in changes if c.status == "changed"),
        "unchanged": sum(1 for k in old if k in new and old[k] == new[k]),
        "functions": [c.to_json() for c in changes],
    }


def run(args):
    if args.top < 0:
        raise ConfigError("--top takes a number >= 0")
    if args.baseline_ref is not None:
        from loom_post.commands import diff_ref
        return diff_ref.run(args, _print_text)
    if args.new is None:
        raise ConfigError("diff needs OLD and NEW (or --baseline-ref REF NEW)")
    modules = []
    status = exitcodes.OK
    for path in (args.old, args.new):
        try:
            modules.append(load_module(path, limit=args.max_input_size)[1])
        except InputError as e:
            print_error(str(e))
            status = exitcodes.BAD_INPUT
    if status:
        return status
    doc = compare(*modules, measures=MEASURES[1:] if not args.no_brotli else MEASURES[1:3])
    doc = {"version": JSON_VERSION, "old": args.old, "new": args.new, **doc}
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        _print_text(doc, args.top)
    return exitcodes.OK


def _print_text(doc, top):
    print(f"code section: {doc['code_bytes_before']} -> {doc['code_bytes_after']} bytes "
          f"({signed(doc['delta_bytes'])}, {doc['delta_percent']})")
    print(f"functions: {doc['functions_before']} -> {doc['functions_after']} "
          f"({doc['added']} added, {doc['removed']} removed, {doc['changed']} changed, "
          f"{doc['unchanged']} unchanged)")
    for m in ("file", "gzip", "brotli"):
        if f"{m}_bytes_before" in doc:
            print(f"{m}: {doc[m + '_bytes_before']} -> {doc[m + '_bytes_after']} bytes "
                  f"({signed(doc[m + '_delta_bytes'])}, {doc[m + '_delta_percent']})")
    changes = doc["functions"]
    if not changes:
        return
    shown = changes[:top] if top else changes
    print(f"  {'delta':>8} {'old':>8} {'new':>8}  function")
    for c in shown:
        old = "-" if c["old"] is None else c["old"]
        new = "-" if c["new"] is None else c["new"]
        note = {"added": "  (added)", "removed": "  (removed)"}.get(c["status"], "")
        print(f"  {signed(c['delta']):>8} {old:>8} {new:>8}  {demangle(c['name'])}{note}")
    if len(changes) > len(shown):
        print(f"  ... and {len(changes) - len(shown)} more changed functions (--top 0 lists all)")
