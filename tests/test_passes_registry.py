"""The pass registry (loom_post/passes/__init__.py) knows each pass by name
without importing its module: what it lists must be the pass's own, and
anything else it is asked is the pass's own."""

import copy
import importlib
import os
import subprocess
import sys

import pytest

from loom_post import passes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = {entry[1]: f"loom_post.passes.{entry[0]}" for entry in passes._REGISTRY}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_what_the_registry_lists_is_the_pass_s_own(name):
    real = importlib.import_module(MODULES[name]).PASS
    entry = passes.Registered(*next(e for e in passes._REGISTRY if e[1] == name))
    assert (entry.name, entry.default, entry.counters, entry.summary) == \
        (real.name, real.default, real.counters, real.summary)
    assert entry.load() is real


def test_every_pass_module_is_registered():
    found = set()
    for f in os.listdir(os.path.join(ROOT, "loom_post", "passes")):
        if f.endswith(".py"):
            text = open(os.path.join(ROOT, "loom_post", "passes", f)).read()
            if "\nPASS = " in text:
                found.add(f"loom_post.passes.{f[:-3]}")
    assert found == set(MODULES.values())


def test_anything_else_is_the_pass_s_own_and_then_kept():
    entry = passes.Registered(*passes._REGISTRY[-1])
    real = entry.load()
    assert "run_module" not in entry.__dict__
    assert entry.run_module.__self__ is real and entry.level == real.level
    assert "run_module" in entry.__dict__      # the next lookup is a plain attribute
    with pytest.raises(AttributeError):
        entry.no_such_attribute
    with pytest.raises(AttributeError):
        entry.__deepcopy__
    twin = copy.copy(passes.Registered(*passes._REGISTRY[0]))   # built without __init__
    assert twin.name == "dedupe-functions" and twin.load() is passes.PASSES[twin.name].load()


def test_resolving_the_defaults_imports_no_pass():
    probe = ("import sys\n"
             "from loom_post.passes import resolve\n"
             "chosen = resolve(None)\n"
             "print(([p.name for p in chosen], [p.counters for p in chosen]))\n"
             "print(' '.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=ROOT),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == str(([n for n in MODULES], [passes.PASSES[n].counters for n in MODULES]))
    loaded = set(out[1].split())
    assert not loaded & set(MODULES.values()), sorted(loaded & set(MODULES.values()))
