"""Most-referenced functions first.

What it does
    Reorders the defined functions so that those referenced most often get the
    smallest indices, and so the shortest LEB128s: a reference is a `call`,
    `return_call` or `ref.func` in a body, an element segment entry, an export
    or the start function. Functions with the same count keep their relative
    order. Every index space that names functions is rewritten (see
    funcindex.py), the name section included; imports stay where they are
    (function indices count imports first, and import order is visible to the
    host).

Why it is safe
    An index is a name: renaming every function consistently everywhere it is
    named changes no behaviour. What moves is code layout (DWARF is dropped by
    the pipeline as for any code change). A module that still carries
    wasm-bindgen's own custom sections (`__wasm_bindgen_unstable`: the output
    of rustc before wasm-bindgen ran) keeps its order: wasm-bindgen reads that
    module with its own expectations, which are not checked here. Modules that
    refer to functions in ways funcindex.py does not rewrite are left alone.

What it costs
    Every body's references are read from the run's store (passes/bodies.py):
    those of a body the function phase rewrote were noted while it was
    encoded, the others come from bodies decoded earlier in the run; then the
    code section is written in the new order. The pipeline keeps the result only when the
    module got strictly smaller (a minimal index may grow when its function
    moves back; the gate weighs that exactly, on the whole module).
"""

from loom_post.passes import facts, funcindex
from loom_post.passes.base import ModulePass

_WBINDGEN = "__wasm_bindgen_unstable"


class RenumberFunctionsPass(ModulePass):
    name, default, counters, summary = facts(__name__)
    shares_bodies = True

    def run_module(self, module, protected, stats, bodies=None):
        if module.custom_sections(_WBINDGEN) or not funcindex.understood(module):
            return
        if len(module.code) + module.num_imported_funcs <= 128:
            return  # every index is one byte already
        try:
            spans = [funcindex.spans(module, pos, bodies) for pos in range(len(module.code))]
            counts = _counts(module, spans)
        except (ValueError, IndexError):
            return
        n_imp = module.num_imported_funcs
        order = sorted(range(len(module.code)), key=lambda pos: -counts.get(pos + n_imp, 0))
        if order == list(range(len(module.code))):
            return
        try:
            funcindex.rewrite(module, spans, funcindex.Layout(module, order))
        except (ValueError, IndexError):
            return
        moved = sum(1 for new, old in enumerate(order) if new != old)
        stats.count("functions_moved", moved)
        stats.functions_changed = moved


def _counts(module, spans):
    counts = {}
    for found in spans:
        for _s, _e, t in found:
            counts[t] = counts.get(t, 0) + 1
    for index in funcindex.other_references(module):
        counts[index] = counts.get(index, 0) + 1
    return counts


PASS = RenumberFunctionsPass()
