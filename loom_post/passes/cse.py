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
    cannot trap the second time: the first, identical one did not.

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

How it runs
    Three phases per round: scan (one walk: candidates and where each value is
    available), select (the exact gate, greedy by savings) and apply (tees and
    local.gets). Rounds repeat while another could still pay. The pipeline
    (pipeline.py) decides whether the rewritten function is kept.
"""

from bisect import bisect_right
from heapq import heappop, heappush

from loom_post.passes import effects as E
from loom_post.passes.base import FunctionPass
from loom_post.wasm import opcodes as O
from loom_post.wasm.instructions import encode_valtype, instr_size
from loom_post.wasm.leb128 import size_u
from loom_post.wasm.stack_types import StackTypeError

_LOCAL_GET = O.BY_NAME["local.get"]
_LOCAL_TEE = O.BY_NAME["local.tee"]
_MIN_COST = 3  # a later occurrence must cost more than `local.get` (>= 2 bytes) to pay
_MAX_LOCALS = 50000
_ALL = float("inf")
_MAX_ROUNDS = 8


class CsePass(FunctionPass):
    name = "cse"
    summary = "compute repeated pure expressions once and reuse them through a new local"
    counters = ("deduplicated", "rejected_by_cost_gate")
    analysis_counters = ("rejected_by_cost_gate",)

    def prepare(self, module):
        mutable = [g[1] for g in module.globals]
        shared = {i for i in range(len(module.memories)) if module.shared_memory(i)}
        return mutable, shared

    def run_function(self, context, func, stats):
        """Scan, select and apply, round after round until nothing pays: one
        greedy round can leave work that pays only after it (see
        _could_pay_later), and a second run over its own output must find nothing."""
        original = (func.locals, func.instrs)
        changed = False
        for _round in range(_MAX_ROUNDS):
            try:
                effects = func.effects()
            except StackTypeError:  # pragma: no cover - a rewrite keeps types
                func.update(*original)
                return False
            groups = _Scan(context, func.instrs, effects).run()
            plan = _select(func, groups, stats)
            if plan is None:
                break
            local_groups, instrs, replaced = _apply(func.instrs, plan)
            func.update(local_groups, instrs)
            stats.count("deduplicated", replaced)
            changed = True
            if not plan.again:
                break
        return changed


PASS = CsePass()


class _Scope:
    """A block, loop, if/else arm or try body, in the scoped table of available
    expressions. What it made available is `_Scan.added[start:]` (the entries of
    the scopes it encloses, once closed, stay in place: they now belong to it);
    `cut` is the number of groups that existed when the first branch to its label
    was taken."""

    __slots__ = ("kind", "start", "cut")

    def __init__(self, kind, start):
        self.kind = kind
        self.start = start
        self.cut = None


class _Writes:
    """Where a function writes what, for the loops' back edges: the positions of
    the writes to each local and mutable global, of memory writes and calls
    (calls also change globals and memory), and the end of each loop. A value
    available at a loop's header must die there if anything it reads is written
    anywhere in the loop: that is, if its first such write after the value was
    computed lies before the loop's end. Each value's first write is found once
    (bisect), so deep nests of loops cost O(n log n), not O(n * depth)."""

    def __init__(self, instrs):
        self.local, self.glob = {}, {}
        self.memory, self.calls, self.loop_end = [], [], {}
        LOCAL_SET, GLOBAL_SET, CALL, CONTROL = O.LOCAL_SET, O.GLOBAL_SET, O.CALL, O.CONTROL
        opened = []
        for i, ins in enumerate(instrs):
            effect = ins[0].effect
            if effect is CONTROL:
                name = ins[0].name
                if name in E.OPENERS:
                    opened.append(i if name == "loop" else -1)
                elif (name == "end" or name == "delegate") and opened:
                    start = opened.pop()
                    if start >= 0:
                        self.loop_end[start] = i
            elif effect is LOCAL_SET:
                self.local.setdefault(ins[1], []).append(i)
            elif effect is GLOBAL_SET:
                self.glob.setdefault(ins[1], []).append(i)
            elif effect in E.WRITES_MEMORY:
                self.memory.append(i)
            elif effect is CALL:
                self.calls.append(i)
                self.memory.append(i)

    def first_after(self, expr, pos):
        """The first position after `pos` that changes what `expr` reads."""
        best = _NEVER
        for x in expr[3]:
            best = min(best, _next(self.local.get(x), pos))
        if expr[4]:
            best = min(best, _next(self.calls, pos))
            for x in expr[4]:
                best = min(best, _next(self.glob.get(x), pos))
        if expr[5]:
            best = min(best, _next(self.memory, pos))
        return best


_NEVER = float("inf")


def _next(positions, pos):
    if not positions:
        return _NEVER
    k = bisect_right(positions, pos)
    return positions[k] if k < len(positions) else _NEVER


class _Scan:
    """Phase 1: one walk over a function that finds every repeated candidate
    expression and where its value is certainly still available.

    The available expressions live in one scoped table (`avail`, key -> group).
    A kill deletes for good, which is conservative at merges: a value killed on
    any path into a point is not available there. Leaving a scope removes what
    was added inside it, except that a block or loop keeps what was added before
    the first branch to it, since that code ran on every path to its end.

    The result, `groups`, holds per distinct expression:
    [key, first start, first end, type, cost, later (start, end) spans or None].
    """

    def __init__(self, context, instrs, effects):
        self.mutable, self.shared = context
        self.instrs = instrs
        self.effects = effects
        self.writes = None      # _Writes, made at the first loop
        self.heap = None        # (first write after it, group, key) per value, once loops matter
        self.intern = {}        # structural key tuple -> small int
        self.leaf_cost = []     # key -> encoded bytes, for leaves
        self.groups = []
        self.exprs = []         # per group: its first occurrence's expression tuple
        self.avail = {}         # key id -> group index
        self.by_local = {}      # local -> key ids (available or not) reading it
        self.by_global = {}     # mutable global -> key ids reading it
        self.with_load = []     # key ids containing a load
        # The operand stack: per value, None (opaque) or an expression tuple
        # (start, end + 1, key, locals, globals, has load, cost).
        self.shadow = []
        self.added = []         # (key, group) per value made available, in group order
        self.scopes = [_Scope("func", 0)]
        self.reachable = True

    def run(self):
        instrs, effects, shadow = self.instrs, self.effects, self.shadow
        REUSABLE, CONTROL = E.REUSABLE, O.CONTROL
        for i in range(len(instrs)):
            eff = effects[i]
            if eff is None:
                continue            # unreachable code: left alone
            ins = instrs[i]
            op = ins[0]
            npops, pushes = eff
            effect = op.effect
            if effect in REUSABLE and len(pushes) == 1:
                expr = self.expression(i, op, ins[1], npops) if npops else self.leaf(i, op, ins[1])
                shadow.append(expr)
                if expr is not None:
                    self.record(expr, pushes[0], i)
                continue
            # Everything else: replay the stack effect, then kill and steer.
            if npops:
                del shadow[-npops:]
            if pushes:
                shadow.extend([None] * len(pushes))
            if effect is CONTROL:
                if self.control(i, op.name, ins[1]):
                    break
            else:
                self.kill(effect, op, ins[1])
        return self.groups

    def key(self, raw, cost):
        key = self.intern.get(raw)
        if key is None:
            key = self.intern[raw] = len(self.intern)
            self.leaf_cost.append(cost)
        return key

    def leaf(self, i, op, imm):
        effect = op.effect
        key = self.intern.get((op, imm))
        if key is None:
            key = self.key((op, imm), 2 if effect is O.LOCAL_GET and imm < 128
                           else instr_size(op, imm))
        cost = self.leaf_cost[key]
        if effect is O.LOCAL_GET:
            return (i, i + 1, key, (imm,), (), False, cost)
        if effect is O.GLOBAL_GET and self.mutable[imm]:
            return (i, i + 1, key, (), (imm,), False, cost)
        return (i, i + 1, key, (), (), False, cost)

    def expression(self, i, op, imm, npops):
        """The expression ending at instruction i, or None when an operand is
        opaque or does not come from the instructions just before."""
        shadow = self.shadow
        operands = shadow[-npops:]
        del shadow[-npops:]
        nxt = operands[0] and operands[0][0]
        for o in operands:
            if o is None or o[0] != nxt:
                return None
            nxt = o[1]
        is_load = op.effect is O.LOAD
        if nxt != i or (is_load and imm[1] in self.shared):
            return None
        size = op.fixed_size or instr_size(op, imm)
        if npops == 1:
            o = operands[0]
            key = self.key((op, imm, o[2]), 0)
            return (o[0], i + 1, key, o[3], o[4], o[5] or is_load, o[6] + size)
        locs, globs, load, cost = [], [], is_load, size
        for o in operands:
            locs.extend(o[3])
            globs.extend(o[4])
            load = load or o[5]
            cost += o[6]
        key = self.key((op, imm) + tuple([o[2] for o in operands]), 0)
        return (operands[0][0], i + 1, key, tuple(locs), tuple(globs), load, cost)

    def record(self, expr, vtype, i):
        """Make `expr` available, or note a later occurrence of it. A new local
        needs a default value: a non-nullable reference local (0x64 ht) would
        count as unset after the block that sets it."""
        if (expr[6] < _MIN_COST or not self.reachable
                or (vtype.__class__ is tuple and vtype[0] == 0x64)):
            return
        key = expr[2]
        g = self.avail.get(key)
        if g is None:
            g = self.avail[key] = len(self.groups)
            self.groups.append([key, expr[0], i, vtype, expr[6], None])
            self.exprs.append(expr)
            self.added.append((key, g))
            if self.heap is not None:
                heappush(self.heap, (self.writes.first_after(expr, i), g, key))
            for x in expr[3]:
                self.by_local.setdefault(x, []).append(key)
            for x in expr[4]:
                self.by_global.setdefault(x, []).append(key)
            if expr[5]:
                self.with_load.append(key)
        else:
            group = self.groups[g]
            if group[5] is None:
                group[5] = [(expr[0], i)]
            else:
                group[5].append((expr[0], i))

    # -- kills -------------------------------------------------------------
    def drop(self, keys):
        avail = self.avail
        for k in keys:
            avail.pop(k, None)

    def drop_loads(self):
        self.drop(self.with_load)
        self.with_load = []

    def drop_globals(self):
        for keys in self.by_global.values():
            self.drop(keys)
        self.by_global = {}

    def kill(self, effect, op, imm):
        if effect is O.LOCAL_SET:
            self.drop(self.by_local.pop(imm, ()))
        elif effect is O.GLOBAL_SET:
            self.drop(self.by_global.pop(imm, ()))
        elif effect in E.WRITES_MEMORY:
            self.drop_loads()
        elif effect is O.CALL:
            self.drop_loads()
            self.drop_globals()
            if op.name in E.ENDS_PATH:
                self.reachable = False

    # -- structure ---------------------------------------------------------
    def leave(self, scope, cut):
        """Close `scope`: what it added from group `cut` on is no longer
        available; what came before now belongs to the enclosing scope. Groups
        grow in program order, so those to remove are at the end of `added`."""
        added, avail = self.added, self.avail
        start = scope.start
        while len(added) > start and added[-1][1] >= cut:
            k, g = added.pop()
            if avail.get(k) == g:
                del avail[k]

    def branch_to(self, depth):
        # Group numbers grow in program order, so everything still available
        # here (in any open scope) was added before this first branch.
        target = self.scopes[-1 - depth]
        if target.cut is None and target.kind != "loop":
            target.cut = len(self.groups)

    def enter_loop(self, i):
        """Back edges: drop every value that something in the loop can change."""
        if self.heap is None:
            self.writes = _Writes(self.instrs)
            self.heap = []
            groups = self.groups
            for k, g in self.avail.items():
                first = self.writes.first_after(self.exprs[g], groups[g][2])
                heappush(self.heap, (first, g, k))
        end = self.writes.loop_end.get(i, _NEVER)
        heap, avail = self.heap, self.avail
        while heap and heap[0][0] <= end:
            _first, g, k = heappop(heap)
            if avail.get(k) == g:
                del avail[k]
        self.scopes.append(_Scope("loop", len(self.added)))

    def close(self):
        """`end`/`delegate`; True at the function's final end."""
        scope = self.scopes.pop()
        if not self.scopes:
            return True
        if scope.kind == "loop":
            cut = _ALL if self.reachable else 0
        elif scope.kind == "block":
            cut = scope.cut if scope.cut is not None else (_ALL if self.reachable else 0)
        else:
            cut = 0  # an if arm, or a try body or handler
        self.leave(scope, cut)
        self.reachable = True
        return False

    def control(self, i, name, imm):
        """Steer the table through one control instruction; True at the end."""
        if name == "block" or name == "try" or name == "if":
            self.scopes.append(_Scope(name, len(self.added)))
        elif name == "loop":
            self.enter_loop(i)
        elif name == "try_table":
            for _kind, _tag, label in imm[1]:
                self.branch_to(label)
            self.scopes.append(_Scope("block", len(self.added)))
        elif name == "else" or name == "catch" or name == "catch_all":
            self.leave(self.scopes[-1], 0)
            self.reachable = True
        elif name == "end" or name == "delegate":
            return self.close()
        elif name in ("br", "br_if", "br_on_null", "br_on_non_null"):
            self.branch_to(imm)
            if name == "br":
                self.reachable = False
        elif name == "br_table":
            for label in set(imm[0]) | {imm[1]}:
                self.branch_to(label)
            self.reachable = False
        elif name in E.ENDS_PATH:
            self.reachable = False
        return False


