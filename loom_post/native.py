"""The optional compiled build of the hot modules, and the rule that keeps it
honest: a compiled module is loaded only while the sources it was compiled from
are still the ones on disk.

At install time (setup.py), Cython compiles the modules in HOT from the same
.py files (pure-Python mode, no separate sources) and writes MANIFEST beside
the package: for each module, the SHA-256 of its .py (and of the .pxd beside
it, which only adds static types). A finder placed first on sys.meta_path
decides for those names only:

- compiled, when the manifest's digest equals the digest of the files on disk
  now and the extension file exists with a suffix this interpreter loads;
- otherwise the .py, through the ordinary source loader. Python itself would
  prefer an extension file beside a .py, so after an edit (or a `git
  checkout`) a stale compiled module would silently run old code: the finder
  never lets that happen.

Without a compiler or Cython, nothing is compiled, there is no manifest and
every module runs as Python: same results, slower. LOOM_POST_PURE=1 forces
the pure-Python modules (to compare the two, or to rule the compiled build out
when something looks wrong). This module imports nothing from loom_post.
"""

import importlib.machinery
import importlib.util
import os
import sys

# The modules worth compiling, measured (docs/speed.md, "The compiled
# build"): compiling the other seven of the passes and the format layer made
# runs no faster (1.02x, 1.00x, 0.99x the CPU of the first six) and the install
# slower. funcindex (the module passes' reference scan and index rewriting,
# docs/speed.md "Module passes") was added later. All but leb128 and
# merge_similar have a .pxd of static types beside them.
HOT = (
    "loom_post.wasm.instructions",
    "loom_post.wasm.leb128",
    "loom_post.wasm.stack_types",
    "loom_post.passes.cse",
    "loom_post.passes.zero_sets",
    "loom_post.passes.merge_similar",
    "loom_post.passes.funcindex",
)

# How setup.py (and the tests that compile into a copy) call Cython: annotations
# stay Python's, so compiled and pure modules accept the same values; static
# types come from the .pxd files only.
COMPILER_DIRECTIVES = {"language_level": 3, "annotation_typing": False}

MANIFEST = "_native.json"
PURE_ENV = "LOOM_POST_PURE"
PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def source_files(pkg_dir, name):
    """The files module `name` is compiled from: its .py, and its .pxd if any."""
    base = os.path.join(pkg_dir, *name.split(".")[1:])
    return [p for p in (base + ".py", base + ".pxd") if p == base + ".py" or os.path.exists(p)]


def source_digest(pkg_dir, name):
    """SHA-256 over the sources of `name`, each with its file name."""
    import hashlib  # here, not at the top: `--help` and `inspect` never need it
    h = hashlib.sha256()
    for path in source_files(pkg_dir, name):
        with open(path, "rb") as f:
            data = f.read()
        h.update(os.path.basename(path).encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()


def read_manifest(pkg_dir):
    """{module name: {"sha256": ..., "file": path relative to pkg_dir}}, or {}
    when there is no compiled build or its manifest cannot be read."""
    import json
    try:
        with open(os.path.join(pkg_dir, MANIFEST), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def compiled_file(pkg_dir, name, entry):
    """The extension file to load for `name`, or None when it is missing, of
    another interpreter, or compiled from other sources than those on disk."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    path = os.path.join(pkg_dir, entry["file"])
    # Only this interpreter's own tag (the first suffix; bare ".so" would
    # also admit a file built for another Python).
    if not path.endswith(importlib.machinery.EXTENSION_SUFFIXES[0]):
        return None
    if not os.path.isfile(path):
        return None
    try:
        if entry.get("sha256") != source_digest(pkg_dir, name):
            return None
    except OSError:
        return None
    return path


class _Loader:
    """Loads the extension file; if the dynamic loader refuses it (a damaged
    or foreign file), loads the .py instead, so a bad build costs speed only."""

    def __init__(self, name, ext_path, py_path, loaded):
        self.py_path = py_path
        self.loaded = loaded        # the finder's record, corrected on fallback
        # Set here, not in create_module: importlib.reload calls exec_module
        # alone (for an extension, a no-op, as for any extension module).
        self.active = importlib.machinery.ExtensionFileLoader(name, ext_path)

    def create_module(self, spec):
        try:
            return self.active.create_module(spec)
        except ImportError:
            spec.origin = self.py_path
            self.loaded[spec.name] = "python"
            self.active = importlib.machinery.SourceFileLoader(spec.name, self.py_path)
            return None

    def exec_module(self, module):
        self.active.exec_module(module)


class NativeFinder:
    """The meta-path finder for HOT (see the module docstring)."""

    def __init__(self, pkg_dir, pure=False):
        self.pkg_dir = pkg_dir
        self.pure = pure
        self._manifest = None
        self.loaded = {}            # name -> "compiled" | "python"

    def manifest(self):
        if self._manifest is None:
            self._manifest = read_manifest(self.pkg_dir)
        return self._manifest

    def find_spec(self, name, path=None, target=None):
        if name not in HOT:
            return None
        py_path = source_files(self.pkg_dir, name)[0]
        if not os.path.isfile(py_path):
            return None             # a zip or a sourceless install: Python's own finders
        ext = None if self.pure else compiled_file(self.pkg_dir, name, self.manifest().get(name))
        if ext is None:
            self.loaded[name] = "python"
            return importlib.util.spec_from_file_location(name, py_path)
        self.loaded[name] = "compiled"
        spec = importlib.machinery.ModuleSpec(name, _Loader(name, ext, py_path, self.loaded), origin=ext)
        spec.has_location = True
        return spec

    def invalidate_caches(self):
        self._manifest = None


def pure_forced(environ=None):
    """Whether LOOM_POST_PURE asks for the pure-Python modules."""
    environ = os.environ if environ is None else environ
    return environ.get(PURE_ENV, "") not in ("", "0")


def install(pkg_dir=PKG_DIR, environ=None):
    """Put the finder first on sys.meta_path (once per interpreter)."""
    for finder in sys.meta_path:
        if isinstance(finder, NativeFinder):
            return finder
    finder = NativeFinder(pkg_dir, pure=pure_forced(environ))
    sys.meta_path.insert(0, finder)
    return finder


def build_state(pkg_dir=PKG_DIR):
    """{"compiled": [...], "stale": [...], "python": [...]}: which hot modules
    would load compiled, which have a build that no longer matches their
    sources, and which have none; read from disk, nothing is imported."""
    manifest = read_manifest(pkg_dir)
    state = {"compiled": [], "stale": [], "python": []}
    for name in HOT:
        if name not in manifest:
            state["python"].append(name)
        elif compiled_file(pkg_dir, name, manifest[name]):
            state["compiled"].append(name)
        else:
            state["stale"].append(name)
    return state


def describe(pkg_dir=PKG_DIR, environ=None):
    """One line for `--version` and the benchmarks: which build runs."""
    if pure_forced(environ):
        return f"pure Python, {PURE_ENV} is set"
    state = build_state(pkg_dir)
    n = len(state["compiled"])
    if n == 0 and not state["stale"]:
        return "pure Python, no compiled build"
    line = f"compiled build: {n} of {len(HOT)} hot modules"
    if state["stale"]:
        line += (f"; {len(state['stale'])} changed since the build run as Python "
                 "(reinstall to recompile)")
    return line


def status():
    """{"compiled": [...], "python": [...], "built": n}: which hot modules this
    process loaded compiled, which as Python, and how many the build compiled."""
    finder = install()
    out = {"compiled": [], "python": [], "built": len(finder.manifest())}
    for name, how in sorted(finder.loaded.items()):
        out[how].append(name)
    return out
