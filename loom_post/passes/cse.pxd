# Static types for the compiled build of cse.py (Cython, pure-Python mode):
# Cython reads this file when it compiles cse.py; plain Python never does.
# The scan's state becomes C fields and its walk's counters C integers.
cimport cython

cdef Py_ssize_t _MIN_COST
cdef Py_ssize_t _PURE, _LOAD, _LGET, _GGET, _LSET, _GSET, _MEMW, _CALL, _TAIL_CALL, _OTHER
cdef Py_ssize_t _CTRL, _BLOCK, _IF, _TRY, _LOOP, _TRY_TABLE, _ARM, _END, _BR, _BR_IF
cdef Py_ssize_t _BR_TABLE, _STOPS, _NOP, _FUNC

cdef class _Scope:
    cdef public Py_ssize_t kind
    cdef public Py_ssize_t start
    cdef public object cut

cdef class _Writes:
    cdef public dict local, glob, loop_end
    cdef public list memory, calls

    @cython.locals(i=Py_ssize_t, kind=Py_ssize_t, start=Py_ssize_t, ins=tuple, kinds=dict,
                   opened=list)
    cdef note(self, instrs)

cdef class _Scan:
    cdef object mutable, shared, writes
    cdef list instrs, effects
    cdef dict intern, leaves, avail, laters, local_writes, global_writes
    cdef list shadow, added, scopes, loops
    cdef Py_ssize_t open_loops, last_memory, last_call
    cdef bint reachable

    @cython.locals(i=Py_ssize_t, kind=Py_ssize_t, npops=Py_ssize_t, eff=tuple, ins=tuple,
                   expr=tuple, a=tuple, b=tuple, leaf=tuple, shadow=list, kinds=dict,
                   instrs=list, effects=list,
                   leaves=dict, intern=dict, local_writes=dict)
    cpdef list run(self)
    @cython.locals(npops=Py_ssize_t, shadow=list)
    cdef bint step(self, Py_ssize_t i, object imm, tuple eff, Py_ssize_t kind) except -1
    @cython.locals(first=tuple, seen=tuple)
    cdef record(self, tuple expr, object vtype, Py_ssize_t i)
    @cython.locals(key=Py_ssize_t, leaf=tuple)
    cdef tuple new_leaf(self, Py_ssize_t kind, object op, object imm)
    @cython.locals(shadow=list, operands=list, o=tuple, locs=list, globs=list, load=bint,
                   cost=Py_ssize_t)
    cdef tuple expression(self, Py_ssize_t i, object op, object imm, Py_ssize_t npops,
                          bint is_load)
    cpdef list groups(self)
    @cython.locals(pos=Py_ssize_t)
    cdef bint valid(self, tuple first, Py_ssize_t i) except -1
    @cython.locals(loops=list)
    cdef bint killed_by_loop(self, tuple first, Py_ssize_t pos) except -1
    @cython.locals(added=list, avail=dict, start=Py_ssize_t, expr=tuple)
    cdef leave(self, _Scope scope, object cut)
    @cython.locals(target=_Scope)
    cdef branch_to(self, Py_ssize_t depth, Py_ssize_t i)
    cdef enter_loop(self, Py_ssize_t i)
    @cython.locals(scope=_Scope)
    cdef bint close(self) except -1
    cdef bint control(self, Py_ssize_t i, Py_ssize_t kind, object imm) except -1
