"""What each instruction may read, write and trap on: the one effect analysis
every pass uses.

The opcode table (wasm/opcodes.py) gives each operator an effect class; this
module turns a class (and, for traps, the operator) into what a pass needs to
know: which locals, globals, memory and tables it reads or writes, whether it
calls out, branches, or may trap. Passes use the class sets below in their hot
loops and `of(op)` where speed does not matter.
"""

from loom_post.wasm import opcodes as O

# Classes whose result depends only on operands, locals, globals or memory:
# a value that may be reused while nothing it reads has changed.
REUSABLE = frozenset((O.PURE, O.LOAD, O.LOCAL_GET, O.GLOBAL_GET))
# Classes that may write linear memory (and so change what a load reads).
# CALL writes memory too, and globals and tables: checked on its own.
WRITES_MEMORY = frozenset((O.STORE, O.MEMORY, O.ATOMIC))
# Operators after which the code that follows is unreachable.
ENDS_PATH = frozenset(("br", "br_table", "return", "unreachable", "throw", "rethrow",
                       "throw_ref", "return_call", "return_call_indirect", "return_call_ref"))
# Operators that open a structured block (closed by `end`, or `delegate` for try).
OPENERS = frozenset(("block", "loop", "if", "try", "try_table"))

_TRAPPING_PURE = (".div_", ".rem_", ".trunc_f")  # integer division, float->int casts


class Effect:
    """What one operator may observe or change. Index-specific facts (which
    local, which global) come from the instruction's immediate."""

    __slots__ = ("reads_local", "writes_local", "reads_global", "writes_global",
                 "reads_memory", "writes_memory", "reads_table", "writes_table",
                 "calls", "branches", "may_trap", "reusable")

    def __init__(self, **flags):
        for name in self.__slots__:
            setattr(self, name, flags.get(name, False))

    def __repr__(self):
        return "Effect(" + ", ".join(n for n in self.__slots__ if getattr(self, n)) + ")"


def _table_op(name):
    return name.startswith(("table.", "elem.")) or name in ("call_indirect",
                                                            "return_call_indirect")


def of(op):
    """The Effect of operator `op` (an opcodes.OpInfo)."""
    cls, name = op.effect, op.name
    table = _table_op(name)
    if cls is O.PURE:
        traps = any(t in name for t in _TRAPPING_PURE) and "_sat" not in name
        return Effect(may_trap=traps, reusable=True)
    if cls is O.LOAD:
        return Effect(reads_memory=True, may_trap=True, reusable=True)
    if cls is O.LOCAL_GET:
        return Effect(reads_local=True, reusable=True)
    if cls is O.GLOBAL_GET:
        return Effect(reads_global=True, reusable=True)
    if cls is O.LOCAL_SET:
        return Effect(writes_local=True)
    if cls is O.GLOBAL_SET:
        return Effect(writes_global=True)
    if cls is O.STORE:
        return Effect(writes_memory=True, may_trap=True)
    if cls is O.MEMORY or cls is O.ATOMIC:
        return Effect(reads_memory=True, writes_memory=True, may_trap=True)
    if cls is O.CALL:
        return Effect(reads_memory=True, writes_memory=True, reads_global=True,
                      writes_global=True, reads_table=True, writes_table=True,
                      calls=True, may_trap=True, branches=name.startswith("return_"))
    if cls is O.CONTROL:
        return Effect(branches=name not in ("block", "loop", "end", "else", "try", "if"),
                      may_trap=name == "unreachable")
    # OTHER: reads state that no class above tracks (memory.size, table.*, refs),
    # so never reusable; table writers and growers write tables.
    writes = name in ("table.set", "table.grow", "table.fill", "table.copy", "table.init",
                      "elem.drop")
    return Effect(reads_table=table, writes_table=writes,
                  reads_memory=name == "memory.size",
                  may_trap=table or name == "ref.as_non_null")
