"""Stack typing of one function body, as the spec's validation algorithm does it.

`stack_effects(module, pos, body)` walks the instructions with a typed operand
stack and a control stack and returns, for every instruction, `(pops, pushes)`:
how many values it takes and the types it leaves. Structure instructions (`else`,
`end`, `catch`) report as pops everything above their frame's base, so a caller
replaying the effects keeps an operand stack of exactly the right height. Code
after an unconditional branch is unreachable: its instructions get `None` and are
not typed (nothing in loom-post rewrites unreachable code). The walk's loop types
the common rows itself (fixed signatures, local.get) and hands every other row to
its typing rule in `_RULES`, which acts on the walk's state (`_Typer`).

`check_function` is the same walk used as a validator of rewritten functions: any
type mismatch, stack underflow or unbalanced structure raises StackTypeError.
Reference types are compared loosely (any reference matches any reference): the
passes never create or retype references, and the engine check covers the rest.
"""

from loom_post.wasm import opcodes as O


class StackTypeError(Exception):
    pass


_REF_BYTES = frozenset((0x70, 0x6F, 0x6E, 0x6D, 0x6C, 0x6B, 0x6A, 0x69, 0x71, 0x72, 0x73, 0x74))


# Structure, by name from the opcode table: what opens a block, what closes
# one, and what ends an arm (the instructions still typed after dead code).
_OPENS = frozenset(O.BY_NAME[n] for n in ("block", "loop", "if", "try", "try_table"))
_CLOSES = frozenset(O.BY_NAME[n] for n in ("end", "delegate"))
_ARM_ENDS = _CLOSES | frozenset(O.BY_NAME[n] for n in ("else", "catch", "catch_all"))


def _is_ref(t):
    return isinstance(t, tuple) or t in _REF_BYTES


def _same(a, b):
    return a == b or a is None or b is None or (_is_ref(a) and _is_ref(b))


class _Frame:
    __slots__ = ("op", "params", "results", "height", "dead")

    def __init__(self, op, params, results, height):
        self.op, self.params, self.results, self.height = op, params, results, height
        self.dead = False

    @property
    def labels(self):
        return self.params if self.op == "loop" else self.results


def block_signature(module, bt):
    if bt is None:
        return (), ()
    if isinstance(bt, tuple) and bt[0] == "t":
        ft = module.types[bt[1]] if bt[1] < len(module.types) else None
        if ft is None:
            raise StackTypeError(f"block type {bt[1]} is not a function type")
        return ft
    return (), (bt,)


def _heap_ref(ht):
    return (ht & 0x7F) if ht < 0 else (0x63, ht)


class _Typer:
    """The state of one walk, shared by the typing rules below: the operand
    stack, the control stack (its last frame is the current one), the effects
    so far, and the instruction being typed (named in error messages)."""

    __slots__ = ("module", "local_types", "results", "stack", "ctrl", "effects", "info")

    def __init__(self, module, pos, body):
        func_index = module.func_index(pos)
        params, results = module.func_type(func_index)
        self.module = module
        self.local_types = list(params) + body.local_types()
        self.results = results
        self.stack = []
        self.ctrl = [_Frame("func", (), results, 0)]
        self.effects = []
        self.info = None

    def pop(self, expect=None):
        stack, frame = self.stack, self.ctrl[-1]
        if len(stack) <= frame.height:
            raise StackTypeError(f"stack underflow at {self.info.name}")
        t = stack.pop()
        if expect is not None and not _same(t, expect):
            name = self.info.name
            raise StackTypeError(f"{name} expects {expect:#x} but found {t!r}"
                                 if isinstance(expect, int) else f"type mismatch at {name}")
        return t

    def pop_all(self, ts):
        for t in reversed(ts):
            self.pop(t)

    def func_sig(self, ti):
        types = self.module.types
        ft = types[ti] if ti < len(types) else None
        if ft is None:
            raise StackTypeError(f"type {ti} is not a function type")
        return ft

    def tag_params(self, tag):
        if tag >= len(self.module.tags):
            raise StackTypeError(f"tag {tag} out of range")
        return self.func_sig(self.module.tags[tag])[0]

    def end_frame(self):
        """Close the current frame's arm: the values above its base must be
        exactly its results. Returns how many values there were."""
        stack, frame = self.stack, self.ctrl[-1]
        height = len(stack) - frame.height
        if not frame.dead:
            if height != len(frame.results):
                raise StackTypeError(f"block leaves {height} values for {len(frame.results)} results")
            for have, want in zip(stack[frame.height:], frame.results):
                if not _same(have, want):
                    raise StackTypeError("block result type mismatch")
        del stack[frame.height:]
        return height

    def leave(self, effect):
        """Record an unconditional transfer: what follows is dead."""
        self.effects.append(effect)
        self.ctrl[-1].dead = True


