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
from loom_post.passes.base import FunctionPass
from loom_post.wasm import opcodes as O

_ZERO_CONSTS = frozenset(("i32.const", "i64.const"))


class ZeroSetsPass(FunctionPass):
    name = "redundant-zero-sets"
    summary = "remove `local.set $x (i32/i64.const 0)` where $x still holds its zero default"
    counters = ("sets_removed",)

    def run_function(self, context, func, stats):
        removed = _redundant(func.instrs, len(func.params))
        if not removed:
            return False
        func.update(func.locals, [ins for i, ins in enumerate(func.instrs) if i not in removed])
        stats.count("sets_removed", len(removed) // 2)
        return True


PASS = ZeroSetsPass()


def _redundant(instrs, num_params):
    """Positions of the (constant, set) pairs to remove."""
    removed, written = set(), set()
    opened, in_loops = [], 0   # per open structure: is it a loop; how many are
    control, local_set, openers = O.CONTROL, O.LOCAL_SET, E.OPENERS
    for i, ins in enumerate(instrs):
        op = ins[0]
        if op.effect is control:
            if op.name in openers:
                opened.append(op.name == "loop")
                in_loops += opened[-1]
            elif op.name in ("end", "delegate") and opened:
                in_loops -= opened.pop()
        elif op.effect is local_set:
            x = ins[1]
            if (op.name == "local.set" and x >= num_params and x not in written
                    and not in_loops and i > 0 and instrs[i - 1][0].name in _ZERO_CONSTS
                    and instrs[i - 1][1] == 0 and i - 1 not in removed):
                removed.update((i - 1, i))
            else:
                written.add(x)
    return removed
