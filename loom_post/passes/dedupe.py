"""Duplicate function elimination.

What it does
    Defined functions with the same type index and byte-identical bodies
    (locals included) become one: the one with the lowest index is kept, every
    reference to another is redirected to it, and the others are removed. A
    reference is a `call`, `return_call` or `ref.func` in any body, an element
    segment entry (function index or `ref.func` expression, all eight
    encodings), a global initializer, an export or the start function. Removing
    a function renumbers every later one (function indices count imports
    first), so every reference is mapped again, and the name section keeps the
    kept function's names (local and label names too) and drops the removed
    ones'. Two bodies that differed only in calls to twins become identical
    once those calls point to the same function: bodies are compared with their
    references resolved to the kept function, round after round, until a round
    merges nothing.

Why it is safe
    A call runs the callee's body on the same arguments; two functions of the
    same type with the same body compute the same thing from the same state, so
    calling either is the same. Table entries keep their type, so call_indirect
    checks pass as before. What changes: two exports of merged functions are the
    same function (in JavaScript `exports.a === exports.b`), like binaryen's
    duplicate-function-elimination. Never merged: wasm-bindgen's describe
    functions and everything they call (the pipeline's `protected`), whose
    identity wasm-bindgen's interpreter relies on. A module carrying sections
    that refer to code by index or offset which this pass does not rewrite
    (`linking`, `reloc.*`, `metadata.code.*`) or a table with an initializer
    expression is left alone. In the code section, a minimal index (or body
    size, or count) is written minimally (a new one is never larger than the
    old one, so it may get shorter) and a padded one keeps its width, so this
    pass saves the removed bodies and the bytes its renumbering saves, never
    what compacting saves (funcindex.py does the rewriting).

What it costs
    Bodies are first grouped by their raw bytes, which costs nothing when no
    two are equal (the common case for optimized modules). Only when some are
    equal is every body decoded once to find its references; each round then
    rebuilds one key per function. The pipeline keeps the result only when the
    module got strictly smaller.
"""

from loom_post.passes import facts, funcindex
from loom_post.passes.base import ModulePass


class DedupeFunctionsPass(ModulePass):
    name, default, counters, summary = facts(__name__)
    shares_bodies = True

    def run_module(self, module, protected, stats, bodies=None):
        if not funcindex.understood(module) or not _has_twins(module, protected):
            return
        try:
            refs = [funcindex.references(module, pos, bodies) for pos in range(len(module.code))]
        except ValueError:  # a body that does not decode: indices cannot be mapped
            return
        target = _merge(module, refs, protected, stats)
        if not target:
            return
        order = [pos for pos in range(len(module.code)) if module.func_index(pos) not in target]
        try:
            layout = funcindex.Layout(module, order, target)
            funcindex.rewrite(module, [spans for _chunks, spans in refs], layout)
        except (ValueError, IndexError):
            return  # a section this pass cannot rewrite: leave the module alone
        stats.count("functions_removed", len(target))
        stats.functions_changed = len(target)


def _key_type(module, pos):
    return module.func_types[module.func_index(pos)]


def _has_twins(module, protected):
    seen = set()
    for pos in range(len(module.code)):
        if module.func_index(pos) in protected:
            continue
        key = (_key_type(module, pos), funcindex.body(module, pos))
        if key in seen:
            return True
        seen.add(key)
    return False


def _merge(module, refs, protected, stats):
    """{removed function index: the index it was merged into}, round after
    round until a round merges nothing."""
    target = {}
    while True:
        stats.count("rounds")
        groups = {}
        for pos, (chunks, spans) in enumerate(refs):
            index = module.func_index(pos)
            if index in protected or index in target:
                continue
            key = (_key_type(module, pos), chunks,
                   tuple(_find(target, t) for _s, _e, t in spans))
            groups.setdefault(key, []).append(index)
        merged = False
        for members in groups.values():
            for other in members[1:]:
                target[other] = members[0]
                merged = True
        if not merged:
            return target


def _find(target, index):
    return funcindex.find(target, index)


PASS = DedupeFunctionsPass()
