"""Advisory locks that keep loom-post runs apart, and a probe for other writers.

Every lock wait is bounded (`lock-timeout`, default DEFAULT_LOCK_TIMEOUT): a
lock held by a stuck process ends in a clear error (exit 3), never a build that
hangs. A lock is an flock on an open file description, so a forked child would
hold it too: the fds of held locks are closed in every forked child (worker
pools fork while the lock is held), and they are O_CLOEXEC for exec'd ones.

Portability: POSIX locks with fcntl.flock. Windows has no fcntl (importing it at
module level kept every command, even `inspect`, from loading there), so there
the lock is msvcrt.locking on the file's first byte, and a directory is locked
through a `.loom-post.lock` file inside it (Windows cannot open a directory as a
file). The Windows path is written to the documented msvcrt API but not run
here (no Windows machine); the tests run the POSIX path and import every module
with fcntl unavailable.
"""

import contextlib
import os
import signal
import stat
import time

from loom_post.errors import InputError
from loom_post.regular import FD_FLAGS, open_regular

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

DEFAULT_LOCK_TIMEOUT = 60.0  # seconds
_POLL = 0.05
_held = set()  # fds of the locks this process holds


def _close_held_in_child():
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


def _try_lock(fd):
    """Take the lock without waiting; BlockingIOError when another holds it."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    import msvcrt
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as e:  # Windows reports a held lock as EACCES/EDEADLOCK
        raise BlockingIOError(str(e)) from e


def _wait(fd, path, timeout):
    deadline = time.monotonic() + (DEFAULT_LOCK_TIMEOUT if timeout is None else timeout)
    while True:
        try:
            _try_lock(fd)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise InputError("another process holds its lock (a loom-post run that is "
                                 "still going or stuck); gave up waiting after "
                                 f"{timeout if timeout is not None else DEFAULT_LOCK_TIMEOUT:g} s "
                                 "(`lock-timeout` sets the wait)", path=path)
            time.sleep(_POLL)


@contextlib.contextmanager
def locked(path, timeout=None):
    """Hold an exclusive advisory lock on the regular file at `path`.

    After a competitor renames a new file into place, a lock on the old inode
    protects nothing, so the lock is retaken until it is held on the file the
    name points to.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        fd = open_regular(path)
        try:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            _wait(fd, path, left if left is not None else None)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                _held.add(fd)
                try:
                    yield fd
                finally:
                    _held.discard(fd)
                return
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked_dir(directory, timeout=None):
    """An exclusive lock on a directory (for a file that may not exist yet, or
    that is replaced by a rename while we hold the lock)."""
    if not os.path.isdir(directory):
        raise InputError("not a directory", path=directory)
    if fcntl is None:
        fd = os.open(os.path.join(directory, ".loom-post.lock"),
                     os.O_RDWR | os.O_CREAT | FD_FLAGS, 0o600)
    else:
        fd = os.open(directory, os.O_RDONLY | FD_FLAGS)
    try:
        if fcntl is not None and not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InputError("not a directory", path=directory)
        _wait(fd, directory, timeout)
        _held.add(fd)
        try:
            yield
        finally:
            _held.discard(fd)
    finally:
        os.close(fd)


def open_for_writing_elsewhere(path):
    """True when some process holds `path` open for writing (a writer that has
    paused mid-file), False when none does, None when this OS cannot tell.

    Linux refuses a read lease (EAGAIN) on a file open for writing anywhere. The
    lease is dropped at once; should a writer open the file in between, the
    kernel's notice is SIGURG, which is ignored by default (not SIGIO, which
    would kill us)."""
    setlease = getattr(fcntl, "F_SETLEASE", None) if fcntl is not None else None
    if setlease is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | FD_FLAGS)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
    except BlockingIOError:
        return True
    except OSError:  # not the owner, a file system without leases, ...
        return None
    else:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)
