"""setup.py's compiled build against edits it must not miss (issue 16's
red-team): the manifest may name a compiled module as current only when the
extension file was compiled from exactly the sources on disk.

One copy of the checkout (setup.py, pyproject.toml and the package) is built
in place as a developer builds it (`setup.py build_ext --inplace`), then
edited and rebuilt; a subprocess says which leb128 it imports."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from loom_post import native
from native_build import ROOT, copy_package

LEB128 = os.path.join("loom_post", "wasm", "leb128.py")
PROBE = textwrap.dedent("""
    import loom_post.wasm.leb128 as m
    print(m.__file__.endswith(".py"), getattr(m, "MARKER", None))
""")
# setup.py run with Cython's cythonize wrapped: the .py is edited after Cython
# has read it, while the C compiler runs, as an editor saving mid-build would.
EDIT_DURING_BUILD = textwrap.dedent("""
    import runpy, sys
    import Cython.Build as build
    generate, source = build.cythonize, sys.argv[1]
    def cythonize(*args, **kwargs):
        out = generate(*args, **kwargs)
        with open(source, "a") as f:
            f.write("MARKER = 'mid-build'\\n")
        return out
    build.cythonize = cythonize
    sys.argv = ["setup.py", "-q", "build_ext", "--inplace"]
    runpy.run_path("setup.py", run_name="__main__")
""")


def _build(checkout, *cmd, skip=""):
    proc = subprocess.run([sys.executable, *(cmd or ("setup.py", "-q", "build_ext", "--inplace"))],
                          cwd=checkout, capture_output=True, text=True,
                          env={**os.environ, "LOOM_POST_NO_COMPILE": skip})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _probe(checkout):
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=checkout, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": checkout,
                                          "LOOM_POST_PURE": ""})
    assert proc.returncode == 0, proc.stderr
    is_py, marker = proc.stdout.split()
    return ("python" if is_py == "True" else "compiled"), marker


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    pytest.importorskip("Cython.Build", reason="Cython is not installed")
    root = str(tmp_path_factory.mktemp("checkout"))
    copy_package(root)
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(ROOT, name), root)
    _build(root)
    if _probe(root)[0] != "compiled":
        pytest.skip("setup.py compiled nothing here (no C compiler or no Python headers)")
    return root


def test_a_source_older_than_its_build_is_recompiled(checkout):
    """Cython and build_ext redo a module only when its source is newer than
    their outputs: a file copied with its old time (cp -p, tar, an archive)
    kept the previous build, which the manifest then called current."""
    path = os.path.join(checkout, LEB128)
    with open(path, "a") as f:
        f.write("MARKER = 'old-time'\n")
    os.utime(path, (946684800, 946684800))    # 2000-01-01, before the first build
    _build(checkout)
    assert _probe(checkout) == ("compiled", "old-time")


def test_an_edit_saved_during_the_build_runs_as_python(checkout):
    """The manifest records the sources Cython read, not the ones on disk
    after the C compiler finished."""
    _build(checkout, "-c", EDIT_DURING_BUILD, LEB128)
    assert _probe(checkout) == ("python", "mid-build")


def test_a_skipped_build_installs_no_earlier_build(checkout):
    """LOOM_POST_NO_COMPILE=1 (or no Cython) in a build directory that an
    earlier build left: what gets installed (build/lib) is pure Python, not
    the earlier build's extension files and manifest."""
    _build(checkout, "setup.py", "-q", "build")
    lib = [d for d in os.listdir(os.path.join(checkout, "build")) if d.startswith("lib")]
    pkg = os.path.join(checkout, "build", lib[0], "loom_post")
    assert native.build_state(pkg)["compiled"]      # the earlier, compiled build
    _build(checkout, "setup.py", "-q", "build", skip="1")
    assert native.build_state(pkg)["compiled"] == []
