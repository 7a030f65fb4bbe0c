"""Components in the per-file pipeline: each embedded core module is measured,
gated and optimized like a module of its own, under the identity
`PATH#<name or index>`, and the component file as a whole gets the whole-file
measures (file, gzip, brotli; its `code` is the sum of its modules' code sections).

Optimizing a component: validate the input component completely (a component
validator, passes/validate_component.py; without one nothing is rewritten), run
every core module through the same pipeline and guard as a module, write the
component back with the new modules (wasm/component.py keeps everything else
byte for byte), validate that complete output, keep it only when no measure the
component's `never-grow` guards grew, and only then hand it to the caller's
store (postlink._store: the same checks and atomic replacement as a module).
An error anywhere leaves the file untouched.

Measuring lives here; optimizing is component_rewrite.py, so that `check` and
`inspect` of a component never import the optimizer (start-up, docs/speed.md).
"""

from loom_post.errors import InputError
from loom_post.sizes import MEASURES, Sizes
from loom_post.wasm.component import is_component, read_component  # noqa: F401
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.module import read_module


class WholeComponent:
    """The component file where the gate and baselines expect a module: its
    bytes, and as `code` the code sections of all its core modules."""

    code = ()
    exports = ()
    num_imported_funcs = 0

    def __init__(self, data, code_size):
        self.data = data
        self.code_size = code_size

    def function_names(self):
        return {}


class Member:
    """One embedded core module: its identity, place and parsed module."""

    def __init__(self, identity, core, module):
        self.identity, self.core, self.module = identity, core, module


def _label(core, counts):
    name = (core.name or "").strip()
    if not name or counts.get(name, 0) > 1:
        return str(core.ordinal)
    return "".join("_" if c in "/\\# \t\n" else c for c in name)


def load_component(path, data, identity_of=None):
    """(Component, [Member]) of the component `data` read from `path`; InputError
    (naming the path, or the member's identity) when any part does not parse."""
    try:
        comp = read_component(data)
    except DecodeError as e:
        raise InputError(f"{e}", path=path)
    cores = comp.core_modules()
    counts = {}
    for core in cores:
        counts[core.name] = counts.get(core.name, 0) + 1
    members = []
    for core in cores:
        identity = f"{identity_of or path}#{_label(core, counts)}"
        try:
            module = read_module(core.data)
        except DecodeError as e:   # offsets in the file, not in the module
            raise InputError(f"embedded core module: {e.message} at byte "
                             f"{core.section.payload_start + e.offset}", path=identity)
        members.append(Member(identity, core, module))
    return comp, members


def whole(data, members):
    return WholeComponent(data, sum(m.module.code_size for m in members))


def measured(path, data, config, measures):
    """[(identity or path, module, Sizes)] of every member and the whole file,
    for check and baseline; InputError when the component cannot be read."""
    _, members = load_component(path, data)
    out = [(path, whole(data, members), None)]
    out += [(m.identity, m.module, None) for m in members]
    return [(p, mod, Sizes(mod.data, mod.code_size).measure(measures)) for p, mod, _ in out]


def verdicts(path, data, config, brotli=True):
    """The gate's Verdicts: the whole file first, then each member."""
    from loom_post.budget.gate import evaluate
    measures = MEASURES if brotli else MEASURES[:3]
    return [evaluate(p, module, config, sizes=sizes)
            for p, module, sizes in measured(path, data, config, measures)]
