"""Redundant zero sets: `local.set $x (T.const 0)` where $x still holds its zero.

What it does
    Removes the pair `i32.const 0` / `i64.const 0` immediately followed by
    `local.set $x` when $x is a declared local (not a parameter), no
    `local.set`/`local.tee` of $x comes before it in the body, and the pair is
    not inside a loop. LLVM emits such sets to initialise a counter or an
    accumulator before the control flow that uses it; binaryen's
    redundant-set-elimination (`--rse`) removes them too, with a full
    value-numbering analysis this pass does not need.

Why it is safe
    A declared local starts as zero (the spec's default value of i32/i64).
    Structured control flow only jumps forwards, except a branch to a loop,
    which goes back to the loop's start: so outside every loop, each path from
    the function's entry to an instruction runs only instructions that come
    before it in the body. If none of them writes $x, $x is zero on every path
    and setting it to zero changes nothing. The constant has no effect but its
    value, and the set consumes exactly that value, so the pair goes together
    and the operand stack is as before (also in unreachable code, where it is
    polymorphic). A removed set does not count as a write: a later zero set of
    the same local is redundant too.

What it costs
    One linear walk per function, no typing. A removal saves the constant
    (2 bytes) and the set (1 + the LEB128 size of the index); the pipeline keeps
    the body only when its entry is strictly smaller, so nothing grows.
"""

from loom_post.passes import effects as E
from loom_post.passes import facts
from loom_post.passes.base import FunctionPass
from loom_post.wasm import opcodes as O

# What the walk does with each row of the opcode table, derived once, so it
# branches on one small int per instruction instead of reading the row's fields.
# The two kinds that need nothing but to be remembered come first.
_OTHER, _ZERO_CONST, _OPEN, _LOOP, _CLOSE, _SET, _TEE = range(7)


def _kinds():
    by_name = {"local.set": _SET, "local.tee": _TEE, "loop": _LOOP, "end": _CLOSE,
               "delegate": _CLOSE, "i32.const": _ZERO_CONST, "i64.const": _ZERO_CONST}
    by_name.update((name, _OPEN) for name in E.OPENERS if name != "loop")
    return {op: by_name.get(op.name, _OTHER) for op in O.ALL}


_KINDS = _kinds()


class ZeroSetsPass(FunctionPass):
    name, default, counters, summary = facts(__name__)

    def run_function(self, context, func, stats):
        removed = _redundant(func.instrs, len(func.params))
        if not removed:
            return False
        func.update(func.locals, [ins for i, ins in enumerate(func.instrs) if i not in removed])
        stats.count("sets_removed", len(removed) // 2)
        return True


PASS = ZeroSetsPass()


def _redundant(instrs, num_params):
    """Positions of the (constant, set) pairs to remove. (A Python-level name
    the pass looks up at each call, so a test can put another analysis in its
    place also in the compiled build, where `_walk` is a C function.)"""
    return _walk(instrs, num_params)


def _walk(instrs, num_params):
    removed, written = set(), set()
    opened, in_loops = [], 0   # per open structure: is it a loop; how many are
    kinds, prev = _KINDS, _OTHER  # prev: the kind of the instruction before
    for i, ins in enumerate(instrs):
        kind = kinds[ins[0]]
        if kind <= _ZERO_CONST:
            prev = kind
            continue
        if kind == _SET or kind == _TEE:
            x = ins[1]
            if (kind == _SET and prev == _ZERO_CONST and x >= num_params and x not in written
                    and not in_loops and instrs[i - 1][1] == 0 and i - 1 not in removed):
                removed.update((i - 1, i))
            else:
                written.add(x)
        elif kind == _OPEN or kind == _LOOP:
            opened.append(kind == _LOOP)
            in_loops += kind == _LOOP
        elif kind == _CLOSE and opened:
            in_loops -= opened.pop()
        prev = kind
    return removed
