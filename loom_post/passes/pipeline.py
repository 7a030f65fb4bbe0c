"""Runs the chosen passes over one module under one exact byte gate, and checks
the result before anyone sees it. The entry, `optimize`, is in cached_run.py:
it answers from the module-level result cache and calls `run` here on a miss,
so a hit never imports this module.

Each defined function is decoded and typed once; the consecutive function
passes then run on it in order, and it is encoded once. The new body is kept
only when its whole entry (size prefix included) is strictly smaller than the
original entry; otherwise the original bytes stay. So no function, and no code
section, ever grows. Each pass is credited with exactly the entry bytes it
saved, measured by encoding after it. Re-encoding the original with minimal
LEB128s is credited to the pass that asks for re-encoding (`reencodes`, the
`compact` pass) when it ran on the function, else apart
(`bytes_saved_by_reencoding`: what the functions other passes changed gained
from being written minimally). So a module's code bytes saved is always the sum
of its passes' `bytes_saved` plus `bytes_saved_by_reencoding`.

A module pass runs on its own copy of the module; its output is kept only when
the whole module got strictly smaller and the code section did not grow, and it
is credited with the code bytes it saved. After each phase that changed
something the module is read again, so the next phase sees what was written.

The pipeline, not a pass, owns:
- the run's store of decoded bodies (bodies.py): merge-similar-functions, the
  function phase and renumber-functions read every body, and each is decoded
  once per run (a body a pass rewrote is decoded afresh, by its new bytes);
- the worker pool: a large module's functions are shared out to forked workers
  (functions are independent, so the result is the same either way);
- protection: `__wbindgen_describe*` functions and everything they call are
  left alone, because wasm-bindgen interprets them; modules with 64-bit
  memories are measured but not rewritten;
- DWARF: `.debug_*` sections address code by offset, so they are dropped when
  any function changed (unless keep_dwarf);
- validation (validate.py): nothing is rewritten unless wasmtime's complete
  validator accepts the input (else InputInvalid: the caller leaves it alone;
  or, for a feature the validator lacks, the result is unchanged with a note)
  and the output (else OutputInvalid: the caller keeps the input);
- the workers' lives: they die with the parent (PR_SET_PDEATHSIG, else a
  thread watching the parent pid), so a killed run leaves no worker behind;
- the never-grow guard (guard.py): after every pass, rewrites are reverted
  while the output would be larger than the guard's reference in a guarded
  measure (code, file, gzip, brotli): the input, or the input without the
  stale DWARF the output drops. `optimize()` guards only `code` unless told otherwise;
  the configuration's default (`never-grow`) is every measure.
"""

from loom_post.children import die_with_parent
from loom_post.passes import PASSES, base, funcindex, guard as guard_mod, results_cache
from loom_post.passes.bodies import Bodies
from loom_post.passes.result import OptimizeResult
from loom_post.passes.validate import check_input, validate_output
from loom_post.sizes import Sizes, guarded_measures
from loom_post.wasm.instructions import encode_body, encode_body_marked
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.leb128 import read_u32, size_u
from loom_post.wasm.module import read_module
from loom_post.wasm.stack_types import StackTypeError

PARALLEL_MIN_CODE = 256 * 1024  # below this, starting workers costs more than it saves


