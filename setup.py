"""The optional compiled build of loom-post's hot modules.

pyproject.toml holds the project's metadata; this file adds one build step:
Cython compiles the modules listed in loom_post/native.py (HOT) from their
.py files, and a manifest records the digest of the sources each was compiled
from (loom_post/native.py loads a compiled module only while it matches).
Anything missing (Cython, a C compiler, Python's headers) or failing leaves
those modules pure Python, with a warning: the install still succeeds and
loom-post gives the same results, more slowly. LOOM_POST_NO_COMPILE=1 skips
the step.
"""

import json
import os
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
NATIVE = runpy.run_path(os.path.join(ROOT, "loom_post", "native.py"))
# Beside Cython's C files: the digest of the sources each was generated from.
STAMPS = "sources.json"


def _warn(message):
    print(f"loom-post: {message}; these modules stay pure Python "
          "(same results, slower)", file=sys.stderr)


class BuildNative(build_ext):
    """Cythonize HOT, compile what compiles, and write the manifest."""

    def run(self):
        self.built, self.digests = [], {}
        self._compile()
        # Also when nothing compiled: a build directory reused from an earlier
        # build (pip builds a checkout in its build/) still holds that build's
        # extension files and manifest, which would be installed as they were.
        self._write_manifests()

    def _compile(self):
        if os.environ.get("LOOM_POST_NO_COMPILE", "") not in ("", "0"):
            _warn("LOOM_POST_NO_COMPILE is set: the compiled build is skipped")
            return
        try:
            from Cython.Build import cythonize
        except ImportError:
            _warn("Cython is not installed: the compiled build is skipped")
            return
        build_dir = os.path.join(self.build_temp, "cython")
        # Before Cython reads them: a source edited during the build then
        # mismatches the manifest (runs as Python) instead of matching a stale build.
        self.digests = {ext.name: NATIVE["source_digest"](os.path.join(ROOT, "loom_post"),
                                                          ext.name) for ext in self.extensions}
        _forget_stale(build_dir, self.digests)
        try:
            generated = cythonize(
                self.extensions, build_dir=build_dir,
                quiet=True, nthreads=os.cpu_count() or 1,
                compiler_directives=NATIVE["COMPILER_DIRECTIVES"])
        except Exception as e:  # Cython's errors have no common base class
            _warn(f"Cython failed ({e})")
            return
        _write_json(os.path.join(build_dir, STAMPS), self.digests)
        # setuptools prepared self.extensions: keep them, compile the C.
        c_sources = {ext.name: ext.sources for ext in generated}
        for ext in self.extensions:
            ext.sources = c_sources[ext.name]
        self.parallel = self.parallel or os.cpu_count() or 1
        super().run()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # compiler, linker or missing-header errors
            _warn(f"{ext.name} did not compile ({e})")
            return
        self.built.append(ext.name)

    def _write_manifests(self):
        pkg_dirs = [os.path.join(self.build_lib, "loom_post")]
        if self.inplace:
            pkg_dirs.append(self.get_finalized_command("build_py").get_package_dir("loom_post"))
        entries = {}
        for name in sorted(self.built):
            # Relative to the package: the same in build_lib and in place.
            rel = os.path.join(*name.split(".")[1:-1],
                               os.path.basename(self.get_ext_filename(name)))
            entries[name] = {"file": rel, "sha256": self.digests[name]}
        for pkg_dir in pkg_dirs:
            os.makedirs(pkg_dir, exist_ok=True)
            _write_json(os.path.join(pkg_dir, NATIVE["MANIFEST"]), entries)


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def _forget_stale(build_dir, digests):
    """Delete the C file of each module whose sources changed since Cython
    generated it. Cython and build_ext decide what to redo by file times
    only: a source older than its outputs (copied with `cp -p`, unpacked from
    an archive) would otherwise be recorded with a build of the code before it."""
    try:
        with open(os.path.join(build_dir, STAMPS), encoding="utf-8") as f:
            stamps = json.load(f)
    except (OSError, ValueError):
        stamps = {}
    for name, digest in digests.items():
        c_file = os.path.join(build_dir, *name.split(".")) + ".c"
        if (not isinstance(stamps, dict) or stamps.get(name) != digest) and os.path.exists(c_file):
            os.remove(c_file)


def _extensions():
    return [Extension(name, [os.path.join(*name.split(".")) + ".py"], optional=True)
            for name in NATIVE["HOT"]]


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildNative})
