"""Opening a path only when it is a regular file: a FIFO, device, socket or
directory given as a module is refused at once instead of hanging a read or
reading without end."""

import errno
import os
import stat

from loom_post.errors import InputError

# Flags every fd loom-post opens carries where the OS has them: not inherited by
# exec'd children (POSIX), binary mode so Windows does not translate CRLF.
FD_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def kind_of(mode):
    """'a FIFO', 'a directory', ... for a stat mode that is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path):
    """A read-only fd on `path`, which must be a regular file. Non-blocking, so a
    FIFO cannot hang the open; the type is checked on the opened fd itself."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | FD_FLAGS)
    except FileNotFoundError:
        raise InputError("no such file", path=path)
    except PermissionError:
        raise InputError("permission denied", path=path)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket (or a FIFO opened for writing)
            raise InputError("not a regular file (a socket); refusing to read it", path=path)
        raise InputError(f"cannot read: {e.strerror or e}", path=path)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(f"not a regular file ({kind_of(st.st_mode)}); refusing to read it",
                         path=path)
    return fd


