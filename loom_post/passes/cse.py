"""Cost-gated common subexpression elimination.

What it does
    Finds pure expressions that a function computes more than once and computes
    them once: the first occurrence is followed by `local.tee $t` and every later
    occurrence becomes `local.get $t`, where $t is a new local. An expression is a
    contiguous span of instructions that pushes one value and pops nothing from
    outside the span, built only from constants, local.get, global.get, numeric,
    comparison, conversion and SIMD value operators, `select`, and memory loads.
    Two expressions are the same only when their trees are structurally equal
    (operators and immediates, compared with ==, never by hash alone).

Why it is safe
    Nothing moves. The first occurrence stays where it was and runs exactly as
    before, so the order of every effect and trap is unchanged; a later occurrence
    is replaced only where its value is certainly the one the first computed:
    - the first occurrence has executed on every path reaching the later one: an
      available-expressions walk over the structured control flow, where a block's
      end keeps only what was computed before the first branch to it (br, br_if,
      br_table, br_on_*, try_table catches), what is computed in an `if` arm is
      forgotten at the arm's end, a loop header keeps only what no instruction of
      the loop can change (so back edges are covered), and an exception handler
      keeps only what was available before its try and never changed in it;
    - nothing between them can change the value: a local.set/local.tee of a local
      it reads, a global.set of a mutable global it reads, and for loads any
      store, bulk-memory operation, memory.grow, atomic or call (a call may change
      globals and memory, never the caller's locals). Loads from shared memory are
      never reused. Unreachable code is left alone.
    New locals are only made for types with a default value (numbers, vectors,
    nullable references): a non-nullable reference local counts as unset after
    the block that set it. A reused trapping expression (a load, a division)
    cannot trap the second time: the first, identical one did not. `__wbindgen_describe*` functions, and every
    function they call, are left alone because wasm-bindgen interprets them.

What it costs
    Exact bytes, not an estimate. A later occurrence of cost c (its minimal
    encoding) saves c - g where g = 1 + LEB128 size of the new local's index; the
    tee costs g; the declaration costs 0 bytes when the local joins the last local
    group of the same type (unless that group's count crosses a LEB128 boundary),
    else a new group (count, type, and the group count's LEB128). Candidates are
    taken greedily by savings, so an expression wins over its sub-expressions when
    it saves more. A changed function is re-encoded minimally and kept only when
    the whole entry (size prefix included) is strictly smaller; otherwise the
    original bytes stay. So no function, and no code section, ever grows.
    Time is linear in the instructions of a function: branches cost O(1), and a
    scope's end costs what was added inside it.
"""

from .. import opcodes as O
from ..body import Body, decode_body, encode_body, encode_valtype, instr_size
from ..errors import DecodeError
from ..leb128 import size_u
from ..stack_types import StackTypeError, stack_effects

_LOCAL_GET = O.BY_NAME["local.get"]
_LOCAL_TEE = O.BY_NAME["local.tee"]
_CANDIDATE = frozenset((O.PURE, O.LOAD, O.LOCAL_GET, O.GLOBAL_GET))
_KILLS_LOADS = frozenset((O.STORE, O.MEMORY, O.ATOMIC))
_ENDS_PATH = frozenset(("br", "br_table", "return", "unreachable", "throw", "rethrow",
                        "throw_ref", "return_call", "return_call_indirect", "return_call_ref"))
_OPENERS = frozenset(("block", "loop", "if", "try", "try_table"))
_MIN_COST = 3  # a later occurrence must cost more than `local.get` (>= 2 bytes) to pay
_MAX_LOCALS = 50000
_ALL = float("inf")
_MAX_ROUNDS = 8


class CseStats:
    def __init__(self):
        self.functions_changed = 0
        self.deduplicated = 0            # later occurrences replaced by local.get
        self.rejected_by_cost_gate = 0   # reusable expressions not worth a local
        self.not_understood = 0          # functions kept as they are
        self.skipped = 0                 # wasm-bindgen descriptors and their callees
        self.bytes_saved = 0             # entry bytes, size prefixes included
        self.bytes_saved_by_reencoding = 0  # of which: minimal LEB128s alone
        self.changed_positions = []


