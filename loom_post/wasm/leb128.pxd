# Static types for the compiled build of leb128.py (Cython, pure-Python mode):
# Cython reads this file when it compiles leb128.py; plain Python never does.
# The multi-byte reader's position, byte and counters become C integers (the
# value and the shift stay Python ints: a u64 or s64 may not fit a C one).
cimport cython

@cython.locals(start=Py_ssize_t, max_bytes=Py_ssize_t, n=Py_ssize_t,
               i=Py_ssize_t, byte=Py_ssize_t, used=Py_ssize_t, extra=Py_ssize_t,
               sign=Py_ssize_t, want=Py_ssize_t)
cpdef tuple _read(data, Py_ssize_t pos, Py_ssize_t bits, bint signed)
