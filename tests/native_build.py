"""Compile some hot modules into a copy of the package, as setup.py does
(same Cython directives, the same manifest), so that tests of the compiled
build do not depend on how this checkout was installed. Skips the calling
test when Cython, a C compiler or Python's headers are missing."""

import json
import os
import shutil

import pytest

from loom_post import native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def copy_package(dest):
    """loom_post's sources alone into dest/loom_post: no compiled module or
    manifest of an install in place."""
    pkg = os.path.join(str(dest), "loom_post")
    shutil.copytree(os.path.join(ROOT, "loom_post"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.c",
                                                  "*.html", native.MANIFEST))
    return pkg


def build_copy(dest, names):
    """A copy of the package in `dest` with `names` compiled and recorded in
    its manifest; returns `dest` (the directory to put on PYTHONPATH)."""
    cython_build = pytest.importorskip("Cython.Build", reason="Cython is not installed")
    from setuptools import Extension
    from setuptools.dist import Distribution
    dest = str(dest)
    pkg = copy_package(dest)
    sources = {n: os.path.join(dest, *n.split(".")) + ".py" for n in names}
    exts = cython_build.cythonize([Extension(n, [p]) for n, p in sources.items()], quiet=True,
                                  build_dir=os.path.join(dest, "cython"),
                                  compiler_directives=native.COMPILER_DIRECTIVES)
    cmd = Distribution({"ext_modules": exts}).get_command_obj("build_ext")
    cmd.build_lib, cmd.build_temp = dest, os.path.join(dest, "tmp")
    cmd.parallel = os.cpu_count() or 1
    try:
        cmd.ensure_finalized()
        cmd.run()
    except Exception as e:  # no C compiler or no Python headers here
        pytest.skip(f"cannot compile a C extension here: {e}")
    manifest = {n: {"file": os.path.relpath(cmd.get_ext_fullpath(n), pkg),
                    "sha256": native.source_digest(pkg, n)} for n in names}
    with open(os.path.join(pkg, native.MANIFEST), "w") as f:
        json.dump(manifest, f)
    return dest