# The hot path of the walk stays inline: local.get (alone about a quarter of
# all instructions), the common shapes of rows with a fixed signature and
# local.set/tee, when their operands are exactly the types they want (anything
# else takes the general path, which also words the errors). Every other row is
# typed by its rule in _RULES.
def stack_effects(module, pos, body):
    """The `(pops, pushes)` of every instruction of `body`, the body of code
    entry `pos`; raises StackTypeError where it does not type-check."""
    t = _Typer(module, pos, body)
    # (append is called as a method: Python specializes that call, and Cython
    # inlines it on a typed list)
    stack, ctrl, local_types, effects = t.stack, t.ctrl, t.local_types, t.effects
    n_locals = len(local_types)
    rules, fixed, local_get, got = _RULES, _FIXED, _LOCAL_GET, _GOT
    local_set, local_tee, teed = _LOCAL_SET, _LOCAL_TEE, _TEED
    dead, height, dead_depth = False, 0, 0
    instrs = body.instrs
    last = len(instrs) - 1
    for idx, ins in enumerate(instrs):
        info = ins[0]
        if dead:
            depth = _dead_depth(info, dead_depth)
            if depth is not None:
                dead_depth = depth
                effects.append(None)
                continue
        if info is local_get:
            imm = ins[1]
            if imm >= n_locals:
                raise StackTypeError(f"local {imm} out of range")
            vt = local_types[imm]
            stack.append(vt)
            effects.append(got.get(vt) or (0, (vt,)))
            continue
        row = fixed.get(info)
        if row is not None:
            shape = row[0]
            if shape == _TWO:
                if len(stack) - height > 1 and stack[-1] == row[1] and stack[-2] == row[2]:
                    del stack[-2:]
                    if row[3] is not None:
                        stack.append(row[3])
                    effects.append(row[4])
                    continue
            elif shape == _PUSH:
                stack.append(row[3])
                effects.append(row[4])
                continue
            elif shape == _UNARY and len(stack) > height and stack[-1] == row[1]:
                stack[-1] = row[3]
                effects.append(row[4])
                continue
            _pop_fixed(stack, height, info)
            stack.extend(info.pushes)
            effects.append(info.stack_effect)
        elif (info is local_set or info is local_tee) and ins[1] < n_locals \
                and len(stack) > height and stack[-1] == local_types[ins[1]]:
            if info is local_set:
                del stack[-1]
                effects.append(_SET)
            else:
                effects.append(teed[stack[-1]] if stack[-1] in teed else (1, (stack[-1],)))
        else:
            t.info = info
            if rules[info](t, ins[1]):
                if idx != last:
                    raise StackTypeError("instructions after the function's final end")
                return t.effects
            frame = ctrl[-1]
            dead, height = frame.dead, frame.height
    raise StackTypeError("function body ends without its final end")


def _dead_depth(info, depth):
    """Skipping dead code: the depth of blocks opened in it after `info`, or
    None when `info` ends the dead arm (it is typed)."""
    if depth:
        return depth + 1 if info in _OPENS else depth - 1 if info in _CLOSES else depth
    if info in _OPENS:
        return 1
    return None if info in _ARM_ENDS else 0


