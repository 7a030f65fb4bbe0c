"""Reading modules from disk and replacing them safely.

Replacing a module is atomic: the new bytes go to a temporary file in the same
directory, are fsynced, and are renamed over the old name, so a reader (or a kill
at any moment) sees the old module or the new one, never a mix. The temporary
file gets the old file's owner, group, mode and extended attributes where the OS
allows, and never a set-id bit for an owner it could not keep.

Only regular files are read: a FIFO, device, socket or directory is refused
before a byte is read (the file is opened non-blocking, so a FIFO without a
writer cannot hang us), and a module larger than the input limit is refused.

Concurrent loom-post processes serialise on an advisory lock on the file itself
(locks.py), waited for a bounded time. Other programs do not take that lock, so
before replacing, `still_unchanged` checks the file is still exactly what was
read and that nobody holds it open for writing.

Renaming breaks hard links, and cargo hard-links target/<triple>/<profile>/X.wasm
to deps/X.wasm and re-links it on every build. `replace_module` therefore renames
the new bytes over every name of the file it can find (the cargo layout's other
name), all of them or none, so all show the new module and the next no-op build
keeps it.
"""

import contextlib
import errno
import os
import stat

from loom_post.errors import DecodeError, InputError
from loom_post.locks import (DEFAULT_LOCK_TIMEOUT, locked, locked_dir,  # noqa: F401
                             open_for_writing_elsewhere)
from loom_post.regular import kind_of, open_regular  # noqa: F401  (kind_of: re-exported)
from loom_post.tempfiles import new_temp, sweep_stale
from loom_post.wasm.module import read_module

DEFAULT_MAX_INPUT = 256 * 1024 * 1024  # bytes; the `max-input-size` key changes it
def _too_big(path, size, limit):
    return InputError(f"is {size} bytes, over the input limit of {limit} bytes "
                      f"(raise `max-input-size` in the configuration to allow it)", path=path)


def read_snapshot(path, limit=None):
    """(bytes, os.stat_result of the fd read) of the regular file at `path`."""
    limit = DEFAULT_MAX_INPUT if limit is None else limit
    fd = open_regular(path)
    try:
        st = os.fstat(fd)
        if st.st_size > limit:
            raise _too_big(path, st.st_size, limit)
        chunks, total = [], 0
        while True:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            except OSError as e:
                raise InputError(f"cannot read: {e.strerror or e}", path=path)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while we read it
                raise _too_big(path, total, limit)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def read_bytes(path, limit=None):
    return read_snapshot(path, limit)[0]


def load_module(path, data=None, limit=None, lazy=False):
    """(bytes, Module) for `path`, or InputError naming the path and the offset.
    `lazy`: only the framing is checked here (wasm.module.read_module), for a
    caller that parses the rest wherever a cache hit does not vouch for it."""
    if data is None:
        data = read_bytes(path, limit)
    try:
        return data, read_module(data, lazy)
    except DecodeError as e:
        raise InputError(f"{e}", path=path)


def identity(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def still_unchanged(path, data, st):
    """None when the file at `path` is still the one read (`data`, stat `st`) and
    no process holds it open for writing; else why not, in a few words."""
    try:
        now, now_st = read_snapshot(path, limit=len(data))
    except InputError:
        return "changed while being optimized"
    if identity(now_st) != identity(st) or now != data:
        return "changed while being optimized"
    if open_for_writing_elsewhere(path):
        return "is open for writing by another process"
    return None


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


def _umask():
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _copy_xattrs(src, dst):
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(src)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):  # e.g. security.* needs privileges
            os.setxattr(dst, name, os.getxattr(src, name))


