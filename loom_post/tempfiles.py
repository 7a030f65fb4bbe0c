"""Temporary files beside the files they will replace, and their clean-up.

Each name carries the writer's pid: `.loom-post-<pid>-<random>.tmp`. A run that
is interrupted removes its own (SIGTERM, SIGHUP and SIGINT become exceptions in
the CLI, so the `except BaseException` clean-ups run); one killed outright
(SIGKILL, the OOM killer, a power cut) cannot, so every later write into that
directory sweeps the temporary files that are older than STALE_AFTER *and*
whose writer is no longer alive. Both conditions: a live pid may be a running
loom-post; an old file of a recycled pid is still not ours to judge, so it waits.
"""

import contextlib
import os
import re
import time

from loom_post.regular import FD_FLAGS

PREFIX = ".loom-post-"
STALE_AFTER = 10 * 60  # seconds
_NAME = re.compile(r"\.loom-post-(\d+)-[0-9a-f]+\.tmp\Z")


def new_temp(directory, create=True):
    """(fd, path) of a new empty file in `directory` (mode 0600), or with
    create=False (None, an unused name) for a caller that makes it itself."""
    while True:
        path = os.path.join(directory, f"{PREFIX}{os.getpid()}-{os.urandom(6).hex()}.tmp")
        if not create:
            if not os.path.lexists(path):
                return None, path
            continue
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | FD_FLAGS,
                           0o600), path
        except FileExistsError:
            continue


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def sweep_stale(directory, now=None):
    """Remove stale temporary files of dead writers in `directory`; how many."""
    now = time.time() if now is None else now
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        m = _NAME.match(name)
        if not m:
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if now - st.st_mtime < STALE_AFTER or _alive(int(m.group(1))):
                continue
            os.unlink(path)
            removed += 1
    return removed
