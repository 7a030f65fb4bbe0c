"""Runs the chosen passes over one module under one exact byte gate, and checks
the result before anyone sees it.

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
- the worker pool: a large module's functions are shared out to forked workers
  (functions are independent, so the result is the same either way);
- protection: `__wbindgen_describe*` functions and everything they call are
  left alone, because wasm-bindgen interprets them; modules with 64-bit
  memories are measured but not rewritten;
- DWARF: `.debug_*` sections address code by offset, so they are dropped when
  any function changed (unless keep_dwarf);
- validation: the output is re-read and validated (validate.py); a failure
  raises OutputInvalid and the caller keeps the input.
"""

from loom_post.passes import base, resolve
from loom_post.passes.validate import validate_output
from loom_post.wasm.instructions import decode_body, encode_body
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.leb128 import size_u
from loom_post.wasm.module import read_module
from loom_post.wasm.stack_types import StackTypeError

PARALLEL_MIN_CODE = 256 * 1024  # below this, starting workers costs more than it saves


class OptimizeResult:
    def __init__(self, data, module, code_bytes_before, passes=(), dwarf_dropped=()):
        self.data = data                     # the output bytes (the input when unchanged)
        self.module = module                 # `data`, parsed
        self.changed = False                 # data is not the input
        self.code_bytes_before = code_bytes_before
        self.code_bytes_after = module.code_size
        self.passes = {p.name: base.PassStats(p.name, p.counters) for p in passes}
        self.functions_changed = 0
        self.bytes_saved_by_reencoding = 0   # of the bytes saved: minimal LEB128s alone
        self.not_understood = 0              # functions kept as they are
        self.skipped = 0                     # wasm-bindgen descriptors and their callees
        self.changed_positions = []
        self.dwarf_dropped = list(dwarf_dropped)  # names of .debug_* sections dropped
        self.code_offsets_changed = False    # a module pass moved or removed code

    @classmethod
    def unchanged(cls, data, module):
        """A module measured without running the passes (`optimize = false`)."""
        return cls(data, module, module.code_size)


def optimize(data, module=None, passes=None, keep_dwarf=False, jobs=1):
    """Run the passes named in `passes` (None: the defaults) over `data`."""
    module = module if module is not None else read_module(data)
    chosen = resolve(passes)
    result = OptimizeResult(data, module, module.code_size, chosen)
    if module.memory64():
        result.not_understood = len(module.code)  # 64-bit addresses: not supported yet
        return result
    protected = wbindgen_protected(module)
    result.skipped = sum(1 for pos in range(len(module.code))
                         if module.func_index(pos) in protected)
    for phase in _phases(chosen):
        if phase[0].level == "module":
            for p in phase:
                module, protected = _module_pass(module, p, protected, result)
        else:
            _function_phase(module, phase, protected, jobs, result)
            if module.changed:  # the next phase reads what this one wrote
                module = read_module(module.to_bytes())
    return _finish(data, module, result, keep_dwarf)


def _module_pass(module, p, protected, result):
    """Run a module pass on its own copy; keep its output only when the module
    got strictly smaller and its code section did not grow."""
    work = read_module(module.to_bytes())  # a rejected pass leaves no trace
    stats = base.PassStats(p.name, p.counters)
    p.run_module(work, protected, stats)
    if not work.changed:
        result.passes[p.name].add(_analysis_only(p, stats))
        return module, protected
    out = work.to_bytes()
    new = read_module(out)
    if len(out) >= len(module.data) or new.code_size > module.code_size:
        result.passes[p.name].add(_analysis_only(p, stats))
        return module, protected
    stats.bytes_saved = module.code_size - new.code_size
    result.passes[p.name].add(stats)
    if new.code_payload() != module.code_payload():  # code moved: offsets changed
        result.code_offsets_changed = True
        result.changed_positions = list(range(len(new.code)))  # indices moved: check all
    return new, wbindgen_protected(new)


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
    new_module = validate_output(out, changed=result.changed_positions, original=data)
    if new_module.code_size > result.code_bytes_before:
        raise AssertionError("optimizer grew the code section")
    result.data, result.module, result.changed = out, new_module, True
    result.code_bytes_after = new_module.code_size
    return result