def copy_attributes(src, fd, tmp):
    """Give the temporary file (`fd`, named `tmp`) the owner, group, mode and
    xattrs of the file `src` as far as allowed; a set-id bit survives only with
    the owner (setuid) or group (setgid) it was set for."""
    like = os.stat(src)
    with contextlib.suppress(OSError):
        os.fchown(fd, like.st_uid, like.st_gid)  # works as root
    with contextlib.suppress(OSError):
        os.fchown(fd, -1, like.st_gid)           # a group the user is in
    mine = os.fstat(fd)
    mode = stat.S_IMODE(like.st_mode)
    if mine.st_uid != like.st_uid:
        mode &= ~stat.S_ISUID
    if mine.st_gid != like.st_gid:
        mode &= ~stat.S_ISGID
    os.fchmod(fd, mode)  # after chown, which clears set-id bits
    _copy_xattrs(src, tmp)


def _fill_temp(directory, data, attrs_from=None, mode=0o666):
    """A fsynced temporary file in `directory` holding `data`, with the
    attributes of the file `attrs_from` (else `mode` less the umask); its path."""
    fd, tmp = new_temp(directory)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
        if attrs_from is not None and os.path.exists(attrs_from):
            copy_attributes(attrs_from, fd, tmp)
        else:
            os.fchmod(fd, mode & ~_umask() & 0o777)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def _fsync_dir(directory):
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_atomic(path, data, like=None, new_mode=0o666):
    """Write `data` to `path` through a temporary file and a rename. A symlink
    is followed: the file it points to is replaced, the link stays a link.
    An existing file keeps its attributes; a new one gets `new_mode` (or the
    permission bits of the file `like`, never set-id) less the umask, as any
    program's new file."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"not a regular file ({kind_of(mode)}); not replaced", path=path)
    sweep_stale(directory)
    if like is not None and not os.path.exists(path):
        with contextlib.suppress(OSError):
            new_mode = stat.S_IMODE(os.stat(like).st_mode) & 0o777
    tmp = _fill_temp(directory, data, path, new_mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def replace_module(path, data, links=None):
    """Atomically replace `path` and its cargo hard link(s) with `data`: all of
    them or (on an error, InputError) none. Returns how many other hard links of
    the old file still show the old bytes (names outside the cargo layout cannot
    be found to re-point)."""
    path = os.path.realpath(path)
    if links is None:
        links = other_links(path)
    try:
        left_behind = max(0, os.stat(path).st_nlink - 1 - len(links))
    except OSError:
        left_behind = 0
    staged = []   # (temporary name, final name), all prepared before any rename
    try:
        try:
            directory = os.path.dirname(path)
            sweep_stale(directory)
            staged.append((_fill_temp(directory, data, path), path))
            for other in links:
                staged.append((_stage_link(staged[0][0], other, data), other))
        except OSError as e:
            raise InputError(f"cannot write: {e.strerror or e}; left untouched", path=path)
        left_behind += _commit(staged, path)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return left_behind


def _stage_link(tmp, other, data):
    """The new file under a temporary name beside `other`: a hard link to `tmp`
    (one inode again), or a copy where a link cannot be made."""
    _, name = new_temp(os.path.dirname(other), create=False)
    try:
        os.link(tmp, name)
        return name
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
    return _fill_temp(os.path.dirname(other), data, other)


def _commit(staged, path):
    """Rename every staged file into place; how many other names still show the
    old module. If the main name was replaced but its link cannot be, the main
    name is rolled back to the old inode (which the link still shows), so the
    pair stays consistent; only if that fails too is the link left behind (and
    counted, so the report says so)."""
    _, backup = new_temp(os.path.dirname(path), create=False)
    try:
        os.link(path, backup)        # the old inode, kept for a rollback
    except OSError:
        backup = None
    try:
        done = 0
        try:
            for tmp, final in staged:
                os.replace(tmp, final)
                done += 1
        except OSError as e:
            why = e.strerror or e
            if not done:
                raise InputError(f"cannot write: {why}; left untouched", path=path)
            failed = staged[done][1]
            if done == 1 and backup is not None:
                try:
                    os.replace(backup, path)
                except OSError:
                    return len(staged) - done
                backup = None
                raise InputError(f"cannot replace its hard link {failed}: {why}; "
                                 f"both left untouched", path=path)
            return len(staged) - done
        for _, final in staged:
            _fsync_dir(os.path.dirname(final))
        return 0
    finally:
        if backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(backup)
