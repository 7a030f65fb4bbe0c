"""Stack typing (wasm/stack_types.py): the effects it records and the errors it
raises, on bodies written here instruction by instruction.

The main loop types the common rows on a fast path (operands exactly the types
wanted) and everything else through the general checks; these cases pin both:
each shape's recorded effect and the type it leaves for the next instruction,
the frame's base (an operand below it cannot be taken), and a wrong type or a
missing operand raising StackTypeError with its message.
"""

import pytest
import wasmtime

from loom_post.wasm import opcodes as O
from loom_post.wasm.instructions import Body
from loom_post.wasm.module import read_module
from loom_post.wasm.stack_types import StackTypeError, stack_effects

I32, I64, F32, F64 = O.I32_T, O.I64_T, O.F32_T, O.F64_T

# One function (param i32 i64) (result i32) with a local f32 and a local i64;
# its body is replaced by each case's instructions.
MODULE = read_module(wasmtime.wat2wasm(
    '(module (memory 1) (func (param i32 i64) (result i32) (local f32 i64) unreachable))'))
LOCALS = [(1, F32), (1, I64)]


def ins(name, imm=None):
    return (O.BY_NAME[name], imm, -1, -1)


def effects(*instrs):
    return stack_effects(MODULE, 0, Body(LOCALS, list(instrs) + [ins("end")], -1, -1, -1))


MEMARG = (2, 0, 0)


def test_each_fast_shape_records_its_effect_and_leaves_its_result_type():
    got = effects(
        ins("local.get", 1),                         # i64
        ins("i64.const", 3),                         # push
        ins("i64.lt_s"),                             # binary, i64 i64 -> i32
        ins("f32.convert_i32_s"),                    # unary, i32 -> f32
        ins("local.tee", 2),                         # f32 into the f32 local
        ins("local.set", 2),
        ins("i32.const", 8),
        ins("local.get", 1),
        ins("i64.store", MEMARG),                    # store, i32 i64 ->
        ins("local.get", 0),
        ins("i32.load", MEMARG),                     # unary, i32 -> i32
        ins("i32.eqz"),                              # needs the i32 left by the load
    )
    assert got == [(0, (I64,)), (0, (I64,)), (2, (I32,)), (1, (F32,)), (1, (F32,)), (1, ()),
                   (0, (I32,)), (0, (I64,)), (2, ()), (0, (I32,)), (1, (I32,)), (1, (I32,)),
                   (1, ())]


def test_a_binary_result_of_another_type_is_what_the_next_instruction_sees():
    # i64.lt_s leaves an i32: an i64 operation on it is a type error
    with pytest.raises(StackTypeError, match="i64.eqz expects i64 but found i32"):
        effects(ins("local.get", 1), ins("local.get", 1), ins("i64.lt_s"), ins("i64.eqz"))


@pytest.mark.parametrize("body, message", [
    ([ins("local.get", 1), ins("i32.eqz")], "i32.eqz expects i32 but found i64"),
    ([ins("local.get", 0), ins("local.get", 1), ins("i32.add")],
     "i32.add expects i32 but found i64"),
    ([ins("local.get", 1), ins("local.get", 0), ins("i32.add")],
     "i32.add expects i32 but found i64"),
    ([ins("local.get", 1), ins("local.get", 0), ins("i32.store", MEMARG)],
     "i32.store expects i32 but found i64"),
    ([ins("i32.add")], "stack underflow at i32.add"),
    ([ins("local.get", 1), ins("local.set", 0)], "local.set expects 0x7f but found 126"),
    ([ins("local.get", 0), ins("local.tee", 3)], "local.tee expects 0x7e but found 127"),
    ([ins("local.get", 0), ins("local.set", 9)], "local 9 out of range"),
])
def test_wrong_operands_raise_with_their_message(body, message):
    with pytest.raises(StackTypeError, match=message):
        effects(*body)


@pytest.mark.parametrize("name, imm, below", [("i32.eqz", None, 0), ("i32.add", None, 0),
                                              ("i64.store", MEMARG, 1), ("local.set", 0, 0)])
def test_an_operand_below_the_block_is_out_of_reach(name, imm, below):
    # the operands it wants are on the stack, but outside the block
    body = [ins("local.get", 0), ins("local.get", below), ins("block", None), ins(name, imm)]
    with pytest.raises(StackTypeError, match="stack underflow at " + name):
        effects(*body)


def test_dead_code_is_not_typed_and_the_arm_end_is():
    got = effects(ins("block", None), ins("br", 0), ins("i64.add"), ins("block", None),
                  ins("i32.add"), ins("end"), ins("end"), ins("i32.const", 1))
    assert got == [(0, ()), (0, ()), None, None, None, None, (0, ()), (0, (I32,)), (1, ())]
