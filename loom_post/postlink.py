"""The per-file pipeline every route shares: lock, read, optimize, validate,
check nobody else wrote the file meanwhile, replace, gate.

`optimize` on the command line, the cargo wrapper, the linker hook and watch all
call `optimize_one` / `optimize_paths`; none of them touches a module file any
other way. A module that cannot be read or trusted is left untouched and its
Outcome carries the error; nothing here prints.
"""

import os

from loom_post import exitcodes
from loom_post.cache import Digests, measure_sizes, open_store
from loom_post.budget.gate import evaluate
from loom_post.errors import InputError
from loom_post.fileio import (load_module, locked, read_snapshot, replace_module,
                              still_unchanged, write_atomic)
from loom_post.passes.cached_run import optimize
from loom_post.passes.result import OptimizeResult
from loom_post.postlink_component import is_component
from loom_post.sizes import MEASURES


class Outcome:
    """What happened to one module: `error` (a message naming the path), or the
    optimizer's `result`, the budgets' `verdict` and notes."""

    def __init__(self, path, file=None):
        self.path = path                # the module's identity: reports, budgets, baseline
        self.file = file or path        # the file read and rewritten (cargo's deps/ copy)
        self.dwarf_hint = "--keep-dwarf"  # how to keep DWARF on the route in use
        self.error = None
        self.result = None
        self.verdict = None
        self.optimized = True
        self.notes = []
        self.parts = []            # a component's core modules (postlink_component)

    @property
    def failed(self):
        return (self.verdict is not None and self.verdict.status == "fail") or \
            any(p.failed for p in self.parts)


def default_jobs(load=None):
    """One worker per CPU that nobody else is using (1-minute load average):
    on a busy 2-core machine a second worker only adds fork start-up and
    CPU (measured in docs/speed.md: -j2 1.06x the wall time of -j1 on a
    634 KB module at load 16), while on an idle one it halves a large module's time."""
    cpus = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            load = 0.0
    return max(1, min(cpus, round(cpus - load)))


def optimize_one(path, config, output=None, keep_dwarf=False, jobs=1, passes=None,
                 never_grow=None, measures=(), identity=None, first_run=False,
                 dwarf_hint=None, optimize_for=None):
    """Optimize and gate one module. Never raises for a bad input: see Outcome.error.
    `passes`: pass names in order (None: the configuration's, else the defaults).
    `never_grow`: the measures the optimizer may not grow (None: the configuration's).
    `optimize_for`: the measure that wins a trade-off (None: the configuration's).
    `measures`: sizes to report even when no budget needs them (e.g. brotli).
    `identity`: the path budgets, [[module]] globs and the baseline know the module
    by (cargo's artifact path for the deps/ file a linker writes); default `path`.
    `first_run`: a baseline file not written yet is a note, not an error (builds).
    `dwarf_hint`: the option the DWARF notice names (the route's own spelling)."""
    outcome = Outcome(identity or path, file=path)
    if dwarf_hint:
        outcome.dwarf_hint = dwarf_hint
    keep_dwarf = keep_dwarf or config.keep_dwarf
    settings = config.settings_for(outcome.path)
    passes = passes if passes is not None else config.passes
    store = open_store(config)
    digests = Digests()   # this run's: the input and the output are each hashed once
    guarded = settings.never_grow if never_grow is None else never_grow
    optimize_for = optimize_for or settings.optimize_for
    measures = reported_measures(measures, guarded, optimize_for)
    try:
        with locked(path, timeout=config.lock_timeout):
            data, st = read_snapshot(path, config.max_input_size)
            if is_component(data):
                # imported here: it brings subprocess (wasm-tools) to every module's run
                from loom_post.component_rewrite import optimize_component
                optimize_component(outcome, data, st, config, (Outcome, _store, _gate), output,
                                   keep_dwarf, jobs, passes, never_grow, measures)
                return outcome
            # a cache hit needs the framing only: optimize() parses the payloads
            # (exit 3 when they do not parse) unless the cache vouches for them
            _, module = load_module(path, data, lazy=settings.optimize and store is not None)
            if not settings.optimize:
                outcome.optimized = False
                outcome.result = OptimizeResult.unchanged(data, module)
            else:
                outcome.result = optimize(data, module, passes=passes, keep_dwarf=keep_dwarf,
                                          jobs=jobs, never_grow=guarded, optimize_for=optimize_for,
                                          cache=store, digests=digests)
                outcome.notes.extend(outcome.result.notes)
            _store(path, output, outcome, st)
        outcome.verdict = _gate(output or outcome.path, outcome, config, settings, measures,
                                first_run, store, digests)
        if outcome.verdict.missing_baseline:
            outcome.notes.append(missing_baseline_note(outcome.verdict.missing_baseline))
    except FileNotFoundError:
        outcome.error = str(InputError("no such file", path=path))
    except InputError as e:
        outcome.error = str(e) if e.path else f"{path}: {e}"
    except OSError as e:
        outcome.error = f"{path}: {e.strerror or e}"
    if store is not None:
        store.evict()
    return outcome