def _pop_fixed(stack, height, info):
    """Pop the operands of a row with a fixed signature, checking each."""
    for want in reversed(info.pops):
        if len(stack) <= height:
            raise StackTypeError(f"stack underflow at {info.name}")
        have = stack.pop()
        if have != want and have is not None:
            raise StackTypeError(f"{info.name} expects {O_NAMES.get(want, want)} "
                                 f"but found {O_NAMES.get(have, have)}")


# The rows with a fixed signature, by shape: what the main loop's fast path
# needs of each, (shape, type popped last, type popped before it, type
# pushed or None, recorded effect), derived from the opcode table.
_PUSH, _UNARY, _TWO, _OTHER_SHAPE = range(4)


def _fixed_rows():
    shapes = {(0, 1): _PUSH, (1, 1): _UNARY, (2, 1): _TWO, (2, 0): _TWO}
    rows = {}
    for op in O.ALL:
        if op.pops is None:
            continue
        pops, pushes = op.pops, op.pushes
        rows[op] = (shapes.get((len(pops), len(pushes)), _OTHER_SHAPE),
                    pops[-1] if pops else None, pops[-2] if len(pops) > 1 else None,
                    pushes[0] if pushes else None, op.stack_effect)
    return rows


_FIXED = _fixed_rows()
# local.get's recorded effect per numeric type, made once (a reference type's
# is made per instruction).
_GOT = {vt: (0, (vt,)) for vt in (O.I32_T, O.I64_T, O.F32_T, O.F64_T, O.V128_T)}
_TEED = {vt: (1, (vt,)) for vt in _GOT}
_SET = (1, ())


def check_function(module, pos, body):
    """Raise StackTypeError unless the body type-checks."""
    stack_effects(module, pos, body)


O_NAMES = {O.I32_T: "i32", O.I64_T: "i64", O.F32_T: "f32", O.F64_T: "f64", O.V128_T: "v128"}


# The typing rules of the rows whose signature is None, one function per
# instruction (or per family), grouped by kind. A rule gets the walk's state
# and the immediate, types the instruction, records its effect, and returns
# True only when it closed the function's outermost frame.

# -- locals and globals (local.get is typed inline in the main loop)

def _local_set(t, imm):
    if imm >= len(t.local_types):
        raise StackTypeError(f"local {imm} out of range")
    t.pop(t.local_types[imm])
    t.effects.append((1, ()))


def _local_tee(t, imm):
    if imm >= len(t.local_types):
        raise StackTypeError(f"local {imm} out of range")
    vt = t.local_types[imm]
    t.pop(vt)
    t.stack.append(vt)
    t.effects.append((1, (vt,)))


def _global_get(t, imm):
    globals_ = t.module.globals
    if imm >= len(globals_):
        raise StackTypeError(f"global {imm} out of range")
    vt = globals_[imm][0]
    t.stack.append(vt)
    t.effects.append((0, (vt,)))


def _global_set(t, imm):
    globals_ = t.module.globals
    if imm >= len(globals_):
        raise StackTypeError(f"global {imm} out of range")
    t.pop(globals_[imm][0])
    t.effects.append((1, ()))


# -- calls: each kind pops its operands, then returns or tail-calls

def _direct_operands(t, imm):
    module = t.module
    if imm >= len(module.func_types):
        raise StackTypeError(f"function {imm} out of range")
    p, r = module.func_type(imm)
    t.pop_all(p)
    return len(p), r


def _indirect_operands(t, imm):
    p, r = t.func_sig(imm[0])
    t.pop(O.I32_T)
    t.pop_all(p)
    return len(p) + 1, r


def _ref_operands(t, imm):
    p, r = t.func_sig(imm)
    t.pop()
    t.pop_all(p)
    return len(p) + 1, r


def _calling(operands):
    def call(t, imm):
        _returned(t, *operands(t, imm))
    return call


def _returned(t, n, r):
    t.stack.extend(r)
    t.effects.append((n, tuple(r)))