def run(data, module, chosen, keep_dwarf, jobs, never_grow, optimize_for, rc):
    """The passes `chosen` over `data` (its parsed `module`), under the guard,
    validated (cached_run.optimize, the entry, calls this on a miss; `rc`:
    its results_cache.ResultsCache for the per-function results, or None)."""
    result = OptimizeResult(data, module, module.code_size, chosen)
    note = check_input(data)  # InputInvalid when the validator rejects it
    if note:
        result.notes.append(note)
        return result
    if module.memory64():
        result.not_understood = len(module.code)  # 64-bit addresses: not supported yet
        return result
    guard = _make_guard(data, module, never_grow, optimize_for, keep_dwarf)
    bodies = Bodies()  # each body decoded once for every pass of this run
    try:
        module, result = _run_phases(data, module, chosen, keep_dwarf, jobs, guard, rc, bodies)
        if guard is not None and not guard.confirm(_final_candidate(module, result, keep_dwarf)):
            guard.careful()   # the deferred brotli check failed: every step exactly
            module, result = _run_phases(data, read_module(data), chosen, keep_dwarf, jobs, guard,
                                         rc, bodies)
        _guard_done(guard, result, never_grow)
    finally:
        if guard is not None:
            guard.close()
    return _finish(data, module, result, keep_dwarf)


def _run_phases(data, module, chosen, keep_dwarf, jobs, guard, rc, bodies):
    result = OptimizeResult(data, module, module.code_size, chosen)
    protected = wbindgen_protected(module, bodies)
    result.skipped = sum(1 for pos in range(len(module.code))
                         if module.func_index(pos) in protected)
    for phase in _phases(chosen):
        if phase[0].level == "module":
            for p in phase:
                module, protected = _module_pass(module, p, protected, result, guard, keep_dwarf,
                                                 bodies)
            continue
        _function_phase(module, phase, protected, jobs, result, rc, bodies)
        if guard is not None and module.changed:
            _guard_functions(guard, data, module, result, keep_dwarf, bodies)
        if module.changed:  # the next phase reads what this one wrote
            module = read_module(module.to_bytes())
    return module, result


def _module_pass(module, p, protected, result, guard, keep_dwarf, bodies):
    """Run a module pass on its own copy; keep its output only when the module
    got strictly smaller, its code section did not grow and the never-grow
    guard accepts it."""
    work = read_module(module.to_bytes())  # a rejected pass leaves no trace
    stats = base.PassStats(p.name, p.counters)
    if p.shares_bodies:
        p.run_module(work, protected, stats, bodies)
    else:
        p.run_module(work, protected, stats)
    if not work.changed:
        result.passes[p.name].add(_analysis_only(p, stats))
        return module, protected
    out = work.to_bytes()
    new = read_module(out)
    if (len(out) >= len(module.data) or new.code_size > module.code_size
            or (guard is not None and not _guard_accepts(guard, module, new, keep_dwarf))):
        result.passes[p.name].add(_analysis_only(p, stats))
        return module, protected
    stats.bytes_saved = module.code_size - new.code_size
    result.passes[p.name].add(stats)
    if new.code_payload() != module.code_payload():  # code moved: offsets changed
        result.code_offsets_changed = True
    return new, wbindgen_protected(new, bodies)


def _phases(chosen):
    """Consecutive function passes run together on each decoded function."""
    phases = []
    for p in chosen:
        if phases and p.level == "function" and phases[-1][0].level == "function":
            phases[-1].append(p)
        else:
            phases.append([p])
    return phases


def _finish(data, module, result, keep_dwarf):
    if (result.functions_changed or result.code_offsets_changed) and not keep_dwarf:
        # DWARF addresses code by offset: once a body changes it describes
        # code that no longer exists, so drop it as wasm-opt does without -g.
        for sec in module.custom_sections():
            if sec.name.startswith(".debug_"):
                module.drop_section(sec)
                result.dwarf_dropped.append(sec.name)
    out = module.to_bytes()
    if out is data or out == data:
        return result
    new_module = validate_output(out)
    if new_module.code_size > result.code_bytes_before:
        raise AssertionError("optimizer grew the code section")
    result.data, result.module, result.changed = out, new_module, True
    result.code_bytes_after = new_module.code_size
    result.sizes_after = Sizes(out, new_module.code_size)
    for measure, size in result.guard_after(out).items():   # the guard measured these bytes
        if measure in ("gzip", "brotli"):
            result.sizes_after.put(measure, size)
    return result


