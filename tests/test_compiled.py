"""The optional compiled build of the hot modules (Cython, pure-Python mode).

The `.pxd` files beside cse.py, stack_types.py, zero_sets.py, instructions.py and leb128.py give Cython
static types for those modules; plain Python never reads them. These tests
compile the typed modules into a copy of the package as setup.py does
(tests/native_build.py; skipped without Cython or a C compiler) and check that the compiled modules are the ones imported and
that they give exactly the bytes and report of the pure-Python modules; and
that the pure-Python package runs where `import cython` fails.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import corpus_modules
from native_build import build_copy, copy_package

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")
# The modules that have a .pxd beside them.
TYPED = ["loom_post.passes.cse", "loom_post.wasm.stack_types", "loom_post.passes.zero_sets",
         "loom_post.wasm.instructions", "loom_post.wasm.leb128"]
# A small module of the corpus exercises more of each module than the example.
CORPUS_PICK = ("jsquash-squoosh-hqx.wasm", "wasm-gzip.wasm")


@pytest.fixture(scope="module")
def pure_tree(tmp_path_factory):
    tree = tmp_path_factory.mktemp("pure")
    copy_package(tree)
    return tree


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory):
    """A copy whose typed modules are compiled as setup.py compiles them."""
    return build_copy(tmp_path_factory.mktemp("compiled"), TYPED)


def _optimize(tree, src, out_dir, env_extra=None):
    out = os.path.join(out_dir, os.path.basename(src) + ".out")
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-m", "loom_post", "optimize", "--no-cache",
                           "--format", "json", "-j", "1", src, "-o", out],
                          cwd=out_dir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    with open(out, "rb") as f:
        return f.read(), report


def _comparable(report):
    """The report without what may differ between two runs of the same
    optimizer: paths and any timing (floats)."""
    return _strip(report)


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items()
                if "path" not in k and "output" not in k and not isinstance(v, float)}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def _inputs():
    picks = [EXAMPLE]
    by_name = {os.path.basename(p): p for p in corpus_modules()}
    picks += [by_name[n] for n in CORPUS_PICK if n in by_name][:1]
    return picks


def test_the_compiled_modules_are_the_ones_imported(compiled_tree):
    code = ("import importlib, sys\n"
            "for m in sys.argv[1:]:\n"
            "    f = importlib.import_module(m).__file__\n"
            "    assert f.endswith('.so') or f.endswith('.pyd'), f\n")
    names = TYPED
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(compiled_tree)), cwd=compiled_tree)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("src", _inputs(), ids=os.path.basename)
def test_compiled_and_pure_write_the_same_bytes(pure_tree, compiled_tree, tmp_path, src):
    pure_dir, cy_dir = tmp_path / "pure", tmp_path / "cy"
    pure_dir.mkdir()
    cy_dir.mkdir()
    pure_bytes, pure_report = _optimize(pure_tree, src, pure_dir)
    cy_bytes, cy_report = _optimize(compiled_tree, src, cy_dir)
    assert cy_bytes == pure_bytes
    assert _comparable(cy_report) == _comparable(pure_report)


def test_compiled_typing_raises_the_same_errors(pure_tree, compiled_tree):
    """The typed walk's errors (a wrong operand, an underflow, a bad local)
    are worded as the pure walk words them."""
    code = r"""
import sys
from loom_post.wasm import opcodes as O
from loom_post.wasm.instructions import Body
from loom_post.wasm.stack_types import StackTypeError, stack_effects
class M:
    types = [((), ())]; func_types = [0]; num_imported_funcs = 0
    globals = []; tables = []; tags = []; memories = []
    def func_index(self, pos): return pos
    def func_type(self, i): return self.types[self.func_types[i]]
def ins(name, imm=None): return (O.BY_NAME[name], imm, -1, -1)
cases = [[ins("i64.const", 1), ins("i32.eqz"), ins("drop")],
         [ins("i32.add")], [ins("local.get", 3)], [ins("f32.const", b"\0\0\0\0"), ins("local.set", 0)],
         [ins("i32.const", 1), ins("i64.const", 2), ins("i32.add"), ins("drop")],
         [ins("block", None), ins("i32.const", 1), ins("end")], [ins("br", 5)],
         [ins("i32.const", 0), ins("i32.load", (2, 0, 0)), ins("drop")],
         # dead code with nested blocks, then the arm's end typed again
         [ins("block", None), ins("unreachable"), ins("block", None), ins("loop", None),
          ins("i32.const", 1), ins("drop"), ins("end"), ins("end"), ins("i64.const", 2),
          ins("drop"), ins("end"), ins("i32.const", 3), ins("drop")]]
for case in cases:
    body = Body([(1, O.I32_T)], case + [ins("end")], -1, -1, -1)
    try:
        print(stack_effects(M(), 0, body))
    except StackTypeError as e:
        print("error:", e)
"""
    outs = [_stdout_in(tree, code) for tree in (pure_tree, compiled_tree)]
    assert outs[0] == outs[1]
    assert outs[0].count("error:") >= 5


def test_compiled_decoding_raises_the_same_errors(pure_tree, compiled_tree):
    """The typed decoder reads bodies cut or damaged on each of its paths
    (every prefix of a body with each immediate kind, and single-byte
    damage) to the same instructions, offsets and errors as the pure one."""
    code = r"""
from loom_post.wasm.instructions import decode_body
body = bytes.fromhex("01027f" "4180014100" "2802904e" "2802808001" "104110c001" "1080800100"
                     "0240" "027f" "02808000" "0b0b0b" "42ffff7f1a" "430000803f1a" "fc0a0000"
                     "0e020001021a" "1b" "d070" "0b")
cases = [body[:n] for n in range(len(body) + 1)]
cases += [body[:n] + bytes([b]) + body[n + 1:] for n in range(len(body)) for b in (0x80, 0xff, 0x0b)]
for case in cases:
    try:
        d = decode_body(case, 0, len(case))
        print(d.locals, d.instrs, d.code_start, d.minimal)
    except Exception as e:
        print("error:", type(e).__name__, e, e.offset)
"""
    outs = [_stdout_in(tree, code) for tree in (pure_tree, compiled_tree)]
    assert outs[0] == outs[1]
    assert outs[0].count("error:") >= 100 and "LEB128" in outs[0]


def _stdout_in(tree, code):
    """What `python -c code` prints with `tree`'s loom_post first on the path."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_pure_python_runs_where_cython_cannot_be_imported(tmp_path):
    """No module needs Cython at run time: with `import cython` failing, the
    package still optimizes the example."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoCython:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('cython', 'Cython'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, _NoCython())\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(blocker), ROOT])}
    proc = subprocess.run([sys.executable, "-c", "import cython"], capture_output=True,
                          env=dict(os.environ, **env))
    assert proc.returncode != 0  # the blocker works
    tree = tmp_path / "pure"
    copy_package(tree)
    data, report = _optimize(tree, EXAMPLE, out_dir,
                             {"PYTHONPATH": os.pathsep.join([str(blocker), str(tree)])})
    assert data[:4] == b"\0asm" and report