def _call(t, imm):              # the common call, without the factory's indirection
    n, r = _direct_operands(t, imm)
    _returned(t, n, r)


def _tail_calling(operands):
    def return_call(t, imm):
        t.leave((operands(t, imm)[0], ()))
    return return_call


# -- structure

def _enter(t, op, p, r, pops):
    t.ctrl.append(_Frame(op, p, r, len(t.stack)))
    t.stack.extend(p)
    t.effects.append((pops, tuple(p)))


def _block(t, imm):             # block, loop, try
    p, r = block_signature(t.module, imm)
    t.pop_all(p)
    _enter(t, t.info.name, p, r, len(p))


def _if(t, imm):
    p, r = block_signature(t.module, imm)
    t.pop(O.I32_T)
    t.pop_all(p)
    _enter(t, "if", p, r, len(p) + 1)


def _try_table(t, imm):
    p, r = block_signature(t.module, imm[0])
    for _kind, _tag, label in imm[1]:
        if label >= len(t.ctrl):  # catch labels are outside the try_table's block
            raise StackTypeError(f"catch label {label} out of range")
    t.pop_all(p)
    _enter(t, "block", p, r, len(p))


def _end(t, imm):               # end, delegate
    taken = t.end_frame()
    ctrl = t.ctrl
    done = ctrl.pop()
    if not ctrl:
        t.effects.append((taken, ()))
        return True
    t.stack.extend(done.results)
    t.effects.append((taken, tuple(done.results)))


def _reopen(t, op, taken, params):
    """Start the next arm of the current frame with `params` on the stack."""
    frame = t.ctrl[-1]
    frame.op = op
    frame.dead = False
    t.stack.extend(params)
    t.effects.append((taken, tuple(params)))


def _else(t, imm):
    if t.ctrl[-1].op != "if":
        raise StackTypeError("else without if")
    _reopen(t, "else", t.end_frame(), t.ctrl[-1].params)


def _catch(t, imm):             # catch, catch_all
    name = t.info.name
    if t.ctrl[-1].op not in ("try", "catch"):
        raise StackTypeError(f"{name} outside try")
    taken = t.end_frame()
    _reopen(t, "catch", taken, t.tag_params(imm) if name == "catch" else ())


# -- branches and other transfers

def _labels(t, depth):
    if depth >= len(t.ctrl):
        raise StackTypeError(f"branch depth {depth} out of range")
    return t.ctrl[-1 - depth].labels


def _br(t, imm):
    labels = _labels(t, imm)
    t.pop_all(labels)
    t.leave((len(labels), ()))


def _br_if(t, imm):
    labels = _labels(t, imm)
    t.pop(O.I32_T)
    t.pop_all(labels)
    t.stack.extend(labels)
    t.effects.append((len(labels) + 1, tuple(labels)))


def _br_on_null(t, imm):
    labels = _labels(t, imm)
    ref = t.pop()
    t.pop_all(labels)
    t.stack.extend(labels)
    t.stack.append(ref)
    t.effects.append((len(labels) + 1, tuple(labels) + (ref,)))


def _br_on_non_null(t, imm):
    labels = _labels(t, imm)
    t.pop()
    t.pop_all(labels[:-1])
    t.stack.extend(labels[:-1])
    t.effects.append((len(labels), tuple(labels[:-1])))


def _br_table(t, imm):
    targets, default = imm
    for depth in targets + (default,):
        if depth >= len(t.ctrl):
            raise StackTypeError(f"branch depth {depth} out of range")
    labels = t.ctrl[-1 - default].labels
    t.pop(O.I32_T)
    t.pop_all(labels)
    t.leave((len(labels) + 1, ()))


def _return(t, imm):
    t.pop_all(t.results)
    t.leave((len(t.results), ()))


def _unreachable(t, imm):       # unreachable, rethrow
    t.leave((0, ()))


def _throw(t, imm):
    p = t.tag_params(imm)
    t.pop_all(p)
    t.leave((len(p), ()))