class _Scope:
    """A block, loop, if/else arm or try body, in the scoped table of available
    expressions. `added` lists (key, group) made available inside it; `cut` is the
    number of groups that existed when the first branch to its label was taken."""

    __slots__ = ("kind", "added", "cut")

    def __init__(self, kind):
        self.kind = kind
        self.added = []
        self.cut = None


PARALLEL_MIN_CODE = 256 * 1024  # below this, starting workers costs more than it saves


def run(module, jobs=1):
    """Run the pass over every defined function of `module` (in place).

    Functions are independent, so with jobs > 1 a large module's functions are
    shared out to forked worker processes; the result is the same either way.
    """
    stats = CseStats()
    if module.memory64():
        stats.not_understood = len(module.code)  # 64-bit addresses: not supported yet
        return stats
    protected = _wbindgen_protected(module)
    todo = [pos for pos in range(len(module.code))
            if module.func_index(pos) not in protected]
    stats.skipped = len(module.code) - len(todo)
    if jobs > 1 and module.code_size >= PARALLEL_MIN_CODE and len(todo) > 1:
        results = _run_parallel(module, todo, jobs)
    else:
        results = _run_functions(module, todo)
    for kind, pos, payload in results:
        if kind == "not_understood":
            stats.not_understood += 1
        elif kind == "rejected":
            stats.rejected_by_cost_gate += payload
        else:
            new_body, replaced, rejected, reencoding = payload
            stats.rejected_by_cost_gate += rejected
            stats.bytes_saved_by_reencoding += reencoding
            entry = module.code[pos]
            module.replace_body(pos, new_body)
            stats.functions_changed += 1
            stats.deduplicated += replaced
            stats.bytes_saved += (entry.end - entry.start) - (len(new_body) + size_u(len(new_body)))
            stats.changed_positions.append(pos)
    stats.changed_positions.sort()
    return stats


def _run_functions(module, positions):
    """[(kind, position, payload)] for the functions at `positions`."""
    out = []
    for pos in positions:
        entry = module.code[pos]
        try:
            body = decode_body(module.data, entry.body_start, entry.end)
            effects = stack_effects(module, pos, body)
        except (DecodeError, StackTypeError):
            out.append(("not_understood", pos, None))
            continue
        counts = CseStats()
        # Repeat on the rewritten instructions until nothing pays: one greedy
        # round can leave work that pays only after it (see _could_pay_later),
        # and a second run of the pass over its own output must find nothing.
        current, replaced = body, 0
        for _round in range(_MAX_ROUNDS):
            result = optimize_function(module, pos, current, effects, counts)
            if result is None:
                break
            groups, instrs, n_replaced, again = result
            replaced += n_replaced
            current = Body(groups, instrs, -1, -1, -1)
            if not again:
                break
            try:
                effects = stack_effects(module, pos, current)
            except StackTypeError:  # pragma: no cover - the rewrite keeps types
                current = body
                break
        if current is not body:
            new_body = encode_body(current.locals, current.instrs)
            old_size = entry.end - entry.start
            if len(new_body) + size_u(len(new_body)) < old_size:
                # The gate's savings are exact, so the plain minimal re-encoding
                # of the old body is the new body plus what CSE saved.
                plain = len(new_body) + counts.bytes_saved
                reencoding = old_size - (plain + size_u(plain))
                out.append(("changed", pos, (new_body, replaced, counts.rejected_by_cost_gate,
                                             reencoding)))
                continue
        if counts.rejected_by_cost_gate:
            out.append(("rejected", pos, counts.rejected_by_cost_gate))
    return out


_worker_module = None  # set in forked workers only


def _init_worker(module):
    global _worker_module
    _worker_module = module


def _work(positions):
    return _run_functions(_worker_module, positions)


