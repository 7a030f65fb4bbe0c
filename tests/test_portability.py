"""Portability: loom-post loads and runs `inspect` where fcntl does not exist
(Windows). Here fcntl is made unimportable in a fresh interpreter by a meta-path
blocker, every loom_post module is imported, and `inspect` runs on a real module."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm")

_PROGRAM = r"""
import importlib, pkgutil, sys

class NoFcntl:
    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ImportError("fcntl blocked (as on Windows)")
        return None

sys.modules.pop("fcntl", None)
sys.meta_path.insert(0, NoFcntl())

import loom_post
# __main__ runs the CLI when imported; main() below runs the same code.
names = [m.name for m in pkgutil.walk_packages(loom_post.__path__, "loom_post.")
         if m.name != "loom_post.__main__"]
for name in names:
    importlib.import_module(name)
assert "fcntl" not in sys.modules, "fcntl was imported"
print("imported", len(names))
from loom_post.cli import main
sys.exit(main(["inspect", "--top", "2", sys.argv[1]]))
"""


def _run(program, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_every_module_imports_and_inspect_runs_without_fcntl():
    r = _run(_PROGRAM, EXAMPLE)
    assert r.returncode == 0, r.stderr
    count = int(r.stdout.split("\n", 1)[0].split()[1])
    assert count > 40  # every module of the package, not a handful
    assert "kernel_sched.wasm: code section" in r.stdout


def test_the_blocker_really_blocks():
    """The blocker is effective: a bare `import fcntl` fails under it."""
    program = _PROGRAM.split("import loom_post")[0] + "import fcntl\n"
    r = _run(program)
    assert r.returncode != 0 and "fcntl blocked" in r.stderr


def test_pyproject_declares_platforms():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    for classifier in ("Operating System :: POSIX :: Linux", "Operating System :: MacOS",
                       "Operating System :: Microsoft :: Windows"):
        assert classifier in text
