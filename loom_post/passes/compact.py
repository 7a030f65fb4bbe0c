"""Minimal LEB128s everywhere the linker padded them.

What it does
    Writes every function body again with minimal LEB128s, not only the bodies
    another pass changed. wasm-ld leaves relocated operands (call targets,
    `global.get $__stack_pointer`, i32.const addresses, call_indirect type
    indices) as 5-byte LEB128s so that it can patch them in place; in a final
    module nothing patches them any more. Then it does the same for the
    sections around the code that hold indices and constant expressions:
    function (type indices), global (initializers), export, start, element
    (offsets, function indices, element expressions), data count and data
    (segment offsets and lengths). Type and import sections are left as they
    are (wasm-ld writes them minimally; none of the measured modules pads them).

Why it is safe
    A LEB128 denotes the same number whatever its length, and nothing in a
    final module depends on an instruction's or a section's byte length except
    byte offsets into the code: `.debug_*` (DWARF) sections, which the pipeline
    drops when code moves (unless --keep-dwarf), and an external source map
    named by `sourceMappingURL` (see docs/passes.md). Bodies are decoded and
    re-encoded by the one decoder/encoder pair every pass uses; expressions in
    the other sections are decoded and written back instruction by instruction,
    names, value types and data bytes copied as they are. A section that does
    not decode stays byte for byte.

What it costs
    One encode per function (the pipeline decodes and types each function once
    for all function passes) and one pass over the small sections. A body is
    kept only when its entry is strictly smaller (the pipeline's gate); a
    section only when its payload is strictly smaller; so nothing ever grows.
    Code bytes saved are credited here (`bytes_saved`); bytes saved in the other
    sections are counted in `other_section_bytes_saved`.
"""

from loom_post.passes import facts
from loom_post.passes.base import FunctionPass
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.sections import ENCODERS, encode_function_section


class CompactPass(FunctionPass):
    name, default, counters, summary = facts(__name__)
    reencodes = True

    def run_function(self, context, func, stats):
        return True  # nothing to rewrite: the pipeline re-encodes and measures

    def after_functions(self, module, stats):
        data = module.data
        for sec in module.sections:
            if sec.id not in ENCODERS:
                continue
            try:
                if sec.id == 3:
                    payload = encode_function_section(module.func_types[module.num_imported_funcs:])
                else:
                    payload = ENCODERS[sec.id](data, sec)
            except (DecodeError, IndexError):
                continue  # not understood: kept as it is
            if len(payload) < sec.payload_size:
                module.set_payload(sec, payload)
                stats.count("other_section_bytes_saved", sec.payload_size - len(payload))


PASS = CompactPass()