class _Plan:
    """What phase 2 chose: the final local groups, per accepted group
    (first end, local, reuses), and whether another round could pay."""

    __slots__ = ("local_groups", "accepted", "again")

    def __init__(self, local_groups, accepted, again):
        self.local_groups = local_groups
        self.accepted = accepted
        self.again = again


class _Selection:
    """Phase 2 state. Spans nest or are disjoint (they are subtrees), so whether
    one span holds another is decided by where the other's last (root)
    instruction is."""

    def __init__(self, func, n):
        self.gone = bytearray(n)       # instructions replaced by a local.get
        self.tee_roots = bytearray(n)  # last instructions of first occurrences with a tee
        self.shrink = [0] * n          # at a replaced span's root: what that replacement saved
        self.local_groups = [list(x) for x in func.locals]
        self.next_local = len(func.params) + sum(c for c, _ in func.locals)
        self.owner = {}      # root of a replaced span -> index into `accepted`
        self.live = []       # per accepted group: its replaced spans not swallowed since
        self.accepted = []   # (first end, local, reuses)
        # What another round over the rewritten code could still take:
        # groups whose first occurrence disappeared, groups the gate rejected,
        # and reuses refused to protect another group's last one.
        self.orphans, self.rejected, self.protected = [], [], False

    def reuses(self, cost, later, ref):
        """[(start, end, saving)] of the later occurrences worth a local.get."""
        gone, tee_roots, owner, live = self.gone, self.tee_roots, self.owner, self.live
        reuses, taking = [], {}  # accepted group -> its spans these reuses would swallow
        for s, e in later:
            if gone[e] or tee_roots.find(1, s, e + 1) >= 0:
                continue  # already inside a replaced span, or would remove a tee
            current = cost
            if gone.find(1, s, e) >= 0:
                # A reuse may swallow other replacements (their local.get is
                # dropped); it then saves only what is left of it, and nested
                # savings add up exactly. But it must not take the last reuse
                # of a group, whose tee and local would then be wasted.
                want = dict(taking)
                for a in [owner[j] for j in range(s, e) if j in owner]:
                    want[a] = want.get(a, 0) + 1
                if any(live[a] - k <= 0 for a, k in want.items()):
                    self.protected = True
                    continue
                current = cost - sum(self.shrink[s:e + 1])
                if current > ref:
                    taking = want
            if current > ref:
                reuses.append((s, e, current))
        return reuses

    def declaration_cost(self, vtype):
        """(bytes, joins the last group): a local of the last group's type grows
        its count; any other needs a new group."""
        groups = self.local_groups
        if groups and groups[-1][1] == vtype:
            count = groups[-1][0]
            return size_u(count + 1) - size_u(count), True
        return (1 + len(encode_valtype(vtype))
                + size_u(len(groups) + 1) - size_u(len(groups))), False

    def accept(self, fe, vtype, joins, reuses, ref):
        if joins:
            self.local_groups[-1][0] += 1
        else:
            self.local_groups.append([1, vtype])
        me = len(self.accepted)
        self.accepted.append((fe, self.next_local, reuses))
        self.live.append(len(reuses))
        self.next_local += 1
        self.tee_roots[fe] = 1
        for s, e, current in reuses:
            for j in range(s, e):
                a = self.owner.pop(j, None)
                if a is not None:
                    self.live[a] -= 1
            self.gone[s:e + 1] = b"\x01" * (e + 1 - s)
            self.shrink[e] = current - ref
            self.owner[e] = me