def _function_phase(module, passes, protected, jobs, result, rc, bodies):
    todo = [pos for pos in range(len(module.code))
            if module.func_index(pos) not in protected]
    outcomes, todo, keys = _cached_functions(rc, module, passes, todo)
    result.functions_cached = len(outcomes)
    if todo:
        contexts = [p.prepare(module) for p in passes]
        if jobs > 1 and module.code_size >= PARALLEL_MIN_CODE and len(todo) > 1:
            fresh = _run_parallel(module, passes, contexts, todo, jobs, bodies)
        else:
            fresh = run_functions(module, passes, contexts, todo, bodies)
        outcomes = sorted(outcomes + fresh, key=lambda o: o[0])  # the order of a cold run
    if rc is not None and todo:
        _record_functions(rc, module, passes, outcomes, keys)
    reencoder = next((p for p in passes if p.reencodes), None)
    for pos, new_body, stats, understood in outcomes:
        if not understood:
            result.not_understood += 1
        for s in stats:
            result.passes[s.name].add(s)
        if new_body is None:
            continue
        module.replace_body(pos, new_body[0])
        if len(new_body) > 2 and new_body[2] is not None:  # found while encoding it
            bodies.note_references(new_body[0], new_body[2])
        result.function_stats[pos] = (stats, new_body[1])
        result.bytes_saved_by_reencoding += new_body[1]
        result.functions_changed += 1
    if module.changed:
        # What no function accounts for: the code section's own count, written
        # minimally once any body is replaced (computed, not inferred from the
        # totals, so that a wrong credit above shows as a sum that does not add up).
        start = module.code_section.payload_start
        _count, after = read_u32(module.data, start)
        rest = (after - start) - size_u(len(module.code))
        if reencoder is not None:
            result.passes[reencoder.name].bytes_saved += rest
        else:
            result.bytes_saved_by_reencoding += rest
    for p in passes:
        p.after_functions(module, result.passes[p.name])


def _cached_functions(rc, module, passes, todo):
    """([outcome] found in the cache, positions still to run, {position: key})."""
    if rc is None:
        return [], todo, {}
    names = [p.name for p in passes]
    keys = rc.function_keys(module, todo)
    pack = rc.get_functions(module, names)
    found, missing = [], []
    for pos in todo:
        value = pack.get(keys[pos])
        try:
            outcome = results_cache.decode_outcome(value) if value is not None else None
        except ValueError:  # a damaged entry is a miss
            outcome = None
        if outcome is None:
            missing.append(pos)
        else:
            found.append((pos,) + outcome)
    return found, missing, keys


def _record_functions(rc, module, passes, outcomes, keys):
    """Record this phase's outcomes as the pack of this module context (the
    last run's functions: what the next build of the same program reuses)."""
    pack = {keys[pos]: results_cache.encode_outcome(body, stats, understood)
            for pos, body, stats, understood in outcomes}
    rc.put_functions(module, [p.name for p in passes], pack)


def run_functions(module, passes, contexts, positions, bodies):
    """[(position, (new body, re-encoding saving) or None, [PassStats], understood)]."""
    out = []
    for pos in positions:
        entry = module.code[pos]
        data = module.data[entry.body_start:entry.end]
        try:
            body = bodies.of_bytes(data)
            func = base.Function(module, pos, body)
            func.effects()
        except (DecodeError, StackTypeError):
            out.append((pos, None, [], False))
            continue
        # a body written minimally already is its own re-encoding
        same = (data, None) if body.minimal else None
        out.append((pos,) + _run_one(func, entry.end - entry.start, passes, contexts, same)
                   + (True,))
    return out


def _entry(size):
    return size + size_u(size)


