"""fileio: the lock really excludes, a replaced module keeps its permissions,
and cargo's hard link is re-pointed at the new bytes."""

import fcntl
import os
import stat
import threading

from loom_post.fileio import locked, replace_module, write_atomic


def test_locked_waits_for_another_holder_of_the_lock(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(b"\0asm\1\0\0\0")
    entered = threading.Event()

    def contender():
        with locked(str(path)):
            entered.set()

    # flock locks belong to an open file description: a second open() in this
    # process contends exactly like another loom-post process would.
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        t = threading.Thread(target=contender, daemon=True)
        t.start()
        assert not entered.wait(0.5), "locked() returned while another holder had the lock"
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert entered.wait(10), "locked() did not get the lock once it was released"
    t.join(10)


def test_locked_holds_the_lock_while_inside(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(b"\0asm\1\0\0\0")
    with locked(str(path)):
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
            except BlockingIOError:
                got = False
        finally:
            os.close(fd)
    assert not got


def test_write_atomic_keeps_the_file_mode(tmp_path):
    for mode in (0o755, 0o640, 0o604):
        path = tmp_path / f"m{mode:o}.wasm"
        path.write_bytes(b"old")
        os.chmod(path, mode)
        write_atomic(str(path), b"new bytes")
        assert path.read_bytes() == b"new bytes"
        assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_replace_module_repoints_cargo_deps_link_and_keeps_mode(tmp_path):
    release = tmp_path / "target" / "wasm32-unknown-unknown" / "release"
    (release / "deps").mkdir(parents=True)
    path, dep = release / "app.wasm", release / "deps" / "app.wasm"
    path.write_bytes(b"old module")
    os.chmod(path, 0o755)
    os.link(path, dep)
    left = replace_module(str(path), b"new module")
    assert left == 0
    assert path.read_bytes() == dep.read_bytes() == b"new module"
    assert os.stat(path).st_ino == os.stat(dep).st_ino   # one file again, as cargo left it
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert sorted(p.name for p in release.iterdir()) == ["app.wasm", "deps"]