def _run_parallel(module, positions, jobs):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return _run_functions(module, positions)
    # Balance by body size: biggest first, each to the least loaded share.
    shares = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for pos in sorted(positions, key=lambda p: -module.code[p].body_size):
        k = loads.index(min(loads))
        shares[k].append(pos)
        loads[k] += module.code[pos].body_size
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(module,)) as pool:
            parts = list(pool.map(_work, [s for s in shares if s]))
    except (OSError, RuntimeError):  # cannot start workers: do it here
        return _run_functions(module, positions)
    return [r for part in parts for r in part]


def _wbindgen_protected(module):
    """Function indices wasm-bindgen interprets: `__wbindgen_describe*` functions
    (by export or name-section name) and everything they call."""
    named = {}
    for name, kind, index in module.exports:
        if kind == "func":
            named.setdefault(index, name)
    names = module.function_names()
    roots = [i for i, n in list(names.items()) + list(named.items())
             if n.startswith("__wbindgen_describe")]
    seen = set()
    work = list(roots)
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
        for op, imm, _s, _e in body.instrs:
            if op.name in ("call", "return_call"):
                work.append(imm)
    return seen


def _loop_summaries(instrs):
    """For each `loop` (by instruction index): what its body may change, as
    [index, locals written, mutable globals written, may write memory, calls]."""
    summaries = {}
    opened = []   # per open structure: is it a loop?
    loops = []    # the open loops' summaries, innermost last
    LOCAL_SET, GLOBAL_SET, CALL = O.LOCAL_SET, O.GLOBAL_SET, O.CALL
    for i, ins in enumerate(instrs):
        op = ins[0]
        effect = op.effect
        if effect is O.CONTROL:
            name = op.name
            if name in _OPENERS:
                is_loop = name == "loop"
                opened.append(is_loop)
                if is_loop:
                    loops.append([i, set(), set(), False, False])
            elif (name == "end" or name == "delegate") and opened:
                if opened.pop():
                    s = loops.pop()
                    summaries[s[0]] = s
                    if loops:
                        parent = loops[-1]
                        parent[1] |= s[1]
                        parent[2] |= s[2]
                        parent[3] = parent[3] or s[3]
                        parent[4] = parent[4] or s[4]
            continue
        if not loops:
            continue
        if effect is LOCAL_SET:
            loops[-1][1].add(ins[1])
        elif effect is GLOBAL_SET:
            loops[-1][2].add(ins[1])
        elif effect in _KILLS_LOADS:
            loops[-1][3] = True
        elif effect is CALL:
            loops[-1][4] = True
    return summaries


