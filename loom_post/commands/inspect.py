"""`loom-post inspect`: sections, code size and the largest functions of modules."""

import json

from loom_post.report import JSON_VERSION

from loom_post import exitcodes
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.fileio import load_module
from loom_post.budget.baseline import function_key
from loom_post.commands.check import add_no_brotli
from loom_post.report.demangle import demangle
from loom_post.sizes import MEASURES, Sizes
from loom_post.words import plural


def add_parser(sub):
    p = sub.add_parser("inspect", help="show sections, code size and the largest functions")
    p.add_argument("paths", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="how many of the largest functions to list (0: all; default 10)")
    p.add_argument("--max-input-size", type=_size, default=None, metavar="SIZE",
                   help="refuse larger files (default 256 MiB)")
    add_no_brotli(p)
    p.set_defaults(func=run)


def _size(text):
    from loom_post.budget.units import UnitError, parse_size
    try:
        return parse_size(int(text) if text.isdigit() else text)
    except UnitError as e:
        raise ConfigError(f"--max-input-size {text}: {e}")


def describe(path, module, data=None, brotli=True):
    names = module.function_names()
    sections = []
    for sec in module.sections:
        sections.append({"id": sec.id, "name": sec.name if sec.id == 0 else sec.kind,
                         "bytes": sec.payload_size})
    functions = []
    for pos, entry in enumerate(module.code):
        index = module.func_index(pos)
        functions.append({"index": index, "name": names.get(index), "body_bytes": entry.body_size})
    functions.sort(key=lambda f: (-f["body_bytes"], f["index"]))
    out = {"path": path, "code_bytes": module.code_size, "sections": sections,
           "functions": functions, "function_count": len(functions),
           "imported_functions": module.num_imported_funcs}
    if data is not None:
        out.update(Sizes(data, module.code_size).measure(
            MEASURES if brotli else MEASURES[:3]).to_json())
    return out


def run(args):
    if args.top < 0:
        raise ConfigError("--top takes a number >= 0")
    reports, status = [], exitcodes.OK
    for path in args.paths:
        try:
            data, module = load_module(path, limit=args.max_input_size)
        except InputError as e:
            print_error(str(e))
            status = exitcodes.BAD_INPUT
            continue
        info = describe(path, module, data, brotli=not args.no_brotli)
        if args.top:
            info["functions"] = info["functions"][:args.top]
        reports.append(info)
    if args.format == "json":
        print(json.dumps({"version": JSON_VERSION, "modules": reports}, indent=2))
    else:
        for info in reports:
            _print_text(info)
    return status


def _print_text(info):
    print(f"{info['path']}: code section {info['code_bytes']} bytes, "
          f"{plural(info['function_count'], 'function')} ({info['imported_functions']} imported)")
    sizes = [f"{m} {info[m + '_bytes']} B" for m in ("file", "gzip", "brotli")
             if m + "_bytes" in info]
    if sizes:
        print(f"  sizes: {', '.join(sizes)}")
    print(f"  {'section':<24} {'bytes':>10}")
    for sec in info["sections"]:
        label = sec["name"] if sec["id"] != 0 else f"custom \"{sec['name']}\""
        print(f"  {label:<24} {sec['bytes']:>10}")
    if info["functions"]:
        total = info["code_bytes"] or 1
        print(f"  {'function':<40} {'bytes':>8} {'%':>6}")
        for f in info["functions"]:
            name = demangle(function_key(f["index"], f["name"]))
            if len(name) > 40:
                name = name[:37] + "..."
            print(f"  {name:<40} {f['body_bytes']:>8} {100.0 * f['body_bytes'] / total:>5.1f}%")
