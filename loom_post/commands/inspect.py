"""`loom-post inspect`: sections, code size and the largest functions of modules."""

import json

from loom_post.report import JSON_VERSION

from loom_post import exitcodes
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.fileio import load_module, read_bytes
from loom_post.commands.inspect_component import describe_component, print_component
from loom_post.postlink_component import is_component
from loom_post.budget.baseline import function_key, function_labels, function_sizes
from loom_post.commands.check import add_no_brotli
from loom_post.report.demangle import by_crate, demangle
from loom_post.sizes import MEASURES, Sizes
from loom_post.words import plural


def add_parser(sub):
    p = sub.add_parser("inspect", help="show sections, code size and the largest functions")
    p.add_argument("paths", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="how many of the largest functions to list (0: all; default 10)")
    p.add_argument("--by", choices=("function", "crate"), default="function",
                   help="list the largest functions (default) or the code per crate")
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
    names = function_labels(module)
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
           "imported_functions": module.num_imported_funcs,
           "crates": [{"crate": c, "body_bytes": b, "functions": n}
                      for c, b, n in by_crate(function_sizes(module))]}
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
            data = read_bytes(path, args.max_input_size)
            if is_component(data):
                reports.append(describe_component(path, data, describe,
                                                  not args.no_brotli, args.top))
                continue
            data, module = load_module(path, data)
        except InputError as e:
            print_error(str(e))
            status = exitcodes.BAD_INPUT
            continue
        info = describe(path, module, data, brotli=not args.no_brotli)
        if args.top:
            info["functions"] = info["functions"][:args.top]
            info["crates"] = info["crates"][:args.top]
        reports.append(info)
    if args.format == "json":
        print(json.dumps({"version": JSON_VERSION, "modules": reports}, indent=2))
    else:
        for info in reports:
            if info.get("component"):
                print_component(info, lambda part: _print_text(part, args.by))
            else:
                _print_text(info, args.by)
    return status


def _print_text(info, by="function"):
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
    if by == "crate":
        _print_crates(info)
    elif info["functions"]:
        total = info["code_bytes"] or 1
        print(f"  {'function':<40} {'bytes':>8} {'%':>6}")
        for f in info["functions"]:
            name = demangle(function_key(f["index"], f["name"]))
            if len(name) > 40:
                name = name[:37] + "..."
            print(f"  {name:<40} {f['body_bytes']:>8} {100.0 * f['body_bytes'] / total:>5.1f}%")


def _print_crates(info):
    total = info["code_bytes"] or 1
    print(f"  {'crate':<40} {'bytes':>8} {'%':>6} {'functions':>9}")
    for c in info["crates"]:
        name = c["crate"] if len(c["crate"]) <= 40 else c["crate"][:37] + "..."
        print(f"  {name:<40} {c['body_bytes']:>8} {100.0 * c['body_bytes'] / total:>5.1f}%"
              f" {c['functions']:>9}")