def optimize_function(module, pos, body, effects, stats):
    """(local groups, instructions, later occurrences replaced) for one round
    over one function, or None when nothing pays.

    The available expressions live in one scoped table (`avail`, key -> group).
    A kill deletes for good, which is conservative at merges: a value killed on
    any path into a point is not available there. Leaving a scope removes what
    was added inside it, except that a block or loop keeps what was added before
    the first branch to it, since that code ran on every path to its end.
    """
    instrs = body.instrs
    n = len(instrs)
    params = module.func_type(module.func_index(pos))[0]
    mutable = [g[1] for g in module.globals]
    shared = {i for i in range(len(module.memories)) if module.shared_memory(i)}
    loops = None

    intern = {}                 # structural key tuple -> small int
    leaf_cost = []              # key -> encoded bytes, for leaves
    # groups: [key, first start, first end, type, cost, later (start, end) spans]
    groups = []
    avail = {}                  # key id -> group index
    by_local = {}               # local -> key ids (available or not) reading it
    by_global = {}              # mutable global -> key ids reading it
    with_load = []              # key ids containing a load
    # The operand stack: per value, None (opaque) or an expression tuple
    # (start, end + 1, key, locals, globals, has load, cost).
    shadow = []
    scopes = [_Scope("func")]
    reachable = True
    CANDIDATE, LOAD, LOCAL_GET, GLOBAL_GET = _CANDIDATE, O.LOAD, O.LOCAL_GET, O.GLOBAL_GET
    LOCAL_SET, GLOBAL_SET, CALL, CONTROL = O.LOCAL_SET, O.GLOBAL_SET, O.CALL, O.CONTROL
    KILLS_LOADS = _KILLS_LOADS
    EMPTY = ()

    def drop(keys):
        for k in keys:
            avail.pop(k, None)

    def leave(scope, cut):
        """Close `scope`: what it added from group `cut` on is no longer
        available; what came before moves up to the enclosing scope."""
        kept = []
        for k, g in scope.added:
            if g < cut:
                kept.append((k, g))
            elif avail.get(k) == g:
                del avail[k]
        if kept:
            scopes[-1].added.extend(kept)

    def branch_to(depth):
        # Group numbers grow in program order, so everything still available
        # here (in any open scope) was added before this first branch.
        target = scopes[-1 - depth]
        if target.cut is None and target.kind != "loop":
            target.cut = len(groups)

    for i in range(n):
        eff = effects[i]
        if eff is None:
            continue            # unreachable code: left alone
        ins = instrs[i]
        op = ins[0]
        npops, pushes = eff
        effect = op.effect

        if effect in CANDIDATE and len(pushes) == 1:
            imm = ins[1]
            if npops == 0:
                raw = (op, imm)
                key = intern.get(raw)
                if key is None:
                    key = intern[raw] = len(intern)
                    leaf_cost.append(2 if effect is LOCAL_GET and imm < 128
                                     else instr_size(op, imm))
                if effect is LOCAL_GET:
                    expr = (i, i + 1, key, (imm,), EMPTY, False, leaf_cost[key])
                elif effect is GLOBAL_GET and mutable[imm]:
                    expr = (i, i + 1, key, EMPTY, (imm,), False, leaf_cost[key])
                else:
                    expr = (i, i + 1, key, EMPTY, EMPTY, False, leaf_cost[key])
            else:
                operands = shadow[-npops:]
                del shadow[-npops:]
                o = operands[0]
                if o is None:
                    shadow.append(None)
                    continue
                nxt = o[0]
                for o in operands:
                    if o is None or o[0] != nxt:
                        nxt = -1
                        break
                    nxt = o[1]
                if nxt != i or (effect is LOAD and imm[1] in shared):
                    shadow.append(None)
                    continue
                size = op.fixed_size or instr_size(op, imm)
                if npops == 1:
                    o = operands[0]
                    raw = (op, imm, o[2])
                    key = intern.get(raw)
                    if key is None:
                        key = intern[raw] = len(intern)
                        leaf_cost.append(0)
                    expr = (o[0], i + 1, key, o[3], o[4], o[5] or effect is LOAD, o[6] + size)
                else:
                    locs, globs, load, cost = [], [], effect is LOAD, size
                    for o in operands:
                        locs.extend(o[3])
                        globs.extend(o[4])
                        load = load or o[5]
                        cost += o[6]
                    raw = (op, imm) + tuple([o[2] for o in operands])
                    key = intern.get(raw)
                    if key is None:
                        key = intern[raw] = len(intern)
                        leaf_cost.append(0)
                    expr = (operands[0][0], i + 1, key, tuple(locs), tuple(globs), load, cost)
            shadow.append(expr)
            vtype = pushes[0]
            # A new local needs a default value: a non-nullable reference local
            # (0x64 ht) counts as unset after the block that sets it.
            if (expr[6] >= _MIN_COST and reachable
                    and not (vtype.__class__ is tuple and vtype[0] == 0x64)):
                g = avail.get(key)
                if g is None:
                    g = avail[key] = len(groups)
                    groups.append([key, expr[0], i, vtype, expr[6], None])
                    scopes[-1].added.append((key, g))
                    for x in expr[3]:
                        by_local.setdefault(x, []).append(key)
                    for x in expr[4]:
                        by_global.setdefault(x, []).append(key)
                    if expr[5]:
                        with_load.append(key)
                else:
                    group = groups[g]
                    if group[5] is None:
                        group[5] = [(expr[0], i)]
                    else:
                        group[5].append((expr[0], i))
            continue

        # Everything else: replay the stack effect, then kill and steer.
        if npops:
            del shadow[-npops:]
        if pushes:
            shadow.extend([None] * len(pushes))
        if effect is LOCAL_SET:
            drop(by_local.pop(ins[1], ()))
        elif effect is GLOBAL_SET:
            drop(by_global.pop(ins[1], ()))
        elif effect in KILLS_LOADS:
            drop(with_load)
            with_load = []
        elif effect is CALL:
            drop(with_load)
            with_load = []
            for keys in by_global.values():
                drop(keys)
            by_global = {}
            if op.name in _ENDS_PATH:
                reachable = False
        elif effect is CONTROL:
            name = op.name
            imm = ins[1]
            if name == "block" or name == "try" or name == "if":
                scopes.append(_Scope(name))
            elif name == "loop":
                if loops is None:
                    loops = _loop_summaries(instrs)
                _, wl, wg, wmem, calls = loops[i]
                # Back edges: drop whatever the loop body can change.
                for x in wl:
                    drop(by_local.pop(x, ()))
                for x in wg:
                    drop(by_global.pop(x, ()))
                if wmem or calls:
                    drop(with_load)
                    with_load = []
                if calls:
                    for keys in by_global.values():
                        drop(keys)
                    by_global = {}
                scopes.append(_Scope("loop"))
            elif name == "try_table":
                for _kind, _tag, label in imm[1]:
                    branch_to(label)
                scopes.append(_Scope("block"))
            elif name == "else" or name == "catch" or name == "catch_all":
                scope = scopes.pop()
                leave(scope, 0)
                scope.added = []
                scopes.append(scope)
                reachable = True
            elif name == "end" or name == "delegate":
                scope = scopes.pop()
                if not scopes:
                    break
                if scope.kind == "loop":
                    cut = _ALL if reachable else 0
                elif scope.kind == "block":
                    cut = scope.cut if scope.cut is not None else (_ALL if reachable else 0)
                else:
                    cut = 0  # an if arm, or a try body or handler
                leave(scope, cut)
                reachable = True
            elif name in ("br", "br_if", "br_on_null", "br_on_non_null"):
                branch_to(imm)
                if name == "br":
                    reachable = False
            elif name == "br_table":
                for label in set(imm[0]) | {imm[1]}:
                    branch_to(label)
                reachable = False
            elif name in _ENDS_PATH:
                reachable = False

    return _select_and_rewrite(body, params, groups, stats)