def _run_one(func, old_entry, passes, contexts, same=None):
    """Run the passes on one function; ((bytes, re-encoding saving, its
    function references) or None, [PassStats]) where the body is kept only
    when its entry is strictly smaller. `same`: (bytes, None) when the
    original's re-encoding is known to be its own bytes."""
    original = (func.locals, func.instrs)
    sizes = []          # entry size before each pass that changed it, and after
    per_pass = []
    reencoder = None    # the stats of a pass that asked for re-encoding (compact)
    encoded = None      # (locals, instrs, bytes, references) last encoded
    refs = funcindex.REF_ROWS
    # a minimal original's instructions are copied from its bytes when encoding
    # what the passes made of them
    source = (original[1], same[0]) if same is not None else None
    for p, ctx in zip(passes, contexts):
        stats = base.PassStats(p.name)
        before = (func.locals, func.instrs)
        if p.run_function(ctx, func, stats):
            if p.reencodes:
                reencoder = stats
            if not sizes:
                encoded = original + (same or encode_body_marked(*original, refs))
                sizes.append(_entry(len(encoded[2])))
            if encoded[0] is not func.locals or encoded[1] is not func.instrs:
                # a pass that only asks for re-encoding (compact) leaves the very
                # same lists: their encoding is already known
                encoded = (func.locals, func.instrs) + encode_body_marked(
                    func.locals, func.instrs, refs, source)
            body = encoded[2]
            sizes.append(_entry(len(body)))
            stats.functions_changed = 1
            stats.bytes_saved = sizes[-2] - sizes[-1]
        elif (func.locals, func.instrs) != before:  # pragma: no cover - a pass bug
            raise AssertionError(f"pass {p.name} changed a function but said it did not")
        per_pass.append(stats)
    if not sizes or sizes[-1] >= old_entry:
        return None, [_analysis_only(p, s) for p, s in zip(passes, per_pass)]
    reencoding = old_entry - sizes[0]
    if reencoder is not None:  # compact ran: the re-encoding saving is its own
        reencoder.bytes_saved += reencoding
        reencoder.functions_changed = int(reencoding > 0)
        reencoding = 0
    return (body, reencoding, encoded[3]), per_pass


def _analysis_only(p, stats):
    kept = base.PassStats(p.name)
    for key in p.analysis_counters:
        if key in stats.counters:
            kept.count(key, stats.counters[key])
    return kept


_worker_state = None  # set in forked workers only


def _init_worker(state, parent):
    global _worker_state
    _worker_state = state
    die_with_parent(parent)



def _work(positions):
    module, passes, contexts, bodies = _worker_state
    return run_functions(module, passes, contexts, positions, bodies)


def _run_parallel(module, passes, contexts, positions, jobs, bodies):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return run_functions(module, passes, contexts, positions, bodies)
    # Balance by body size: biggest first, each to the least loaded share.
    shares = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for pos in sorted(positions, key=lambda p: -module.code[p].body_size):
        k = loads.index(min(loads))
        shares[k].append(pos)
        loads[k] += module.code[pos].body_size
    import os
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=((module, passes, contexts, bodies),
                                           os.getpid())) as pool:
            parts = list(pool.map(_work, [s for s in shares if s]))
    except (OSError, RuntimeError):  # cannot start workers: do it here
        return run_functions(module, passes, contexts, positions, bodies)
    return [r for part in parts for r in part]


def wbindgen_protected(module, bodies):
    """Function indices wasm-bindgen interprets: `__wbindgen_describe*` functions
    (by export or name-section name) and everything they call."""
    named = {}
    for name, kind, index in module.exports:
        if kind == "func":
            named.setdefault(index, name)
    names = module.function_names()
    work = [i for i, n in list(names.items()) + list(named.items())
            if n.startswith("__wbindgen_describe")]
    seen = set()
    while work:
        index = work.pop()
        if index in seen:
            continue
        seen.add(index)
        pos = index - module.num_imported_funcs
        if not 0 <= pos < len(module.code):
            continue
        try:
            body = bodies.get(module, pos)
        except DecodeError:
            continue
        work.extend(imm for op, imm, _s, _e in body.instrs
                    if op.name in ("call", "return_call"))
    return seen