def _select(func, groups, stats):
    """Phase 2: choose, greedily by savings, the groups whose exact cost gate
    says they pay; None when none does."""
    candidates = [g for g in groups if g[5]]
    if not candidates:
        return None
    # Most promising first (as if the local's index were one byte and it
    # needed a new group); exact accounting decides below.
    candidates.sort(key=lambda g: (-(len(g[5]) * (g[4] - 2) - 4), g[1]))
    sel = _Selection(func, len(func.instrs))
    for _key, _fs, fe, vtype, cost, later in candidates:
        if sel.gone[fe]:
            sel.orphans.append(later)
            continue  # its first occurrence is inside a span that disappears
        if sel.next_local >= _MAX_LOCALS:
            break
        ref = size_u(sel.next_local) + 1  # local.get / local.tee with this index
        reuses = sel.reuses(cost, later, ref)
        if not reuses:
            continue
        decl, joins = sel.declaration_cost(vtype)
        saving = sum(c - ref for _s, _e, c in reuses) - ref - decl
        if saving <= 0:
            stats.count("rejected_by_cost_gate")
            sel.rejected.append((vtype, [c for _s, _e, c in reuses]))
            continue
        sel.accept(fe, vtype, joins, reuses, ref)
    if not sel.accepted:
        return None
    again = sel.protected or _could_pay_later(sel.orphans, sel.rejected, sel.gone,
                                              sel.local_groups, sel.next_local)
    return _Plan([(c, t) for c, t in sel.local_groups], sel.accepted, again)


def _apply(instrs, plan):
    """Phase 3: (local groups, instructions, reuses) with a tee after each accepted first
    occurrence and a local.get in place of each reuse."""
    tee_after = {}
    replace_at = {}
    for fe, local, reuses in plan.accepted:
        tee_after[fe] = local
        for s, e, _current in reuses:
            # A later, enclosing replacement with the same start wins; ones
            # inside it are skipped over when it is emitted.
            replace_at[s] = (e, local)
    out = []
    i, n, replaced = 0, len(instrs), 0
    while i < n:
        r = replace_at.get(i)
        if r is not None:
            out.append((_LOCAL_GET, r[1], -1, -1))
            replaced += 1
            i = r[0] + 1
            continue
        out.append(instrs[i])
        local = tee_after.get(i)
        if local is not None:
            out.append((_LOCAL_TEE, local, -1, -1))
        i += 1
    return plan.local_groups, out, replaced


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
