"""The compiled build (loom_post/native.py): a compiled hot module is loaded
only while it matches the sources on disk, anything else loads the .py, and
compiled and pure-Python runs write the same bytes.

The loader tests compile one small hot module (leb128) with Cython into a copy
of the package (tests/native_build.py), so they do not depend on how this
checkout was installed."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from loom_post import native
from native_build import build_copy, copy_package

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "loom_post.wasm.leb128"
PROBE = textwrap.dedent("""
    import json, loom_post.native as n, loom_post.wasm.leb128 as m
    assert m.encode_u(300) == b"\\xac\\x02"
    print(json.dumps({"file": m.__file__, "status": n.status()}))
""")


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory):
    """A copy of the package whose leb128 is compiled, with its manifest."""
    return build_copy(tmp_path_factory.mktemp("native"), [NAME])


def _probe(tree, **env):
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          cwd=tree, env={**os.environ, "PYTHONPATH": tree,
                                         native.PURE_ENV: "", **env})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    how = "compiled" if NAME in out["status"]["compiled"] else "python"
    assert (how == "compiled") == out["file"].endswith(".so"), out
    return how


def _variant(compiled_tree, tmp_path, change):
    tree = str(tmp_path / "t")
    shutil.copytree(compiled_tree, tree, ignore=shutil.ignore_patterns("__pycache__"))
    change(os.path.join(tree, "loom_post"))
    return tree


def test_a_fresh_build_loads_compiled(compiled_tree):
    assert _probe(compiled_tree) == "compiled"


def test_the_pure_switch_loads_python(compiled_tree):
    assert _probe(compiled_tree, **{native.PURE_ENV: "1"}) == "python"


def test_a_compiled_module_can_be_reloaded(compiled_tree):
    """importlib.reload calls the loader's exec_module without create_module:
    a compiled module reloads as any extension module does (unchanged)."""
    code = ("import importlib, loom_post.wasm.leb128 as m\n"
            "assert importlib.reload(m) is m and m.__file__.endswith('.so'), m.__file__\n"
            "assert m.encode_u(300) == b'\\xac\\x02'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=compiled_tree, env={**os.environ, "PYTHONPATH": compiled_tree,
                                                  native.PURE_ENV: ""})
    assert proc.returncode == 0, proc.stderr


def _append(path, text):
    with open(path, "a") as f:
        f.write(text)


@pytest.mark.parametrize("change", [
    # an edit after the build: Python itself would load the stale .so
    lambda pkg: _append(os.path.join(pkg, "wasm", "leb128.py"), "\n# edited\n"),
    # its static types (the .pxd beside it) are part of what was compiled
    lambda pkg: _append(os.path.join(pkg, "wasm", "leb128.pxd"), "# types\n"),
    # no manifest: an extension file left over from an older build
    lambda pkg: os.remove(os.path.join(pkg, native.MANIFEST)),
    lambda pkg: _append(os.path.join(pkg, native.MANIFEST), "not json"),
], ids=["edited-source", "edited-pxd", "no-manifest", "corrupt-manifest"])
def test_a_stale_build_loads_python(compiled_tree, tmp_path, change):
    assert _probe(_variant(compiled_tree, tmp_path, change)) == "python"


def test_a_damaged_extension_file_falls_back_to_python(compiled_tree, tmp_path):
    def damage(pkg):
        entry = native.read_manifest(pkg)[NAME]
        with open(os.path.join(pkg, entry["file"]), "wb") as f:
            f.write(b"not an ELF file")
    assert _probe(_variant(compiled_tree, tmp_path, damage)) == "python"


def test_an_extension_of_another_interpreter_is_not_loaded(compiled_tree, tmp_path):
    def foreign(pkg):
        manifest = native.read_manifest(pkg)
        old = os.path.join(pkg, manifest[NAME]["file"])
        manifest[NAME]["file"] = os.path.join("wasm", "leb128.cpython-27-foreign.so")
        os.rename(old, os.path.join(pkg, manifest[NAME]["file"]))
        with open(os.path.join(pkg, native.MANIFEST), "w") as f:
            json.dump(manifest, f)
    assert _probe(_variant(compiled_tree, tmp_path, foreign)) == "python"


def test_a_package_in_a_zip_is_left_to_pythons_own_finders(tmp_path):
    pkg = copy_package(str(tmp_path / "src"))
    archive = shutil.make_archive(str(tmp_path / "app"), "zip", os.path.dirname(pkg), "loom_post")
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": archive})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["file"].startswith(archive)


def test_the_digest_covers_each_source_file(tmp_path):
    pkg = copy_package(str(tmp_path))
    pxd = os.path.join(pkg, "wasm", "leb128.pxd")
    os.remove(pxd)      # leb128 has one: the digest without it, then with an empty one
    before = native.source_digest(pkg, NAME)
    _append(pxd, "")
    assert native.source_digest(pkg, NAME) != before   # an empty .pxd is still a file
    assert native.source_files(pkg, NAME)[0].endswith("leb128.py")


# ---- the installed build ------------------------------------------------------

def _installed_build():
    built = native.read_manifest(native.PKG_DIR)
    if not built:
        pytest.skip("this install has no compiled build (no Cython or no C compiler when "
                    "it was installed): loom-post runs as pure Python")
    return built


def test_the_installed_build_compiled_every_hot_module_from_these_sources():
    built = _installed_build()
    assert sorted(built) == sorted(native.HOT)
    for name, entry in built.items():
        assert native.compiled_file(native.PKG_DIR, name, entry), f"{name} is stale"


def _optimize(src, out, pure):
    env = {**os.environ, native.PURE_ENV: "1" if pure else ""}
    proc = subprocess.run([sys.executable, "-m", "loom_post", "optimize", "--no-cache",
                           src, "-o", out], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    with open(out, "rb") as f:
        return f.read()


def test_compiled_and_pure_python_write_the_same_bytes(tmp_path, corpus):
    _installed_build()
    inputs = [os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")]
    inputs += [p for p in corpus if os.path.getsize(p) < 200_000]
    for i, src in enumerate(inputs):
        pure = _optimize(src, str(tmp_path / f"{i}.pure.wasm"), pure=True)
        fast = _optimize(src, str(tmp_path / f"{i}.fast.wasm"), pure=False)
        assert pure == fast, src


def test_version_says_which_build_runs(compiled_tree, tmp_path, capsys):
    pkg = os.path.join(compiled_tree, "loom_post")
    assert native.describe(pkg, {}) == f"compiled build: 1 of {len(native.HOT)} hot modules"
    assert native.describe(pkg, {native.PURE_ENV: "1"}) == \
        f"pure Python, {native.PURE_ENV} is set"
    stale = _variant(compiled_tree, tmp_path, lambda p: _append(
        os.path.join(p, "wasm", "leb128.py"), "\n# edited\n"))
    assert native.describe(os.path.join(stale, "loom_post"), {}) == (
        f"compiled build: 0 of {len(native.HOT)} hot modules; 1 changed since the build "
        "run as Python (reinstall to recompile)")
    assert native.describe(str(tmp_path), {}) == "pure Python, no compiled build"
    from loom_post.cli import main
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"loom-post 0.1.0 ({native.describe()})\n"