# -- the never-grow guard (guard.py decides; this applies its decision) -------------

def _make_guard(data, module, never_grow, optimize_for, keep_dwarf):
    """The guard for the measures beyond code (None when only code is guarded
    and preferred: every kept entry is strictly smaller, so code cannot grow)."""
    measures = guarded_measures(never_grow)
    if measures == ("code",) and optimize_for == "code":
        return None
    # Changed code drops stale DWARF: the reference is the input without it
    # (guard.py says when), and its brotli, all but sure to be needed, starts at once.
    stripped = _candidate(module, True, keep_dwarf)
    early = len(stripped) < len(data)
    use = len(data) - len(stripped) >= guard_mod.DWARF_MIN
    return guard_mod.Guard(data, measures, prefer=optimize_for, early=early,
                           reference=stripped if use else None)


def _guard_accepts(guard, module, new, keep_dwarf):
    """A module pass's output passes the guard, and is not larger than what
    it started from in the optimize-for measure."""
    out = _candidate(new, True, keep_dwarf)
    if not guard.accepts(out):
        return False
    return guard.prefer == "code" or (guard.preferred(out)
                                      <= guard.preferred(_candidate(module, True, keep_dwarf)))


def _final_candidate(module, result, keep_dwarf):
    return _candidate(module, result.functions_changed or result.code_offsets_changed, keep_dwarf)


def _guard_functions(guard, data, module, result, keep_dwarf, bodies):
    """Keep the subset of this phase's rewritten functions under which no
    guarded measure of the whole output is larger than the input's; then,
    of the functions reverted, the subset whose compact-only rewrite passes;
    then, over those, the full rewrites that pass now."""
    replaced = module.replaced_bodies()
    reencoder = _reencoder(result, replaced)
    full = set(guard_mod.choose(guard, data, module, replaced,
                                _builder(module, replaced, {}, keep_dwarf)))
    # compact alone (dropping wasm-ld's LEB padding) almost never grows a
    # compressed size where CSE's rewrite of the same function did: try it
    compacted = _compacted(module, [pos for pos in replaced if pos not in full], reencoder,
                           bodies)
    compact = set()
    if compacted:
        kept = {pos: replaced[pos] for pos in full}
        compact = set(guard_mod.choose(guard, module.data, module, compacted,
                                       _builder(module, compacted, kept, keep_dwarf)))
    if compact:
        full, compact = _retry_full(guard, module, replaced, full,
                                    {pos: compacted[pos] for pos in compact}, keep_dwarf)
    _apply_guarded(module, result, replaced, full, compacted, compact, reencoder)


def _retry_full(guard, module, replaced, full, compact, keep_dwarf):
    """(full, compact positions) after retrying, over the output as it now
    stands, the full rewrites not kept: over compacted neighbours one may pay
    where it did not over padded ones. A second run over this output would try
    exactly these, judged against its input (this output) and estimated on its
    bytes; so they are tried here the same way, until none is kept, and the
    optimizer stays idempotent."""
    for _ in range(guard_mod.RETRY_ROUNDS):
        again = {pos: body for pos, body in replaced.items()
                 if pos not in full and body != compact.get(pos)}
        if not again:
            break
        base = {pos: replaced[pos] for pos in full}
        base.update(compact)
        build = _builder(module, again, base, keep_dwarf)
        now = build([])
        more = set(guard_mod.choose(guard, now, read_module(now), again, build))
        if not more:
            break
        full = full | more
        compact = {pos: body for pos, body in compact.items() if pos not in more}
    return full, set(compact)