def _throw_ref(t, imm):
    t.pop()
    t.leave((1, ()))


# -- parametric

def _drop(t, imm):
    t.pop()
    t.effects.append((1, ()))


def _select(t, imm):            # select, select_t
    t.pop(O.I32_T)
    a = t.pop(imm[0] if imm else None)
    b = t.pop(imm[0] if imm else a)
    # A typed select yields its written type, which may be wider than
    # either operand's (a funcref select over a (ref null $t)).
    vt = imm[0] if imm else (a if a is not None else b)
    if not imm and _is_ref(vt):
        raise StackTypeError("untyped select on references")
    t.stack.append(vt)
    t.effects.append((3, (vt,)))


# -- references

def _ref_null(t, imm):
    vt = _heap_ref(imm)
    t.stack.append(vt)
    t.effects.append((0, (vt,)))


def _ref_is_null(t, imm):
    t.pop()
    t.stack.append(O.I32_T)
    t.effects.append((1, (O.I32_T,)))


def _ref_func(t, imm):
    t.stack.append(O.FUNCREF_T)
    t.effects.append((0, (O.FUNCREF_T,)))


def _ref_as_non_null(t, imm):
    vt = t.pop()
    t.stack.append(vt)
    t.effects.append((1, (vt,)))


# -- tables (the other table and memory instructions have fixed signatures)

def _table_get(t, imm):
    tables = t.module.tables
    t.pop(O.I32_T)
    vt = tables[imm] if imm < len(tables) else O.FUNCREF_T
    t.stack.append(vt)
    t.effects.append((1, (vt,)))


def _table_set(t, imm):
    t.pop()
    t.pop(O.I32_T)
    t.effects.append((2, ()))


def _table_grow(t, imm):
    t.pop(O.I32_T)
    t.pop()
    t.stack.append(O.I32_T)
    t.effects.append((2, (O.I32_T,)))


def _table_fill(t, imm):
    t.pop(O.I32_T)
    t.pop()
    t.pop(O.I32_T)
    t.effects.append((3, ()))


_RULES_BY_NAME = {
    "local.set": _local_set, "local.tee": _local_tee,
    "global.get": _global_get, "global.set": _global_set,
    "call": _call, "return_call": _tail_calling(_direct_operands),
    "call_indirect": _calling(_indirect_operands),
    "return_call_indirect": _tail_calling(_indirect_operands),
    "call_ref": _calling(_ref_operands), "return_call_ref": _tail_calling(_ref_operands),
    "block": _block, "loop": _block, "try": _block, "if": _if, "try_table": _try_table,
    "end": _end, "delegate": _end, "else": _else, "catch": _catch, "catch_all": _catch,
    "br": _br, "br_if": _br_if, "br_on_null": _br_on_null, "br_on_non_null": _br_on_non_null,
    "br_table": _br_table, "return": _return, "unreachable": _unreachable,
    "rethrow": _unreachable, "throw": _throw, "throw_ref": _throw_ref,
    "drop": _drop, "select": _select, "select_t": _select,
    "ref.null": _ref_null, "ref.is_null": _ref_is_null, "ref.func": _ref_func,
    "ref.as_non_null": _ref_as_non_null,
    "table.get": _table_get, "table.set": _table_set, "table.grow": _table_grow,
    "table.fill": _table_fill,
}
# Keyed by the table's rows, so the main loop looks a rule up without reading
# the name. Every row without a fixed signature needs a rule (or local.get).
_LOCAL_GET = O.BY_NAME["local.get"]
_LOCAL_SET = O.BY_NAME["local.set"]
_LOCAL_TEE = O.BY_NAME["local.tee"]
_RULES = {O.BY_NAME[name]: rule for name, rule in _RULES_BY_NAME.items()}
_untyped = [op.name for op in O.ALL if op.pops is None and op not in _RULES and op is not _LOCAL_GET]
if _untyped:
    raise AssertionError(f"no stack typing rule for {', '.join(_untyped)}")
del _untyped