def _select_and_rewrite(body, params, groups, stats):
    candidates = [g for g in groups if g[5]]
    if not candidates:
        return None
    # Most promising first (as if the local's index were one byte and it
    # needed a new group); exact accounting decides below.
    candidates.sort(key=lambda g: (-(len(g[5]) * (g[4] - 2) - 4), g[1]))
    n = len(body.instrs)
    # Spans nest or are disjoint (they are subtrees), so whether one span holds
    # another is decided by where the other's last (root) instruction is.
    gone = bytearray(n)       # instructions replaced by a local.get
    tee_roots = bytearray(n)  # last instructions of first occurrences that get a tee
    shrink = [0] * n          # at a replaced span's root: the bytes that replacement saved
    local_groups = [list(x) for x in body.locals]
    next_local = len(params) + sum(c for c, _ in body.locals)
    owner = {}      # root of a replaced span -> index into `accepted`
    live = []       # per accepted group: its replaced spans not swallowed since
    accepted = []   # (first end, local, reuses)
    # What another round over the rewritten code could still take (see
    # _run_functions): groups whose first occurrence disappeared, groups the
    # gate rejected, and reuses refused to protect another group's last one.
    orphans, rejected, protected = [], [], False
    for _key, fs, fe, vtype, cost, later in candidates:
        if gone[fe]:
            orphans.append(later)
            continue  # its first occurrence is inside a span that disappears
        if next_local >= _MAX_LOCALS:
            break
        ref = size_u(next_local) + 1  # local.get / local.tee with this index
        reuses = []
        gain = 0
        taking = {}  # accepted group -> its spans these reuses would swallow
        for s, e in later:
            if gone[e] or tee_roots.find(1, s, e + 1) >= 0:
                continue  # already inside a replaced span, or would remove a tee
            current = cost
            if gone.find(1, s, e) >= 0:
                # A reuse may swallow other replacements (their local.get is
                # dropped); it then saves only what is left of it, and nested
                # savings add up exactly. But it must not take the last reuse
                # of a group, whose tee and local would then be wasted.
                inner = [owner[j] for j in range(s, e) if j in owner]
                want = dict(taking)
                for a in inner:
                    want[a] = want.get(a, 0) + 1
                if any(live[a] - k <= 0 for a, k in want.items()):
                    protected = True
                    continue
                current = cost - sum(shrink[s:e + 1])
                if current > ref:
                    taking = want
            if current > ref:
                reuses.append((s, e, current))
                gain += current - ref
        if not reuses:
            continue
        joins = bool(local_groups) and local_groups[-1][1] == vtype
        if joins:
            count = local_groups[-1][0]
            decl = size_u(count + 1) - size_u(count)
        else:
            decl = (1 + len(encode_valtype(vtype))
                    + size_u(len(local_groups) + 1) - size_u(len(local_groups)))
        saving = gain - ref - decl
        if saving <= 0:
            stats.rejected_by_cost_gate += 1
            rejected.append((vtype, [c for _s, _e, c in reuses]))
            continue
        if joins:
            local_groups[-1][0] += 1
        else:
            local_groups.append([1, vtype])
        me = len(accepted)
        accepted.append((fe, next_local, reuses))
        live.append(len(reuses))
        stats.bytes_saved += saving
        next_local += 1
        tee_roots[fe] = 1
        for s, e, current in reuses:
            for j in range(s, e):
                a = owner.pop(j, None)
                if a is not None:
                    live[a] -= 1
            gone[s:e + 1] = b"\x01" * (e + 1 - s)
            shrink[e] = current - ref
            owner[e] = me
    if not accepted:
        return None
    again = protected or _could_pay_later(orphans, rejected, gone, local_groups, next_local)
    tee_after = {}
    replace_at = {}
    for fe, local, reuses in accepted:
        tee_after[fe] = local
        for s, e, _current in reuses:
            # A later, enclosing replacement with the same start wins; ones
            # inside it are skipped over when it is emitted.
            replace_at[s] = (e, local)
    instrs = body.instrs
    out = []
    i = 0
    replaced_count = 0
    while i < n:
        r = replace_at.get(i)
        if r is not None:
            out.append((_LOCAL_GET, r[1], -1, -1))
            replaced_count += 1
            i = r[0] + 1
            continue
        out.append(instrs[i])
        local = tee_after.get(i)
        if local is not None:
            out.append((_LOCAL_TEE, local, -1, -1))
        i += 1
    return [(c, t) for c, t in local_groups], out, replaced_count, again


def _could_pay_later(orphans, rejected, gone, local_groups, next_local):
    """Could a round over the rewritten code find anything? Everything else it
    sees is gone, holds a tee (no longer an expression), or is cheaper than this
    round saw it. What is left: a group whose first occurrence disappeared but
    which still occurs twice, and a rejected group that would pay with the final
    locals (a later local of its type makes its declaration free)."""
    for later in orphans:
        if sum(1 for _s, e in later if not gone[e]) >= 2:
            return True
    if rejected:
        ref = size_u(next_local) + 1
        last = local_groups[-1][1] if local_groups else None
        for vtype, currents in rejected:
            decl = 0 if vtype == last else 2
            if sum(c - ref for c in currents if c > ref) - ref - decl > 0:
                return True
    return False
