"""One optimizer run over a module as its callers see it (`optimize`, the
entry every route and test uses): answered from the module-level result cache
when the cache holds it, by the pipeline (pipeline.py, `run`) when it does
not; a miss's result is recorded here for the next run.

A hit runs no pass, types no function and validates nothing (docs/speed.md,
"Warm runs"), so the pipeline, stack typing and the guard are imported on a
miss only, and a hit pays for none of their imports (tests/test_warm.py). It
parses no payload either, of its input or of the cached output: both are read
lazily (wasm/module.py), and an input read so is parsed here on a miss.
"""

import contextlib
import gc

from loom_post.errors import InputError
from loom_post.passes import resolve, results_cache
from loom_post.passes.result import OptimizeResult
from loom_post.sizes import Sizes, guarded_measures
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.module import read_module


def optimize(data, module=None, passes=None, keep_dwarf=False, jobs=1, never_grow=("code",),
             optimize_for="code", cache=None, digests=None):
    """Run the passes named in `passes` (None: the defaults) over `data`; keep
    the output only where no measure in `never_grow` grew, preferring the
    smaller `optimize_for` measure where rewrites trade one against another
    (guard.py). `cache`: a loom_post.cache.Store to reuse and record results
    in, or None. `digests`: the calling run's loom_post.cache.Digests, so
    that the bytes it hashes again (the sizes' keys) are hashed once."""
    with _no_cyclic_gc():
        module = module if module is not None else read_module(data)
        chosen = resolve(passes)
        if cache is None:
            return _run_pipeline(data, _parsed(module), chosen, keep_dwarf, jobs, never_grow,
                                 optimize_for, None)
        rc = results_cache.ResultsCache(cache, [p.name for p in chosen],
                                        guarded_measures(never_grow), keep_dwarf,
                                        optimize_for=optimize_for, digests=digests)
        result = _cached(rc, data, module, chosen, never_grow)
        if result is None:
            result = _run_pipeline(data, _parsed(module), chosen, keep_dwarf, jobs, never_grow,
                                   optimize_for, rc)
            result.cache = "miss"
            _record(rc, result)
        return result


def _parsed(module):
    """`module` with its payloads parsed: a caller may hand a lazily read one
    (read_module(lazy=True)) whose bytes only a cache hit vouches for; on a
    miss they are checked here, before any pass, as the caller's read would
    have (InputError: exit 3, the file untouched; the caller names the path)."""
    try:
        return module.parse()
    except DecodeError as e:
        raise InputError(f"{e}")


def _run_pipeline(*args):
    # imported here: a hit needs none of the pipeline, stack typing or the guard
    from loom_post.passes.pipeline import run
    return run(*args)


@contextlib.contextmanager
def _no_cyclic_gc():
    """Decoded functions are millions of small tuples and lists with no cycles;
    the cyclic collector's passes over them cost more than half the time on a
    function of 10^6 instructions (bench/adversarial.py many-instrs: 31 s on,
    13 s off). Reference counting still frees everything; the collector is
    back on when the pipeline returns."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# -- the module-level result cache (results_cache.py keys it; this rebuilds and checks) --

_FIGURES = ("functions_changed", "bytes_saved_by_reencoding", "not_understood", "skipped",
            "dwarf_dropped", "notes", "functions_reverted", "guard_confirmations",
            "code_offsets_changed", "functions_cached", "guard_reference")


def _record(rc, result):
    """Record a finished run: its figures and output under its input, and the
    output as loom-post's own (a run over it will change nothing)."""
    figures = {k: getattr(result, k) for k in _FIGURES}
    figures["changed"] = result.changed
    figures["passes"] = {n: [s.functions_changed, s.bytes_saved, s.counters]
                         for n, s in result.passes.items()}
    # the sizes the guard measured of exactly the output bytes (stored with them)
    figures["guard_after"] = dict(result.guard_after(result.data)) if result.changed else {}
    figures["sizes_before"] = {m: result.sizes_before.known(m) for m in ("gzip", "brotli")
                               if result.sizes_before.known(m) is not None}
    rc.put_module(result.input_data, figures, result.data if result.changed else None)
    if result.changed:
        rc.put_own_output(result.data)


def _cached(rc, data, module, chosen, never_grow):
    """The result of a run over `data` from the cache, or None. A cached output
    is not validated again: it is recorded only after the validator accepted
    it, and get_module returns exactly those bytes (their SHA-256 against the
    recorded digest) under a key that holds the validator's version; so
    wasmtime is not even imported on a hit (docs/speed.md, "Warm runs")."""
    if rc.is_own_output(data):
        result = OptimizeResult(data, module, module.code_size, chosen)
        result.cache, result.never_grow = "own-output", guarded_measures(never_grow)
        return result
    found = rc.get_module(data)
    if found is None:
        return None
    figures, out = found
    result = OptimizeResult(data, module, module.code_size, chosen)
    try:
        _restore(result, figures)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # a damaged entry is a miss
    result.cache, result.never_grow = "module", guarded_measures(never_grow)
    if out is None:
        return result
    try:
        # the report's view of it: the framing and the code size; the payloads
        # are parsed on first use (a baseline's per-function sizes), and parse:
        # these bytes were parsed and validated in the run that recorded them
        new_module = read_module(out, lazy=True)
    except DecodeError:
        return None
    measured = result.guard_after(out)
    after = {"code": new_module.code_size, "file": len(out), **measured}
    before = {"code": result.code_bytes_before, "file": len(data)}
    before.update((m, result.sizes_before.known(m)) for m in ("gzip", "brotli"))
    for m, size in result.guard_reference.items():   # judged against the stripped input
        before[m] = size if before.get(m) is None else min(before[m], size)
    if any(after.get(m) is None or before[m] is None or after[m] > before[m]
           for m in result.never_grow):
        return None  # the guard's figures for these bytes are not all recorded: recompute
    result.data, result.module, result.changed = out, new_module, True
    result.code_bytes_after = new_module.code_size
    result.sizes_after = Sizes(out, new_module.code_size)
    for measure in ("gzip", "brotli"):
        if measure in measured:
            result.sizes_after.put(measure, measured[measure])
    return result


def _restore(result, figures):
    for k in _FIGURES:
        value = figures[k]
        if not isinstance(value, type(getattr(result, k))):
            raise TypeError(k)
        setattr(result, k, value)
    for name, (changed, saved, counters) in figures["passes"].items():
        stats = result.passes[name]
        stats.functions_changed, stats.bytes_saved = int(changed), int(saved)
        # into the pass's own counters, in its order: the record (JSON) sorted them
        stats.counters.update((str(k), int(v)) for k, v in counters.items())
    measured = {str(k): int(v) for k, v in figures["guard_after"].items()}
    # recorded with (and only for) the cached output, whose checksum get_module verified
    result.guard_after = lambda out: measured
    for measure, size in figures["sizes_before"].items():
        result.sizes_before.put(measure, int(size))
