"""The package's layers: no import cycles, and each layer imports nothing from
the layers above it (wasm/ imports nothing outside itself)."""

import ast
import os

import pytest

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "loom_post")

# Lowest first. A module may import its own layer and the ones before it.
LAYERS = [
    ("native",),  # loads the compiled build of the hot modules; imports nothing
    ("wasm",),
    ("exitcodes", "errors", "symbols", "words"),  # symbols: Rust names, imports nothing
    ("regular", "tempfiles", "locks", "children"),  # regular files, temp files, locks; forked children
    ("fileio", "sizes", "cache"),  # reading modules, atomic replacement; file sizes; result store
    ("passes",),
    ("budget",),
    ("report",),
    ("postlink", "postlink_component", "component_rewrite"),
    ("integrations",),
    ("commands", "cli", "cargo_subcommand", "__main__", "__init__"),
]


def _modules():
    out = {}
    for root, _dirs, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, os.path.dirname(PKG))[:-3].replace(os.sep, ".")
                out[rel[:-9] if rel.endswith(".__init__") else rel] = path
    return out


def _imports(name, path, modules):
    """Every loom_post module `name` imports (anywhere in the file)."""
    tree = ast.parse(open(path).read())
    pkg = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import a, b`: every submodule named, and pkg itself
            cands = [f"{target}.{a.name}" for a in node.names] + [target]
        elif isinstance(node, ast.Import):
            cands = [a.name for a in node.names]
        else:
            continue
        found.update(c for c in cands if c in modules and c != name)
    return found


def _layer(name):
    parts = name.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    for rank, layer in enumerate(LAYERS):
        if key in layer:
            return rank
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


MODULES = _modules()
GRAPH = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def test_every_module_is_in_a_layer():
    for name in MODULES:
        _layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_from_a_higher_layer(name):
    if name == "loom_post":
        return
    mine = _layer(name)
    above = sorted(m for m in GRAPH[name] if m != "loom_post" and _layer(m) > mine)
    assert not above, f"{name} imports from a higher layer: {above}"


def test_the_format_layer_imports_nothing_outside_it():
    for name, deps in GRAPH.items():
        if name.startswith("loom_post.wasm"):
            outside = sorted(d for d in deps if not d.startswith("loom_post.wasm"))
            assert not outside, f"{name} imports {outside}"


def test_no_import_cycles():
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH.get(n, ())):
            if m == "loom_post" or m.endswith("__main__"):
                continue
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(GRAPH):
        if n not in state:
            visit(n)


def test_the_checker_sees_a_cycle_and_a_layer_breach():
    """The graph is real: known edges are found, so a new cycle would be too."""
    assert "loom_post.wasm.leb128" in GRAPH["loom_post.wasm.module"]
    assert "loom_post.postlink" in GRAPH["loom_post.integrations.link"]
    # every module of a `from pkg import a, b, c` line, not only the first
    assert "loom_post.passes.guard" in GRAPH["loom_post.passes.pipeline"]
    assert "loom_post.passes.results_cache" in GRAPH["loom_post.passes.pipeline"]
    assert _layer("loom_post.cli") > _layer("loom_post.integrations.link")
