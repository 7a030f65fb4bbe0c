# Static types for the compiled build of instructions.py (Cython, pure-Python
# mode): Cython reads this file when it compiles instructions.py; plain Python
# never does. The decoder's positions and the encoder's kinds become C integers.
cimport cython

cdef Py_ssize_t _END, _DELEGATE
cdef list _SINGLE

@cython.locals(out=list, depth=Py_ssize_t, minimal=bint, start=Py_ssize_t, op=Py_ssize_t,
               kind=Py_ssize_t, b=Py_ssize_t, at=Py_ssize_t, pos=Py_ssize_t, end=Py_ssize_t,
               readers=dict)
cdef tuple _decode_instrs(data, pos, end)

@cython.locals(parts=list, one=list, kind=Py_ssize_t)
cdef list _encode_parts(groups, instrs, marked, marks)

@cython.locals(kind=Py_ssize_t, base=Py_ssize_t)
cpdef Py_ssize_t instr_size(info, imm) except -1

@cython.locals(align=Py_ssize_t, mem=Py_ssize_t, b=Py_ssize_t)
cdef tuple _read_memarg(data, Py_ssize_t pos)

@cython.locals(b=Py_ssize_t)
cdef tuple _read_blocktype(data, Py_ssize_t pos)
