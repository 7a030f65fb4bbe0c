"""The pass protocol: what a pass sees and what it reports.

A function pass (`FunctionPass`) is handed one decoded `Function` at a time and
rewrites it by calling `Function.update` with new lists (never by mutating the
lists it was given: the pipeline keeps the original to measure against). A
module pass (`ModulePass`) sees the whole `Module` once, after the function
passes before it have been applied. Either kind counts what it did in its
`PassStats`; the pipeline measures the bytes, decides what is kept, and owns
the worker pool, the wasm-bindgen protection and DWARF.
"""

from loom_post.passes.result import PassStats  # noqa: F401 (passes name it base.PassStats)
from loom_post.wasm.instructions import Body
from loom_post.wasm.stack_types import stack_effects


class Function:
    """One defined function as passes see it: decoded once, typed on demand."""

    __slots__ = ("module", "pos", "index", "locals", "instrs", "_effects")

    def __init__(self, module, pos, body):
        self.module = module
        self.pos = pos
        self.index = module.func_index(pos)
        self.locals = body.locals      # [(count, valtype)]
        self.instrs = body.instrs      # [(op, imm, start, end)]
        self._effects = None

    @property
    def params(self):
        return self.module.func_type(self.index)[0]

    def body(self):
        return Body(self.locals, self.instrs, -1, -1, -1)

    def effects(self):
        """Per instruction (pops, pushed types), or None where unreachable;
        StackTypeError when the body does not type-check."""
        if self._effects is None:
            self._effects = stack_effects(self.module, self.pos, self.body())
        return self._effects

    def update(self, locals_, instrs):
        self.locals = locals_
        self.instrs = instrs
        self._effects = None


class FunctionPass:
    """Rewrites functions one at a time. Subclasses set `name`, `summary`,
    `default` and `counters` (a registered pass from the registry, through
    `passes.facts`) and implement `run_function`."""

    level = "function"
    name = ""
    summary = ""
    default = True
    # The pass's own counters, reported (as 0 when nothing happened) per module.
    counters = ()
    # Counters that count analysis work, reported even when the pipeline keeps
    # the original function (all others only count in functions that were kept).
    analysis_counters = ()
    # A pass that only asks for re-encoding (run_function returns True without
    # changing anything): the pipeline credits it with what writing the
    # function's original instructions minimally saves.
    reencodes = False

    def prepare(self, module):
        """Whatever the pass reads from the module, computed once (before any
        worker is forked). Returned to run_function as `context`."""
        return None

    def run_function(self, context, func, stats):
        """Rewrite `func` (through func.update); True when it changed."""
        raise NotImplementedError

    def after_functions(self, module, stats):
        """Called once the phase's bodies are in `module` (replace_body), for a
        pass that also rewrites other sections (through set_payload)."""


class ModulePass:
    """Sees the whole module once. Subclasses implement `run_module`, which
    changes `module` through its rewriting methods and fills in `stats`. The
    pipeline hands it a module of its own and keeps the result only when the
    module got strictly smaller (see pipeline._module_pass). A body read
    through the shared store must not be changed in place."""

    level = "module"
    name = ""
    summary = ""
    default = True
    counters = ()
    analysis_counters = ()
    # True: run_module takes a fourth argument, the run's shared store of
    # decoded bodies (bodies.Bodies), and reads bodies only through it.
    shares_bodies = False

    def run_module(self, module, protected, stats, bodies=None):
        raise NotImplementedError
