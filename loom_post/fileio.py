"""Reading modules from disk and replacing them safely.

Replacing a module is atomic: the new bytes go to a temporary file in the same
directory, are fsynced, and are renamed over the old name, so a reader (or a kill
at any moment) sees the old module or the new one, never a mix. Concurrent
loom-post processes serialise on an advisory lock on the file itself.

Renaming breaks hard links, and cargo hard-links target/<triple>/<profile>/X.wasm
to deps/X.wasm and re-links it on every build. `replace_module` therefore renames
the new bytes over every name of the file it can find (the cargo layout's other
name), so all of them show the new module and the next no-op build keeps it.
"""

import contextlib
import errno
import fcntl
import os
import tempfile

from loom_post.wasm.module import read_module
from loom_post.errors import DecodeError, InputError


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise InputError(f"is a directory, not a module", path=path)
    except FileNotFoundError:
        raise InputError(f"no such file", path=path)
    except PermissionError:
        raise InputError(f"permission denied", path=path)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=path)


def load_module(path, data=None):
    """(bytes, Module) for `path`, or InputError naming the path and the offset."""
    if data is None:
        data = read_bytes(path)
    try:
        return data, read_module(data)
    except DecodeError as e:
        raise InputError(f"{e}", path=path)


def other_links(path):
    """Other names of `path`'s inode that cargo is known to create (deps/<name>)."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    if st.st_nlink < 2:
        return []
    found = []
    directory, name = os.path.split(os.path.abspath(path))
    candidates = [os.path.join(directory, "deps", name)]
    if os.path.basename(directory) == "deps":
        candidates.append(os.path.join(os.path.dirname(directory), name))
    for cand in candidates:
        try:
            cst = os.stat(cand)
        except OSError:
            continue
        if (cst.st_dev, cst.st_ino) == (st.st_dev, st.st_ino):
            found.append(cand)
    return found


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive advisory lock on the current file at `path`.

    After a competitor renames a new file into place, a lock on the old inode
    protects nothing, so the lock is retaken until it is held on the file the
    name points to.
    """
    while True:
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield
                return
        finally:
            os.close(fd)


def write_atomic(path, data, like=None):
    """Write `data` to `path` through a temporary file and a rename. A symlink
    is followed: the file it points to is replaced, the link stays a link."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".loom-post-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        src = like if like is not None else path
        with contextlib.suppress(OSError):
            st = os.stat(src)
            os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def replace_module(path, data, links=None):
    """Atomically replace `path` (and its cargo hard link, if any) with `data`.
    Returns how many other hard links of the old file still show the old bytes
    (names outside the cargo layout cannot be found to re-point)."""
    path = os.path.realpath(path)
    if links is None:
        links = other_links(path)
    try:
        left_behind = max(0, os.stat(path).st_nlink - 1 - len(links))
    except OSError:
        left_behind = 0
    try:
        write_atomic(path, data)
        for other in links:
            # One inode again: link the new file under a temp name, rename over.
            tmp = os.path.join(os.path.dirname(other), f".loom-post-link-{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            try:
                os.link(path, tmp)
                os.replace(tmp, other)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                write_atomic(other, data, like=path)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror or e}", path=path)
    return left_behind
