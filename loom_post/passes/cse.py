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
    (pipeline.py) decides whether the rewritten function is kept. The scan
    checks writes only when a value recurs (most never do): what a kill at
    every write and at every loop header would have dropped, it finds from the
    last write of each thing read and one bisection into the loops entered
    since.
"""

from bisect import bisect_right

from loom_post.passes import effects as E
from loom_post.passes import facts
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
    name, default, counters, summary = facts(__name__)
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
    `cut` is the position of the first branch to its label."""

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
    computed lies before the loop's end. Each value's first write is found by
    bisection, so deep nests of loops cost O(n log n), not O(n * depth)."""

    def __init__(self, instrs):
        self.local, self.glob = {}, {}
        self.memory, self.calls, self.loop_end = [], [], {}
        self.note(instrs)

    def note(self, instrs):
        kinds, opened = _KINDS, []
        for i, ins in enumerate(instrs):
            kind = kinds[ins[0]]
            if kind <= _GGET or kind == _OTHER:
                continue
            if kind >= _CTRL:
                if kind <= _TRY_TABLE:  # opens a block, loop, if, try or try_table
                    opened.append(i if kind == _LOOP else -1)
                elif kind == _END and opened:
                    start = opened.pop()
                    if start >= 0:
                        self.loop_end[start] = i
            elif kind == _LSET:
                self.local.setdefault(ins[1], []).append(i)
            elif kind == _GSET:
                self.glob.setdefault(ins[1], []).append(i)
            elif kind == _MEMW:
                self.memory.append(i)
            else:  # a call or tail call
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


# What the scan does with each row of the opcode table, derived from its effect
# class (and, for control rows and calls, its name) once, so the walk branches on
# one small int per instruction and never reads a row's name.
_PURE, _LOAD, _LGET, _GGET, _LSET, _GSET, _MEMW, _CALL, _TAIL_CALL, _OTHER = range(10)
# Control rows, all >= _CTRL: how each steers the table of available values.
# The first five open a structure (a scope's kind is the kind of its opener).
_CTRL = 10
(_BLOCK, _IF, _TRY, _LOOP, _TRY_TABLE, _ARM, _END, _BR, _BR_IF, _BR_TABLE, _STOPS,
 _NOP) = range(_CTRL, _CTRL + 12)
_FUNC = -1  # the function's own scope
_OPENER_KINDS = {"block": _BLOCK, "if": _IF, "try": _TRY, "loop": _LOOP, "try_table": _TRY_TABLE}
# Checked once here, not per instruction: an opener of effects.OPENERS missing
# above would be walked as a plain instruction, and its `end` would close the
# scope around it.
if _OPENER_KINDS.keys() != E.OPENERS:
    raise AssertionError(f"cse's openers {sorted(_OPENER_KINDS)} are not effects.OPENERS")
_CONTROL_KINDS = {**_OPENER_KINDS, "else": _ARM, "catch": _ARM, "catch_all": _ARM,
                  "end": _END, "delegate": _END, "br": _BR, "br_if": _BR_IF,
                  "br_on_null": _BR_IF, "br_on_non_null": _BR_IF, "br_table": _BR_TABLE}


def _kinds():
    by_class = {O.PURE: _PURE, O.LOAD: _LOAD, O.LOCAL_GET: _LGET, O.GLOBAL_GET: _GGET,
                O.LOCAL_SET: _LSET, O.GLOBAL_SET: _GSET, O.CALL: _CALL}
    by_class.update(dict.fromkeys(E.WRITES_MEMORY, _MEMW))
    kinds = {}
    for op in O.ALL:
        kind = by_class.get(op.effect, _OTHER)
        if op.effect is O.CONTROL:
            kind = _CONTROL_KINDS.get(op.name, _STOPS if op.name in E.ENDS_PATH else _NOP)
        elif kind == _CALL and op.name in E.ENDS_PATH:
            kind = _TAIL_CALL
        elif op.effect in E.REUSABLE and op.pushes is not None and len(op.pushes) != 1:
            kind = _OTHER  # a reusable class, but not one value: only replayed
        kinds[op] = kind
    return kinds


_KINDS = _kinds()


class _Scan:
    """Phase 1: one walk over a function that finds every repeated candidate
    expression and where its value is certainly still available.

    Values live in a scoped table (`avail`, key -> the expression tuple of its
    first occurrence). Leaving a scope removes what was added inside it, except
    that a block or loop keeps what was added before the first branch to it,
    since that code ran on every path to its end. Writes are checked lazily: a
    first occurrence is only looked at again when its key recurs, and it is
    still available when nothing it reads was written since (`valid`), which
    is what deleting it at every write would give (a kill is for good, so it
    is conservative at merges) at the cost of one check per repeat instead of
    bookkeeping per first occurrence.

    The result, `groups`, holds per expression that recurs, in program order:
    [key, first start, first end, type, cost, later (start, end) spans].
    """

    def __init__(self, context, instrs, effects):
        self.mutable, self.shared = context
        self.instrs = instrs
        self.effects = effects
        self.writes = None      # _Writes, made when a loop's back edge matters
        self.intern = {}        # structural key tuple -> small int
        # leaf (a local index, or (op, imm)) -> (key, cost, locals, globals)
        self.leaves = {}
        self.avail = {}         # key -> first occurrence (expression tuple)
        self.laters = {}        # first occurrence's end + 1 -> (it, later spans)
        # The operand stack: per value, None (opaque) or an expression tuple
        # (start, end + 1, key, locals, globals, has load, cost).
        self.shadow = []
        self.added = []         # first occurrences made available, in program order
        self.scopes = [_Scope(_FUNC, 0)]
        # Loop headers: the open loops, outermost first, then the closed loops
        # entered since the innermost open one (see `killed_by_loop`).
        self.loops = []
        self.open_loops = 0
        self.reachable = True
        # The last write before the walk's position: per local and mutable
        # global, of memory (stores, bulk memory, atomics, calls) and calls.
        self.local_writes, self.global_writes = {}, {}
        self.last_memory = self.last_call = -1

    def run(self):
        # (shadow.append and .pop are called as methods: Python specializes
        # those calls, and Cython inlines them on a typed list)
        instrs, effects, shadow = self.instrs, self.effects, self.shadow
        kinds, leaves, intern, shared = _KINDS, self.leaves, self.intern, self.shared
        local_writes = self.local_writes
        for i, eff in enumerate(effects):
            if eff is None:
                continue            # unreachable code: left alone
            ins = instrs[i]
            op = ins[0]
            kind = kinds[op]
            if kind > _GGET:        # not a value to scan
                if kind == _LSET:
                    local_writes[ins[1]] = i
                    if eff[1]:
                        shadow[-1] = None   # local.tee
                    else:
                        shadow.pop()
                elif self.step(i, ins[1], eff, kind):
                    break
                continue
            npops = eff[0]
            if npops == 0:
                imm = ins[1]
                leaf = leaves.get(imm if kind == _LGET else (op, imm))
                if leaf is None:
                    leaf = self.new_leaf(kind, op, imm)
                expr = (i, i + 1, leaf[0], leaf[2], leaf[3], False, leaf[1])
            elif npops == 1:
                a = shadow.pop()
                imm = ins[1]
                if a is None or a[1] != i or (kind == _LOAD and imm[1] in shared):
                    shadow.append(None)
                    continue
                raw = (op, imm, a[2])
                key = intern.get(raw)
                if key is None:
                    key = intern[raw] = len(intern) + len(leaves)
                expr = (a[0], i + 1, key, a[3], a[4], a[5] or kind == _LOAD,
                        a[6] + (op.fixed_size or instr_size(op, imm)))
            elif npops == 2:
                b = shadow.pop()
                a = shadow.pop()
                imm = ins[1]
                if (a is None or b is None or a[1] != b[0] or b[1] != i
                        or (kind == _LOAD and imm[1] in shared)):
                    shadow.append(None)
                    continue
                raw = (op, imm, a[2], b[2])
                key = intern.get(raw)
                if key is None:
                    key = intern[raw] = len(intern) + len(leaves)
                expr = (a[0], i + 1, key, a[3] + b[3], a[4] + b[4],
                        a[5] or b[5] or kind == _LOAD,
                        a[6] + b[6] + (op.fixed_size or instr_size(op, imm)))
            else:
                expr = self.expression(i, op, ins[1], npops, kind == _LOAD)
            shadow.append(expr)
            if expr is not None and expr[6] >= _MIN_COST and self.reachable:
                self.record(expr, eff[1][0], i)
        return self.groups()

    def step(self, i, imm, eff, kind):
        """Replay what any other instruction does to the stack, note its writes
        and steer through structure; True at the function's final end."""
        npops, pushes = eff
        shadow = self.shadow
        if npops:
            del shadow[-npops:]
        if pushes:
            shadow.extend([None] * len(pushes))
        if kind >= _CTRL:
            return self.control(i, kind, imm)
        if kind == _MEMW:
            self.last_memory = i
        elif kind == _CALL or kind == _TAIL_CALL:
            self.last_call = self.last_memory = i
            if kind == _TAIL_CALL:
                self.reachable = False
        elif kind == _GSET:
            self.global_writes[imm] = i
        return False

    def record(self, expr, vtype, i):
        """Make `expr` available, or note a later occurrence of it. A new local
        needs a default value: a non-nullable reference local (0x64 ht) would
        count as unset after the block that sets it."""
        if type(vtype) is tuple and vtype[0] == 0x64:
            return
        key = expr[2]
        first = self.avail.get(key)
        if first is None or not self.valid(first, i):
            self.avail[key] = expr
            self.added.append(expr)
            return
        seen = self.laters.get(first[1])
        if seen is None:
            self.laters[first[1]] = (first, [(expr[0], i)])
        else:
            seen[1].append((expr[0], i))

    def new_leaf(self, kind, op, imm):
        key = len(self.intern) + len(self.leaves)
        if kind == _LGET:
            leaf = self.leaves[imm] = (key, 2 if imm < 128 else instr_size(op, imm), (imm,), ())
        else:
            globs = (imm,) if kind == _GGET and self.mutable[imm] else ()
            leaf = self.leaves[(op, imm)] = (key, instr_size(op, imm), (), globs)
        return leaf

    def expression(self, i, op, imm, npops, is_load):
        """The expression of three or more operands ending at instruction i, or
        None when an operand is opaque or does not come from the instructions
        just before."""
        shadow = self.shadow
        operands = shadow[-npops:]
        del shadow[-npops:]
        nxt = operands[0] and operands[0][0]
        for o in operands:
            if o is None or o[0] != nxt:
                return None
            nxt = o[1]
        if nxt != i or (is_load and imm[1] in self.shared):
            return None
        locs, globs, load, cost = [], [], is_load, op.fixed_size or instr_size(op, imm)
        for o in operands:
            locs.extend(o[3])
            globs.extend(o[4])
            load = load or o[5]
            cost += o[6]
        raw = (op, imm) + tuple([o[2] for o in operands])
        key = self.intern.get(raw)
        if key is None:
            key = self.intern[raw] = len(self.intern) + len(self.leaves)
        return (operands[0][0], i + 1, key, tuple(locs), tuple(globs), load, cost)

    def groups(self):
        effects = self.effects
        out = []
        for end in sorted(self.laters):
            first, spans = self.laters[end]
            out.append([first[2], first[0], end - 1, effects[end - 1][1][0], first[6], spans])
        return out

    # -- kills -------------------------------------------------------------
    def valid(self, first, i):
        """Is the value of `first` still what a recomputation at i would give?
        Not when something it reads was written since (a local.set/tee of one
        of its locals, a global.set of one of its globals, a call for globals
        and loads, a memory write for loads), nor when a loop entered since
        writes it anywhere in its body (a back edge)."""
        pos = first[1] - 1
        if self.loops and self.loops[-1] > pos and self.killed_by_loop(first, pos):
            return False
        for x in first[3]:
            if self.local_writes.get(x, -1) > pos:
                return False
        if first[4]:
            if self.last_call > pos:
                return False
            for x in first[4]:
                if self.global_writes.get(x, -1) > pos:
                    return False
        return not (first[5] and self.last_memory > pos)

    def killed_by_loop(self, first, pos):
        """Would a loop header entered after `pos` have dropped `first`? It does
        when the first write after `pos` to what `first` reads comes before
        that loop's end. Loops nest or follow each other, so the loop entered
        since `pos` that ends last is the first of `loops` after `pos`: the
        open loops come outermost first and a closed loop is forgotten once a
        loop after it is entered (which ends later)."""
        if self.writes is None:
            self.writes = _Writes(self.instrs)
        loops = self.loops
        head = loops[bisect_right(loops, pos)]
        end = self.writes.loop_end.get(head, _NEVER)
        return self.writes.first_after(first, pos) <= end

    # -- structure ---------------------------------------------------------
    def leave(self, scope, cut):
        """Close `scope`: what it added after position `cut` is no longer
        available; what came before now belongs to the enclosing scope. First
        occurrences are added in program order, so those to remove are at the
        end of `added`."""
        added, avail = self.added, self.avail
        start = scope.start
        while len(added) > start and added[-1][1] > cut:
            expr = added.pop()
            if avail.get(expr[2]) is expr:
                del avail[expr[2]]

    def branch_to(self, depth, i):
        # Everything still available here (in any open scope) was added
        # before this first branch, at a position before i.
        target = self.scopes[-1 - depth]
        if target.cut is None and target.kind != _LOOP:
            target.cut = i

    def enter_loop(self, i):
        del self.loops[self.open_loops:]  # closed loops that end before this one
        self.loops.append(i)
        self.open_loops += 1
        self.scopes.append(_Scope(_LOOP, len(self.added)))

    def close(self):
        """`end`/`delegate`; True at the function's final end."""
        scope = self.scopes.pop()
        if not self.scopes:
            return True
        if scope.kind == _LOOP:
            self.open_loops -= 1
            cut = _ALL if self.reachable else 0
        elif scope.kind == _BLOCK:
            cut = scope.cut if scope.cut is not None else (_ALL if self.reachable else 0)
        else:
            cut = 0  # an if arm, or a try body or handler
        self.leave(scope, cut)
        self.reachable = True
        return False

    def control(self, i, kind, imm):
        """Steer the table through one control instruction; True at the end."""
        if kind == _END:
            return self.close()
        if kind == _BR or kind == _BR_IF:
            self.branch_to(imm, i)
            if kind == _BR:
                self.reachable = False
        elif kind == _BLOCK or kind == _LOOP or kind == _IF or kind == _TRY:
            if kind == _LOOP:
                self.enter_loop(i)
            else:
                self.scopes.append(_Scope(kind, len(self.added)))
        elif kind == _TRY_TABLE:
            for _kind, _tag, label in imm[1]:
                self.branch_to(label, i)
            self.scopes.append(_Scope(_BLOCK, len(self.added)))
        elif kind == _ARM:
            self.leave(self.scopes[-1], 0)
            self.reachable = True
        elif kind == _BR_TABLE:
            for label in set(imm[0]) | {imm[1]}:
                self.branch_to(label, i)
            self.reachable = False
        elif kind == _STOPS:
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
    # Copy the runs between the edits as slices: the edits are few.
    out = []
    pos, replaced = 0, 0
    for i in sorted(tee_after.keys() | replace_at.keys()):
        if i < pos:
            continue  # inside a replaced span
        r = replace_at.get(i)
        if r is not None:
            out.extend(instrs[pos:i])
            out.append((_LOCAL_GET, r[1], -1, -1))
            replaced += 1
            pos = r[0] + 1
        else:
            out.extend(instrs[pos:i + 1])
            out.append((_LOCAL_TEE, tee_after[i], -1, -1))
            pos = i + 1
    out.extend(instrs[pos:])
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
