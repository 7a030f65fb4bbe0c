# Static types for the compiled build of instructions.py (Cython, pure-Python
# mode): Cython reads this file when it compiles instructions.py; plain Python
# never does. The decoder's positions, depth and kinds become C integers,
# `data[pos]` a C index into the body's bytes, and the memarg reader a C call.
cimport cython

cdef Py_ssize_t _END, _DELEGATE
cdef list _SINGLE, _SINGLE_KIND
cdef frozenset _LEB_KINDS, _SIMPLE_VALTYPES
cdef dict _READERS
cdef Py_ssize_t _SHARED_OFFSETS

@cython.locals(have=Py_ssize_t)
cdef list _offsets(Py_ssize_t end)

@cython.locals(b=Py_ssize_t)
cpdef tuple _read_memarg(bytes data, Py_ssize_t pos)

@cython.locals(out=list, readers=dict, single=list, kinds=list, n=Py_ssize_t,
               depth=Py_ssize_t, minimal=bint, start=Py_ssize_t, op=Py_ssize_t,
               kind=Py_ssize_t, b=Py_ssize_t, begin=Py_ssize_t, last=Py_ssize_t,
               sign=Py_ssize_t, offsets=list, shared=Py_ssize_t)
cpdef tuple _decode_instrs(bytes data, Py_ssize_t pos, Py_ssize_t end)

@cython.locals(out=bytearray)
cpdef bytearray _encode_into(groups, instrs, marked, marks)

@cython.locals(kind=Py_ssize_t, at=Py_ssize_t)
cdef _append_instrs(bytearray out, instrs, marked, marks)

@cython.locals(out=bytearray, firsts=bytearray, j=Py_ssize_t, n=Py_ssize_t, s=Py_ssize_t,
               run_start=Py_ssize_t, run_end=Py_ssize_t, start=Py_ssize_t,
               ins=tuple, fresh=list)
cdef bytearray _encode_reusing(groups, instrs, marked, list marks, list orig, bytes data)
