# Static types for the compiled build of stack_types.py (Cython, pure-Python
# mode): Cython reads this file when it compiles stack_types.py; plain Python
# never does. The walk's counters become C integers and its frames C structs.
cimport cython

cdef Py_ssize_t _PUSH, _UNARY, _TWO, _OTHER_SHAPE

cdef class _Frame:
    cdef public object op, params, results
    cdef public Py_ssize_t height
    cdef public bint dead

cdef class _Typer:
    cdef public object module, results, info
    cdef public list local_types, stack, ctrl, effects

@cython.locals(t=_Typer, stack=list, ctrl=list, local_types=list, n_locals=Py_ssize_t,
               rules=dict, fixed=dict, got=dict, teed=dict, dead=bint, height=Py_ssize_t,
               dead_depth=Py_ssize_t, last=Py_ssize_t, idx=Py_ssize_t, ins=tuple,
               row=tuple, shape=Py_ssize_t, frame=_Frame)
cpdef list stack_effects(module, pos, body)

@cython.locals(want=object, have=object)
cdef _pop_fixed(list stack, Py_ssize_t height, info)