def _function_phase(module, passes, protected, jobs, result):
    todo = [pos for pos in range(len(module.code))
            if module.func_index(pos) not in protected]
    contexts = [p.prepare(module) for p in passes]
    if jobs > 1 and module.code_size >= PARALLEL_MIN_CODE and len(todo) > 1:
        outcomes = _run_parallel(module, passes, contexts, todo, jobs)
    else:
        outcomes = run_functions(module, passes, contexts, todo)
    reencoder = next((p for p in passes if p.reencodes), None)
    credited = 0
    for pos, new_body, stats, understood in outcomes:
        if not understood:
            result.not_understood += 1
        for s in stats:
            result.passes[s.name].add(s)
            credited += s.bytes_saved
        if new_body is None:
            continue
        module.replace_body(pos, new_body[0])
        result.bytes_saved_by_reencoding += new_body[1]
        credited += new_body[1]
        result.functions_changed += 1
        result.changed_positions.append(pos)
    result.changed_positions.sort()
    if module.changed:
        # What no function accounts for: the code section's own count, written
        # minimally once any body is replaced.
        rest = module.code_size - len(module.code_payload()) - credited
        if reencoder is not None:
            result.passes[reencoder.name].bytes_saved += rest
        else:
            result.bytes_saved_by_reencoding += rest
    for p in passes:
        p.after_functions(module, result.passes[p.name])


def run_functions(module, passes, contexts, positions):
    """[(position, (new body, re-encoding saving) or None, [PassStats], understood)]."""
    out = []
    for pos in positions:
        entry = module.code[pos]
        try:
            func = base.Function(module, pos,
                                 decode_body(module.data, entry.body_start, entry.end))
            func.effects()
        except (DecodeError, StackTypeError):
            out.append((pos, None, [], False))
            continue
        out.append((pos,) + _run_one(func, entry.end - entry.start, passes, contexts) + (True,))
    return out


def _entry(size):
    return size + size_u(size)


def _run_one(func, old_entry, passes, contexts):
    """Run the passes on one function; ((bytes, re-encoding saving) or None,
    [PassStats]) where the body is kept only when its entry is strictly smaller."""
    original = (func.locals, func.instrs)
    sizes = []          # entry size before each pass that changed it, and after
    per_pass = []
    reencoder = None    # the stats of a pass that asked for re-encoding (compact)
    for p, ctx in zip(passes, contexts):
        stats = base.PassStats(p.name)
        before = (func.locals, func.instrs)
        if p.run_function(ctx, func, stats):
            if p.reencodes:
                reencoder = stats
            if not sizes:
                sizes.append(_entry(len(encode_body(*original))))
            body = encode_body(func.locals, func.instrs)
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
    return (body, reencoding), per_pass


def _analysis_only(p, stats):
    kept = base.PassStats(p.name)
    for key in p.analysis_counters:
        if key in stats.counters:
            kept.count(key, stats.counters[key])
    return kept


_worker_state = None  # set in forked workers only


def _init_worker(state):
    global _worker_state
    _worker_state = state


def _work(positions):
    module, passes, contexts = _worker_state
    return run_functions(module, passes, contexts, positions)


def _run_parallel(module, passes, contexts, positions, jobs):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return run_functions(module, passes, contexts, positions)
    # Balance by body size: biggest first, each to the least loaded share.
    shares = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for pos in sorted(positions, key=lambda p: -module.code[p].body_size):
        k = loads.index(min(loads))
        shares[k].append(pos)
        loads[k] += module.code[pos].body_size
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=((module, passes, contexts),)) as pool:
            parts = list(pool.map(_work, [s for s in shares if s]))
    except (OSError, RuntimeError):  # cannot start workers: do it here
        return run_functions(module, passes, contexts, positions)
    return [r for part in parts for r in part]


def wbindgen_protected(module):
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
        entry = module.code[pos]
        try:
            body = decode_body(module.data, entry.body_start, entry.end)
        except DecodeError:
            continue
        work.extend(imm for op, imm, _s, _e in body.instrs
                    if op.name in ("call", "return_call"))
    return seen
