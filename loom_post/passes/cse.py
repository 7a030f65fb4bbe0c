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
      end meets its fall-through with every branch to it (br, br_if, br_table,
      br_on_*), an `if` without `else` meets its implicit empty arm, a loop header
      keeps only what no instruction of the loop can change (so back edges are
      covered), and exception handlers start with nothing available;
    - nothing between them can change the value: a local.set/local.tee of a local
      it reads, a global.set of a mutable global it reads, and for loads any
      store, bulk-memory operation, memory.grow, atomic or call (a call may change
      globals and memory, never the caller's locals). Loads from shared memory are
      never reused. Unreachable code is left alone.
    A reused trapping expression (a load, a division) cannot trap the second time:
    the first, identical one did not. `__wbindgen_describe*` functions, and every
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
    Time is linear in the instructions of a function plus the copies of the
    available set at block boundaries.
"""

from .. import opcodes as O
from ..body import decode_body, encode_body, encode_valtype, instr_size
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


class CseStats:
    def __init__(self):
        self.functions_changed = 0
        self.deduplicated = 0            # later occurrences replaced by local.get
        self.rejected_by_cost_gate = 0   # reusable expressions not worth a local
        self.not_understood = 0          # functions kept as they are
        self.skipped = 0                 # wasm-bindgen descriptors and their callees
        self.bytes_saved = 0
        self.changed_positions = []


class _Expr:
    __slots__ = ("start", "end_next", "key", "locals", "globals", "load", "cost")

    def __init__(self, start, key, locals_, globals_, load, cost):
        self.start = start
        self.end_next = None
        self.key = key
        self.locals = locals_
        self.globals = globals_
        self.load = load
        self.cost = cost


class _Group:
    """One first occurrence and the later occurrences that may reuse it."""

    __slots__ = ("key", "first", "reuses", "type", "cost")

    def __init__(self, key, first, vtype, cost):
        self.key, self.first, self.type, self.cost = key, first, vtype, cost
        self.reuses = []


class _Frame:
    __slots__ = ("kind", "entry", "snaps")

    def __init__(self, kind, entry=None):
        self.kind = kind
        self.entry = entry   # `if`: what is available when the condition is false
        self.snaps = []      # what is available at each branch to this label


def run(module):
    """Run the pass over every defined function of `module` (in place)."""
    stats = CseStats()
    if module.memory64():
        stats.not_understood = len(module.code)  # 64-bit addresses: not supported yet
        return stats
    protected = _wbindgen_protected(module)
    for pos, entry in enumerate(module.code):
        if module.func_index(pos) in protected:
            stats.skipped += 1
            continue
        try:
            body = decode_body(module.data, entry.body_start, entry.end)
            effects = stack_effects(module, pos, body)
        except (DecodeError, StackTypeError):
            stats.not_understood += 1
            continue
        result = optimize_function(module, pos, body, effects, stats)
        if result is None:
            continue
        new_body, replaced = result
        old_size = entry.end - entry.start
        new_size = len(new_body) + size_u(len(new_body))
        if new_size < old_size:
            module.replace_body(pos, new_body)
            stats.functions_changed += 1
            stats.deduplicated += replaced
            stats.bytes_saved += old_size - new_size
            stats.changed_positions.append(pos)
    return stats


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


def _loop_summaries(instrs, module):
    """For each `loop` (by instruction index): what its body may change, as
    (locals written, mutable globals written, may write memory, calls)."""
    summaries = {}
    stack = []  # per open structure: summary list for loops, None for others
    for i, (op, imm, _s, _e) in enumerate(instrs):
        name = op.name
        if name in _OPENERS:
            stack.append([i, set(), set(), False, False] if name == "loop" else None)
            continue
        if name == "end" or name == "delegate":
            if stack:
                s = stack.pop()
                if s is not None:
                    summaries[s[0]] = s
                    parent = next((x for x in reversed(stack) if x is not None), None)
                    if parent is not None:
                        parent[1] |= s[1]
                        parent[2] |= s[2]
                        parent[3] = parent[3] or s[3]
                        parent[4] = parent[4] or s[4]
            continue
        if not stack:
            continue
        inner = next((x for x in reversed(stack) if x is not None), None)
        if inner is None:
            continue
        effect = op.effect
        if effect is O.LOCAL_SET:
            inner[1].add(imm)
        elif effect is O.GLOBAL_SET:
            inner[2].add(imm)
        elif effect in _KILLS_LOADS:
            inner[3] = True
        elif effect is O.CALL:
            inner[4] = True
    return summaries


def _intersect(states):
    smallest = min(states, key=len)
    others = [s for s in states if s is not smallest]
    return {k: g for k, g in smallest.items() if all(s.get(k) == g for s in others)}


def optimize_function(module, pos, body, effects, stats):
    """The new body bytes for one function, or None when nothing pays."""
    instrs = body.instrs
    n = len(instrs)
    params = module.func_type(module.func_index(pos))[0]
    mutable_globals = module.globals
    loops = None

    intern = {}                 # structural key tuple -> small int
    groups = []
    avail = {}                  # key id -> group index
    by_local = {}               # local -> key ids reading it
    by_global = {}              # global -> key ids reading it
    with_load = set()           # key ids containing a load
    key_meta = {}               # key id -> (locals, globals, load)
    shadow = []                 # the operand stack: _Expr or None per value
    ctrl = [_Frame("func")]
    reachable = True

    for i in range(n):
        eff = effects[i]
        if eff is None:
            continue            # unreachable code: left alone
        op, imm = instrs[i][0], instrs[i][1]
        npops, pushes = eff
        effect = op.effect

        if effect in _CANDIDATE and len(pushes) == 1:
            expr = None
            if npops == 0:
                expr_ok = True
            else:
                operands = shadow[-npops:]
                expr_ok = True
                nxt = None
                for o in operands:
                    if o is None or (nxt is not None and o.start != nxt):
                        expr_ok = False
                        break
                    nxt = o.end_next
                if expr_ok and nxt != i:
                    expr_ok = False
            if expr_ok and effect is O.LOAD and module.shared_memory(imm[1]):
                expr_ok = False
            if expr_ok:
                size = instr_size(op, imm)
                if npops == 0:
                    if effect is O.LOCAL_GET:
                        locs, globs = (imm,), ()
                    elif effect is O.GLOBAL_GET:
                        locs = ()
                        globs = (imm,) if mutable_globals[imm][1] else ()
                    else:
                        locs, globs = (), ()
                    raw = (op, imm)
                    expr = _Expr(i, None, locs, globs, False, size)
                else:
                    first = operands[0]
                    if npops == 1:
                        locs, globs, load = first.locals, first.globals, first.load
                        cost = first.cost
                    else:
                        locs, globs, load, cost = set(), set(), False, 0
                        for o in operands:
                            locs.update(o.locals)
                            globs.update(o.globals)
                            load = load or o.load
                            cost += o.cost
                        locs, globs = tuple(locs), tuple(globs)
                    raw = (op, imm) + tuple(o.key for o in operands)
                    expr = _Expr(first.start, None, locs, globs, load or effect is O.LOAD,
                                 cost + size)
                    del shadow[-npops:]
                key = intern.get(raw)
                if key is None:
                    key = intern[raw] = len(intern)
                expr.key = key
                expr.end_next = i + 1
                shadow.append(expr)
                if expr.cost >= _MIN_COST and reachable:
                    g = avail.get(key)
                    if g is None:
                        avail[key] = len(groups)
                        groups.append(_Group(key, (expr.start, i), pushes[0], expr.cost))
                        if key not in key_meta:
                            key_meta[key] = True
                            for x in expr.locals:
                                by_local.setdefault(x, []).append(key)
                            for x in expr.globals:
                                by_global.setdefault(x, []).append(key)
                            if expr.load:
                                with_load.add(key)
                    else:
                        groups[g].reuses.append((expr.start, i))
                continue
            if npops:
                del shadow[-npops:]
            shadow.append(None)
            continue

        # Everything else: replay the stack effect, then kill and steer.
        if npops:
            del shadow[-npops:]
        if pushes:
            shadow.extend([None] * len(pushes))
        if effect is O.LOCAL_SET:
            for k in by_local.get(imm, ()):
                avail.pop(k, None)
        elif effect is O.GLOBAL_SET:
            for k in by_global.get(imm, ()):
                avail.pop(k, None)
        elif effect in _KILLS_LOADS:
            for k in with_load:
                avail.pop(k, None)
        elif effect is O.CALL:
            for k in with_load:
                avail.pop(k, None)
            for keys in by_global.values():
                for k in keys:
                    avail.pop(k, None)
            if op.name in _ENDS_PATH:
                reachable = False
                avail = {}
        elif effect is O.CONTROL:
            name = op.name
            if name == "block" or name == "try":
                ctrl.append(_Frame(name))
            elif name == "loop":
                if loops is None:
                    loops = _loop_summaries(instrs, module)
                _, wl, wg, wmem, calls = loops[i]
                if avail:
                    kill = set()
                    for x in wl:
                        kill.update(by_local.get(x, ()))
                    for x in wg:
                        kill.update(by_global.get(x, ()))
                    if wmem or calls:
                        kill.update(with_load)
                    if calls:
                        for keys in by_global.values():
                            kill.update(keys)
                    if kill:
                        avail = {k: g for k, g in avail.items() if k not in kill}
                ctrl.append(_Frame("loop"))
            elif name == "if":
                ctrl.append(_Frame("if", dict(avail)))
            elif name == "try_table":
                for _kind, _tag, label in imm[1]:
                    target = ctrl[-1 - label]
                    if target.kind != "loop":
                        target.snaps.append({})
                ctrl.append(_Frame("block"))
            elif name == "else":
                frame = ctrl[-1]
                if reachable:
                    frame.snaps.append(avail)
                avail = dict(frame.entry)
                frame.kind = "else"
                reachable = True
            elif name == "catch" or name == "catch_all":
                frame = ctrl[-1]
                if reachable:
                    frame.snaps.append(avail)
                avail = {}
                reachable = True
            elif name == "end" or name == "delegate":
                frame = ctrl.pop()
                if not ctrl:
                    break
                if frame.kind == "loop":
                    avail = avail if reachable else {}
                else:
                    states = list(frame.snaps)
                    if reachable:
                        states.append(avail)
                    if frame.kind == "if":
                        states.append(frame.entry)
                    avail = _intersect(states) if states else {}
                reachable = True
            elif name in ("br", "br_if", "br_on_null", "br_on_non_null"):
                target = ctrl[-1 - imm]
                if target.kind != "loop":
                    target.snaps.append(dict(avail) if name != "br" else avail)
                if name == "br":
                    reachable = False
                    avail = {}
            elif name == "br_table":
                labels, default = imm
                for label in set(labels) | {default}:
                    target = ctrl[-1 - label]
                    if target.kind != "loop":
                        target.snaps.append(avail)
                reachable = False
                avail = {}
            elif name in _ENDS_PATH:
                reachable = False
                avail = {}

    return _select_and_rewrite(body, params, groups, stats)


def _select_and_rewrite(body, params, groups, stats):
    candidates = [g for g in groups if g.reuses]
    if not candidates:
        return None
    # Most promising first (as if the local's index were one byte and it
    # needed a new group); exact accounting decides below.
    candidates.sort(key=lambda g: (-(len(g.reuses) * (g.cost - 2) - 4), g.first))
    local_groups = [list(x) for x in body.locals]
    next_local = len(params) + sum(c for c, _ in body.locals)
    replaced = []   # spans that become local.get
    teed = []       # spans that get a local.tee after them
    accepted = []   # (group, local, reuses)
    for g in candidates:
        fs, fe = g.first
        if any(rs <= fs and fe <= re for rs, re in replaced):
            continue  # its first occurrence is inside a span that disappears
        reuses = []
        for s, e in g.reuses:
            if any(s <= re and rs <= e for rs, re in replaced):
                continue  # overlaps a span that disappears
            if any(s <= ts and te <= e for ts, te in teed):
                continue  # would remove another expression's tee
            reuses.append((s, e))
        if not reuses:
            continue
        if next_local >= _MAX_LOCALS:
            break
        ref = size_u(next_local) + 1  # local.get / local.tee with this index
        if local_groups and local_groups[-1][1] == g.type:
            count = local_groups[-1][0]
            decl = size_u(count + 1) - size_u(count)
        else:
            decl = (1 + len(encode_valtype(g.type))
                    + size_u(len(local_groups) + 1) - size_u(len(local_groups)))
        saving = len(reuses) * (g.cost - ref) - ref - decl
        if saving <= 0:
            stats.rejected_by_cost_gate += 1
            continue
        if local_groups and local_groups[-1][1] == g.type:
            local_groups[-1][0] += 1
        else:
            local_groups.append([1, g.type])
        accepted.append((g, next_local, reuses))
        next_local += 1
        teed.append(g.first)
        replaced.extend(reuses)
    if not accepted:
        return None
    tee_after = {}
    replace_at = {}
    for g, local, reuses in accepted:
        tee_after[g.first[1]] = local
        for s, e in reuses:
            replace_at[s] = (e, local)
    instrs = body.instrs
    out = []
    i, n = 0, len(instrs)
    while i < n:
        r = replace_at.get(i)
        if r is not None:
            out.append((_LOCAL_GET, r[1], -1, -1))
            i = r[0] + 1
            continue
        out.append(instrs[i])
        local = tee_after.get(i)
        if local is not None:
            out.append((_LOCAL_TEE, local, -1, -1))
        i += 1
    replaced_count = sum(len(r) for _, _, r in accepted)
    return encode_body([(c, t) for c, t in local_groups], out), replaced_count
