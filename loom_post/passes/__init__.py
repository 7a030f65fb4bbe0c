"""The registry of passes: every pass loom-post can run, in its default order.

A pass is chosen by name (config key `passes`, or `optimize --passes`); the
defaults are the passes whose `default` is true, in the order listed here.

The registry names each pass's module without importing it: a run answered by
the result cache runs no pass, yet importing all six (three of them compiled,
with the analyses they share) cost ~8M instructions, 3% of a warm run on a
large module. What a hit reads of a pass (its name, default and counters; the
summary for --list-passes) is written here only: each pass's class takes it
from `facts`. Anything else imports the pass's module.
"""

import importlib

# (module, name, on by default, counters, summary): the pass's own attributes,
# which its class reads through `facts`
_REGISTRY = (
    ("dedupe", "dedupe-functions", True, ("functions_removed", "rounds"),
     "merge functions with identical type and body; redirect every reference"),
    ("merge_similar", "merge-similar-functions", True,
     ("functions_merged", "shared_bodies", "params_added"),
     "functions differing only in constants: one shared body, thin thunks"),
    ("compact", "compact", True, ("other_section_bytes_saved",),
     "write every function body and index-holding section with minimal LEB128s"),
    ("zero_sets", "redundant-zero-sets", True, ("sets_removed",),
     "remove `local.set $x (i32/i64.const 0)` where $x still holds its zero default"),
    ("cse", "cse", True, ("deduplicated", "rejected_by_cost_gate"),
     "compute repeated pure expressions once and reuse them through a new local"),
    ("renumber", "renumber-functions", True, ("functions_moved",),
     "give the most referenced functions the shortest indices"),
)


class Registered:
    """A pass by name, before its module is imported. Any attribute but the
    listed ones imports the module (`load`) and is the pass's own, kept here
    so that the next lookup costs what the pass's own does (the pipeline reads
    `run_function` once per function)."""

    def __init__(self, module, name, default, counters, summary):
        self._module = f"{__name__}.{module}"
        self.name, self.default, self.counters, self.summary = name, default, counters, summary

    def load(self):
        """The pass object itself (its module's PASS)."""
        return importlib.import_module(self._module).PASS

    def __getattr__(self, attr):
        if attr.startswith("_"):   # copy or pickle probing, or _module not set yet
            raise AttributeError(attr)
        value = getattr(self.load(), attr)
        self.__dict__[attr] = value
        return value

    def __repr__(self):
        return f"<pass {self.name}>"


PASSES = {entry[1]: Registered(*entry) for entry in _REGISTRY}
_FACTS = {entry[0]: entry[1:] for entry in _REGISTRY}


def facts(module):
    """(name, default, counters, summary) of the pass in `module`, a pass
    module's __name__: its class body assigns them from here, so the registry
    is the one place they are written."""
    return _FACTS[module.rpartition(".")[2]]


class UnknownPass(ValueError):
    pass


def default_names():
    return [name for name, p in PASSES.items() if p.default]


def resolve(names):
    """The pass objects for `names` (None: the defaults), or UnknownPass naming
    the first unknown one."""
    if names is None:
        names = default_names()
    out = []
    for name in names:
        if name not in PASSES:
            raise UnknownPass(f"unknown pass {name!r}; known passes: {', '.join(PASSES)}")
        out.append(PASSES[name])
    return out
