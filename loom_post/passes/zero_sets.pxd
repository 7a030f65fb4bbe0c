# Static types for the compiled build of zero_sets.py (Cython, pure-Python
# mode): Cython reads this file when it compiles zero_sets.py; plain Python
# never does. The walk's position, kinds and loop count become C integers.
cimport cython

cdef Py_ssize_t _OTHER, _OPEN, _LOOP, _CLOSE, _SET, _TEE, _ZERO_CONST

@cython.locals(i=Py_ssize_t, kind=Py_ssize_t, prev=Py_ssize_t, in_loops=Py_ssize_t,
               ins=tuple, kinds=dict, opened=list, removed=set, written=set)
cdef set _walk(instrs, num_params)