def _apply_guarded(module, result, replaced, full, compacted, compact, reencoder):
    """Write the guard's decision: full rewrites, compact-only ones, the rest
    original; the figures of what was undone taken out."""
    for pos in replaced:
        if pos in full:
            module.replace_body(pos, replaced[pos])
            continue
        _revert_stats(result, pos)
        if pos in compact:
            module.replace_body(pos, compacted[pos])
            _credit_compact(result, reencoder, pos, module.code[pos], compacted[pos])
        else:
            module.revert_body(pos)


def _reencoder(result, replaced):
    """The name of the phase's re-encoding pass (compact), None when none ran."""
    first = next(iter(replaced), None)   # every function's stats name every pass
    stats = result.function_stats[first][0] if first is not None else ()
    return next((s.name for s in stats if s.name in PASSES and PASSES[s.name].reencodes), None)


def _builder(module, candidates, fixed, keep_dwarf):
    """build(keep) for guard.choose: the output with `fixed` ({position: body})
    and the candidates at the positions in `keep` rewritten (over `fixed`'s
    body at the same position), the rest original."""
    def build(keep):
        for pos, body in fixed.items():
            module.replace_body(pos, body)
        for pos in candidates:
            if pos in keep:
                module.replace_body(pos, candidates[pos])
            elif pos not in fixed:
                module.revert_body(pos)
        return _candidate(module, True, keep_dwarf)   # none kept: the reference
    return build


def _compacted(module, positions, reencoder, bodies):
    """{position: minimally re-encoded original body} of the reverted
    `positions` whose entry that makes strictly smaller, when a re-encoding
    pass (compact) ran in the phase; {} otherwise."""
    if not positions or reencoder is None:
        return {}
    out = {}
    for pos in positions:
        entry = module.code[pos]
        try:
            body = bodies.get(module, pos)   # the function phase decoded it: no second decode
        except DecodeError:
            continue
        if body.minimal:
            continue        # its re-encoding is its own bytes: nothing to gain
        body = encode_body(body.locals, body.instrs)
        if _entry(len(body)) < entry.end - entry.start:
            out[pos] = body
    return out


def _credit_compact(result, reencoder, pos, entry, body):
    """Count a compact-only rewrite kept after its function's full rewrite was
    reverted (_revert_stats took that one's figures out)."""
    stats = base.PassStats(reencoder)
    stats.functions_changed, stats.bytes_saved = 1, entry.end - entry.start - _entry(len(body))
    result.passes[reencoder].add(stats)
    result.function_stats[pos] = ([stats], 0)
    result.functions_changed += 1
    result.functions_reverted -= 1   # not all of it: compact's part stays


def _guard_done(guard, result, never_grow):
    result.never_grow = guarded_measures(never_grow)
    if guard is None:
        return
    result.guard_confirmations = guard.confirmations
    result.guard_after = guard.known
    if guard.stripped:
        result.guard_reference = dict(guard.reference_sizes)
    for measure in ("gzip", "brotli"):   # measured already: reports reuse them
        if measure in guard.before:
            result.sizes_before.put(measure, guard.before[measure])


def _candidate(module, drop_dwarf, keep_dwarf):
    """The bytes _finish would write for the module as it stands now."""
    dropped = []
    if drop_dwarf and not keep_dwarf:
        dropped = [s for s in module.custom_sections() if s.name.startswith(".debug_")]
    for sec in dropped:
        module.drop_section(sec)
    try:
        return module.to_bytes()
    finally:
        for sec in dropped:
            module._dropped.discard(id(sec))


def _revert_stats(result, pos):
    stats, reencoding = result.function_stats.pop(pos)
    result.functions_changed -= 1
    result.functions_reverted += 1
    result.bytes_saved_by_reencoding -= reencoding
    for s in stats:
        total = result.passes[s.name]
        total.functions_changed -= s.functions_changed
        total.bytes_saved -= s.bytes_saved
        analysis = PASSES[s.name].analysis_counters if s.name in PASSES else ()
        for key, n in s.counters.items():
            if key not in analysis:
                total.counters[key] -= n