def missing_baseline_note(baseline):
    return (f"baseline {baseline} does not exist yet, so growth since the baseline was "
            f"not checked; `loom-post baseline` records it")


def reported_measures(asked, guarded, optimize_for):
    """The compressed sizes a run reports besides code and file (and besides
    those a budget needs, which _gate adds): those asked for, plus gzip when
    the never-grow guard or optimize-for involves it. gzip -9 of input and
    output is a fifth of a cold run on a 1 MB module (docs/speed.md), so a run
    that guards only code or file does not pay for it unless asked (`--gzip`);
    brotli (~5 s per MB) is never added here, only asked for."""
    wanted = set(asked)
    if "gzip" in (guarded or ()) or optimize_for == "gzip":
        wanted.add("gzip")
    return tuple(m for m in MEASURES if m in wanted)


def _gate(path, outcome, config, settings, measures, first_run=False, store=None,
          digests=None):
    """The budgets' verdict, with the sizes reports show measured: code and file
    always, `measures` (reported_measures) and those a budget needs. A size
    the never-grow guard measured anyway is reported too (Sizes.put)."""
    from loom_post.budget.measures import measures_needed
    r = outcome.result
    wanted = {"code", "file"} | set(measures) | set(
        measures_needed(settings, optimizing=True))
    for sizes in (r.sizes_before, r.sizes_after):
        measure_sizes(sizes, [m for m in MEASURES if m in wanted], store, digests)
    return evaluate(path, r.module, config, sizes=r.sizes_after,
                    sizes_before=r.sizes_before, missing_baseline_ok=first_run)


def _store(path, output, outcome, st):
    """Write the result: to `output` (a copy of the input when nothing changed,
    so `-o` always writes), or over `path` when it changed and the file is
    still exactly what was read (`st`); another writer's data is never lost."""
    data = outcome.result.data
    if output:
        try:
            write_atomic(output, data, like=path)
        except OSError as e:
            raise InputError(f"cannot write: {e.strerror or e}", path=output)
    elif outcome.result.changed:
        why = still_unchanged(path, outcome.result.input_data, st)
        if why:
            raise InputError(f"{why}; left alone", path=path)
        left = replace_module(path, data)
        if left:
            outcome.notes.append(f"{left} other hard link(s) of {path} still hold the old module")


def optimize_paths(paths, config, output=None, keep_dwarf=False, jobs=None, passes=None,
                   never_grow=None, measures=(), identities=None, **route):
    """[Outcome] for every path, in order (a component's core modules follow it).
    `identities`: one per path (None: the paths themselves); `route`: first_run,
    dwarf_hint and optimize_for, as for optimize_one."""
    jobs = default_jobs() if jobs is None else jobs
    identities = identities or [None] * len(paths)
    outcomes = []
    for p, i in zip(paths, identities):
        o = optimize_one(p, config, output=output, keep_dwarf=keep_dwarf, jobs=jobs,
                         passes=passes, never_grow=never_grow, measures=measures,
                         identity=i, **route)
        outcomes += [o] + o.parts
    return outcomes


def exit_status(outcomes):
    if any(o.error for o in outcomes):
        return exitcodes.BAD_INPUT
    if any(o.failed for o in outcomes):
        return exitcodes.OVER_BUDGET
    return exitcodes.OK
