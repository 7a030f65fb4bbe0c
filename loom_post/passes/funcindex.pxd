# Static types for the compiled build of funcindex.py (Cython, pure-Python
# mode): Cython reads this file when it compiles funcindex.py; plain Python
# never does. The reference scan looks at each decoded instruction's row by
# C indexing and pointer comparison; the splice's offsets are C integers.
cimport cython

cdef tuple _REF_ROW_TUPLE

@cython.locals(found=list, ins=tuple)
cpdef list _scan(list instrs)

@cython.locals(parts=list, last=Py_ssize_t, s=Py_ssize_t, e=Py_ssize_t, immediates=dict)
cpdef bytes _body(bytes old, spans, layout, dict immediates)
