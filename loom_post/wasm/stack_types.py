"""Stack typing of one function body, as the spec's validation algorithm does it.

`stack_effects(module, pos, body)` walks the instructions with a typed operand
stack and a control stack and returns, for every instruction, `(pops, pushes)`:
how many values it takes and the types it leaves. Structure instructions (`else`,
`end`, `catch`) report as pops everything above their frame's base, so a caller
replaying the effects keeps an operand stack of exactly the right height. Code
after an unconditional branch is unreachable: its instructions get `None` and are
not typed (nothing in loom-post rewrites unreachable code).

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


def stack_effects(module, pos, body):
    func_index = module.func_index(pos)
    params, results = module.func_type(func_index)
    local_types = list(params) + body.local_types()
    globals_ = module.globals
    types = module.types
    stack = []
    push = stack.append
    ctrl = [_Frame("func", (), results, 0)]
    frame = ctrl[0]
    effects = []
    record = effects.append
    I32 = O.I32_T
    dead_depth = 0
    n = len(body.instrs)

    def pop(expect=None):
        if len(stack) <= frame.height:
            raise StackTypeError(f"stack underflow at {info.name}")
        t = stack.pop()
        if expect is not None and not _same(t, expect):
            raise StackTypeError(f"{info.name} expects {expect:#x} but found {t!r}"
                                 if isinstance(expect, int) else f"type mismatch at {info.name}")
        return t

    def pop_all(ts):
        for t in reversed(ts):
            pop(t)

    def func_sig(ti):
        ft = types[ti] if ti < len(types) else None
        if ft is None:
            raise StackTypeError(f"type {ti} is not a function type")
        return ft

    def end_frame():
        # Values above the frame's base must be exactly its results.
        height = len(stack) - frame.height
        if not frame.dead:
            if height != len(frame.results):
                raise StackTypeError(f"block leaves {height} values for {len(frame.results)} results")
            for have, want in zip(stack[frame.height:], frame.results):
                if not _same(have, want):
                    raise StackTypeError("block result type mismatch")
        del stack[frame.height:]
        return height

    for idx in range(n):
        info, imm = body.instrs[idx][0], body.instrs[idx][1]
        if frame.dead:
            if dead_depth:
                if info in _OPENS:
                    dead_depth += 1
                elif info in _CLOSES:
                    dead_depth -= 1
                record(None)
                continue
            if info in _OPENS:
                dead_depth = 1
                record(None)
                continue
            if info not in _ARM_ENDS:
                record(None)
                continue
        pops = info.pops
        if pops is not None:
            for t in reversed(pops):
                if len(stack) <= frame.height:
                    raise StackTypeError(f"stack underflow at {info.name}")
                have = stack.pop()
                if have != t and have is not None:
                    raise StackTypeError(f"{info.name} expects {O_NAMES.get(t, t)} "
                                         f"but found {O_NAMES.get(have, have)}")
            stack.extend(info.pushes)
            record(info.stack_effect)
            continue
        name = info.name
        if name == "local.get":
            if imm >= len(local_types):
                raise StackTypeError(f"local {imm} out of range")
            t = local_types[imm]
            push(t)
            record((0, (t,)))
        elif name == "local.set":
            if imm >= len(local_types):
                raise StackTypeError(f"local {imm} out of range")
            pop(local_types[imm])
            record((1, ()))
        elif name == "local.tee":
            if imm >= len(local_types):
                raise StackTypeError(f"local {imm} out of range")
            t = local_types[imm]
            pop(t)
            push(t)
            record((1, (t,)))
        elif name == "global.get":
            if imm >= len(globals_):
                raise StackTypeError(f"global {imm} out of range")
            t = globals_[imm][0]
            push(t)
            record((0, (t,)))
        elif name == "global.set":
            if imm >= len(globals_):
                raise StackTypeError(f"global {imm} out of range")
            pop(globals_[imm][0])
            record((1, ()))
        elif name in ("call", "return_call"):
            if imm >= len(module.func_types):
                raise StackTypeError(f"function {imm} out of range")
            p, r = module.func_type(imm)
            pop_all(p)
            if name == "call":
                stack.extend(r)
                record((len(p), tuple(r)))
            else:
                record((len(p), ()))
                frame.dead = True
        elif name in ("call_indirect", "return_call_indirect"):
            p, r = func_sig(imm[0])
            pop(I32)
            pop_all(p)
            if name == "call_indirect":
                stack.extend(r)
                record((len(p) + 1, tuple(r)))
            else:
                record((len(p) + 1, ()))
                frame.dead = True
        elif name in ("call_ref", "return_call_ref"):
            p, r = func_sig(imm)
            pop()
            pop_all(p)
            if name == "call_ref":
                stack.extend(r)
                record((len(p) + 1, tuple(r)))
            else:
                record((len(p) + 1, ()))
                frame.dead = True
        elif name in ("block", "loop", "if", "try"):
            p, r = block_signature(module, imm)
            extra = 0
            if name == "if":
                pop(I32)
                extra = 1
            pop_all(p)
            frame = _Frame(name, p, r, len(stack))
            ctrl.append(frame)
            stack.extend(p)
            record((len(p) + extra, tuple(p)))
        elif name == "try_table":
            p, r = block_signature(module, imm[0])
            for _kind, _tag, label in imm[1]:
                if label >= len(ctrl):  # catch labels are outside the try_table's block
                    raise StackTypeError(f"catch label {label} out of range")
            pop_all(p)
            frame = _Frame("block", p, r, len(stack))
            ctrl.append(frame)
            stack.extend(p)
            record((len(p), tuple(p)))
        elif name in ("end", "delegate"):
            taken = end_frame()
            done = ctrl.pop()
            if not ctrl:
                record((taken, ()))
                if idx != n - 1:
                    raise StackTypeError("instructions after the function's final end")
                return effects
            frame = ctrl[-1]
            stack.extend(done.results)
            record((taken, tuple(done.results)))
        elif name == "else":
            if frame.op != "if":
                raise StackTypeError("else without if")
            taken = end_frame()
            frame.op = "else"
            frame.dead = False
            stack.extend(frame.params)
            record((taken, tuple(frame.params)))
        elif name in ("catch", "catch_all"):
            if frame.op not in ("try", "catch"):
                raise StackTypeError(f"{name} outside try")
            taken = end_frame()
            frame.op = "catch"
            frame.dead = False
            tag_params = ()
            if name == "catch":
                if imm >= len(module.tags):
                    raise StackTypeError(f"tag {imm} out of range")
                tag_params = func_sig(module.tags[imm])[0]
            stack.extend(tag_params)
            record((taken, tuple(tag_params)))
        elif name in ("br", "br_if", "br_on_null", "br_on_non_null"):
            if imm >= len(ctrl):
                raise StackTypeError(f"branch depth {imm} out of range")
            labels = ctrl[-1 - imm].labels
            if name == "br":
                pop_all(labels)
                record((len(labels), ()))
                frame.dead = True
            elif name == "br_if":
                pop(I32)
                pop_all(labels)
                stack.extend(labels)
                record((len(labels) + 1, tuple(labels)))
            elif name == "br_on_null":
                t = pop()
                pop_all(labels)
                stack.extend(labels)
                push(t)
                record((len(labels) + 1, tuple(labels) + (t,)))
            else:
                pop()
                pop_all(labels[:-1])
                stack.extend(labels[:-1])
                record((len(labels), tuple(labels[:-1])))
        elif name == "br_table":
            targets, default = imm
            for depth in targets + (default,):
                if depth >= len(ctrl):
                    raise StackTypeError(f"branch depth {depth} out of range")
            labels = ctrl[-1 - default].labels
            pop(I32)
            pop_all(labels)
            record((len(labels) + 1, ()))
            frame.dead = True
        elif name == "return":
            pop_all(results)
            record((len(results), ()))
            frame.dead = True
        elif name == "unreachable":
            record((0, ()))
            frame.dead = True
        elif name == "throw":
            if imm >= len(module.tags):
                raise StackTypeError(f"tag {imm} out of range")
            p = func_sig(module.tags[imm])[0]
            pop_all(p)
            record((len(p), ()))
            frame.dead = True
        elif name == "rethrow":
            record((0, ()))
            frame.dead = True
        elif name == "throw_ref":
            pop()
            record((1, ()))
            frame.dead = True
        elif name == "drop":
            pop()
            record((1, ()))
        elif name in ("select", "select_t"):
            pop(I32)
            a = pop(imm[0] if imm else None)
            b = pop(imm[0] if imm else a)
            # A typed select yields its written type, which may be wider than
            # either operand's (a funcref select over a (ref null $t)).
            t = imm[0] if imm else (a if a is not None else b)
            if not imm and _is_ref(t):
                raise StackTypeError("untyped select on references")
            push(t)
            record((3, (t,)))
        elif name == "ref.null":
            t = _heap_ref(imm)
            push(t)
            record((0, (t,)))
        elif name == "ref.is_null":
            pop()
            push(I32)
            record((1, (I32,)))
        elif name == "ref.func":
            push(O.FUNCREF_T)
            record((0, (O.FUNCREF_T,)))
        elif name == "ref.as_non_null":
            t = pop()
            push(t)
            record((1, (t,)))
        elif name == "table.get":
            pop(I32)
            t = module.tables[imm] if imm < len(module.tables) else O.FUNCREF_T
            push(t)
            record((1, (t,)))
        elif name == "table.set":
            pop()
            pop(I32)
            record((2, ()))
        elif name == "table.grow":
            pop(I32)
            pop()
            push(I32)
            record((2, (I32,)))
        elif name == "table.fill":
            pop(I32)
            pop()
            pop(I32)
            record((3, ()))
        else:  # pragma: no cover - a row with sig None that is not typed above
            raise StackTypeError(f"no typing rule for {name}")
    raise StackTypeError("function body ends without its final end")


def check_function(module, pos, body):
    """Raise StackTypeError unless the body type-checks."""
    stack_effects(module, pos, body)


O_NAMES = {O.I32_T: "i32", O.I64_T: "i64", O.F32_T: "f32", O.F64_T: "f64", O.V128_T: "v128"}
