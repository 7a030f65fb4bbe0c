"""`loom-post inspect` on a component: its structure (sections, nested
components, embedded core modules with their sizes) and, for every core
module, the same description as a module's (sections, code, top functions).

The module description is commands/inspect.py's `describe`, passed in, so this
file does not import the command that calls it.
"""

from loom_post.postlink_component import load_component
from loom_post.sizes import MEASURES, Sizes


def _structure(comp, members_by_ordinal):
    """{name, sections, components: [...], modules: [identity]} of one level."""
    sections = [{"id": s.id, "name": s.name if s.id == 0 else s.kind,
                 "offset": comp.offset + s.payload_start, "bytes": s.payload_size}
                for s in comp.sections]
    out = {"name": comp.name, "offset": comp.offset, "bytes": len(comp.data),
           "sections": sections, "modules": [], "components": []}
    for item in comp.items:
        if hasattr(item, "ordinal"):
            out["modules"].append(members_by_ordinal[item.ordinal].identity)
        else:
            out["components"].append(_structure(item, members_by_ordinal))
    return out


def describe_component(path, data, describe, brotli=True, top=0):
    """The JSON-able description of the component `data`; InputError when it
    cannot be read. `describe(identity, module, data, brotli)`: a module's."""
    comp, members = load_component(path, data)
    modules = []
    for m in members:
        info = describe(m.identity, m.module, m.core.data, brotli=brotli)
        info["offset"] = m.core.section.payload_start
        info["name"] = m.core.name
        if top:
            info["functions"] = info["functions"][:top]
            info["crates"] = info["crates"][:top]
        modules.append(info)
    out = {"path": path, "component": True,
           "code_bytes": sum(m.module.code_size for m in members),
           "structure": _structure(comp, {m.core.ordinal: m for m in members}),
           "modules": modules}
    out.update(Sizes(data, out["code_bytes"]).measure(
        MEASURES if brotli else MEASURES[:3]).to_json())
    return out


def print_component(info, print_module):
    sizes = [f"{m} {info[m + '_bytes']} B" for m in ("file", "gzip", "brotli")
             if m + "_bytes" in info]
    print(f"{info['path']}: WebAssembly component, {len(info['modules'])} core module(s), "
          f"code sections {info['code_bytes']} bytes in all")
    print(f"  sizes: {', '.join(sizes)}")
    _print_level(info["structure"], "  ")
    for module in info["modules"]:
        print_module(module)


def _print_level(level, indent):
    label = f" \"{level['name']}\"" if level["name"] else ""
    print(f"{indent}component{label} at byte {level['offset']}, {level['bytes']} bytes")
    print(f"{indent}  {'section':<24} {'offset':>8} {'bytes':>10}")
    nested = iter(level["components"])
    modules = iter(level["modules"])
    for sec in level["sections"]:
        label = sec["name"] if sec["id"] != 0 else f"custom \"{sec['name']}\""
        if sec["id"] == 1:
            label = f"core module #{next(modules).rsplit('#', 1)[1]}"
        print(f"{indent}  {label:<24} {sec['offset']:>8} {sec['bytes']:>10}")
        if sec["id"] == 4:
            _print_level(next(nested), indent + "    ")
