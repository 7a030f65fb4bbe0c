# Static types for the compiled build of stack_types.py (Cython, pure-Python
# mode): Cython reads this file when it compiles stack_types.py; plain Python
# never does. The walk's counters become C integers and its frames C structs;
# the state's methods and the common typing rules take a typed state, so they
# call each other in C.
cimport cython

cdef Py_ssize_t _PUSH, _UNARY, _TWO, _OTHER_SHAPE

cdef class _Frame:
    cdef public object op, params, results
    cdef public Py_ssize_t height
    cdef public bint dead

cdef class _Typer:
    cdef public object module, results, info
    cdef public list local_types, stack, ctrl, effects

    @cython.locals(stack=list, frame=_Frame)
    cpdef pop(self, expect=*)
    cpdef pop_all(self, ts)
    @cython.locals(stack=list, frame=_Frame, height=Py_ssize_t)
    cpdef Py_ssize_t end_frame(self) except -1
    cpdef leave(self, effect)

@cython.locals(t=_Typer, stack=list, ctrl=list, local_types=list, n_locals=Py_ssize_t,
               rules=dict, fixed=dict, got=dict, teed=dict, dead=bint, height=Py_ssize_t,
               dead_depth=Py_ssize_t, last=Py_ssize_t, idx=Py_ssize_t, ins=tuple,
               row=tuple, shape=Py_ssize_t, frame=_Frame, instrs=list, effects=list)
cpdef list stack_effects(module, pos, body)

@cython.locals(want=object, have=object)
cdef _pop_fixed(list stack, Py_ssize_t height, info)

# The rules the corpus runs most (calls, structure, branches, locals, globals).
cpdef _local_set(_Typer t, imm)
cpdef _local_tee(_Typer t, imm)
cpdef _global_get(_Typer t, imm)
cpdef _global_set(_Typer t, imm)
cpdef tuple _direct_operands(_Typer t, imm)
cpdef _returned(_Typer t, n, r)
cpdef _call(_Typer t, imm)
cpdef _enter(_Typer t, op, p, r, pops)
cpdef _block(_Typer t, imm)
cpdef _if(_Typer t, imm)
@cython.locals(ctrl=list, done=_Frame, taken=Py_ssize_t)
cpdef _end(_Typer t, imm)
cpdef _labels(_Typer t, depth)
cpdef _br(_Typer t, imm)
cpdef _br_if(_Typer t, imm)
cpdef _br_table(_Typer t, imm)
cpdef _return(_Typer t, imm)
cpdef _unreachable(_Typer t, imm)
cpdef _drop(_Typer t, imm)
cpdef _select(_Typer t, imm)
