"""The pass registry (loom_post/passes/__init__.py) knows each pass by name
without importing its module: what it lists is what the pass itself reads
there (passes.facts), and anything else it is asked is the pass's own."""

import copy
import importlib
import os
import subprocess
import sys

import pytest

from loom_post import passes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = {entry[1]: f"loom_post.passes.{entry[0]}" for entry in passes._REGISTRY}


def _printed(probe):
    """The lines `probe` prints, run in a fresh interpreter (nothing imported yet)."""
    return subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True, check=True).stdout.splitlines()


@pytest.mark.parametrize("entry", passes._REGISTRY, ids=lambda entry: entry[1])
def test_every_registered_module_s_pass_is_the_one_named(entry):
    real = importlib.import_module(f"loom_post.passes.{entry[0]}").PASS
    hit = passes.PASSES[entry[1]]   # what a cache hit reads, the module not imported
    assert (real.name, real.default, real.counters, real.summary) == entry[1:] == \
        (hit.name, hit.default, hit.counters, hit.summary)
    assert hit.load() is real


def test_a_pass_cannot_drift_from_the_registry():
    """Every pass's name, default, counters and summary are what the registry
    says, whatever it says: its class reads them there (also compiled)."""
    probe = ("from loom_post import passes\n"
             "for short in passes._FACTS:\n"
             "    passes._FACTS[short] = (short + '-renamed', False, (short,), 'said ' + short)\n"
             "for short in passes._FACTS:\n"
             "    p = __import__('loom_post.passes.' + short, fromlist=['PASS']).PASS\n"
             "    print(short, p.name, p.default, p.counters, p.summary)\n")
    assert _printed(probe) == [f"{e[0]} {e[0]}-renamed False {(e[0],)} said {e[0]}" for e in passes._REGISTRY]


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


def test_resolving_and_listing_the_passes_imports_no_pass():
    probe = ("import sys\n"
             "from loom_post.cli import main\n"
             "from loom_post.passes import resolve\n"
             "chosen = resolve(None)\n"
             "print(([p.name for p in chosen], [p.counters for p in chosen]))\n"
             "assert main(['optimize', '--list-passes']) == 0\n"
             "print(' '.join(sorted(sys.modules)))\n")
    out = _printed(probe)
    assert out[0] == str(([n for n in MODULES], [passes.PASSES[n].counters for n in MODULES]))
    # --list-passes: one line a pass, in the registry's order
    assert out[1:-1] == [f"{e[1]:<20} {e[4]} ({'on' if e[2] else 'off'} by default)"
                         for e in passes._REGISTRY]
    loaded = set(out[-1].split())
    assert not loaded & set(MODULES.values()), sorted(loaded & set(MODULES.values()))
