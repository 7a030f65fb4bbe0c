"""Runs the passes over one module and checks the result before anyone sees it.

`optimize(data)` returns the new bytes and statistics. It never returns a module
whose code section is larger than the input's, and the output is re-read and
validated (validate.py) before it is returned: a failure raises OutputInvalid
and the caller keeps the input.
"""

from .binary import read_module
from .passes import cse
from .validate import validate_output


class OptimizeResult:
    def __init__(self, data, module, code_bytes_before, cse_stats, dwarf_dropped):
        self.data = data                     # the output bytes (the input when unchanged)
        self.module = module                 # `data`, parsed
        self.code_bytes_before = code_bytes_before
        self.code_bytes_after = module.code_size
        self.cse = cse_stats
        self.dwarf_dropped = dwarf_dropped   # names of .debug_* sections dropped

    @classmethod
    def unchanged(cls, data, module):
        """A module measured without running the passes (`optimize = false`)."""
        return cls(data, module, module.code_size, cse.CseStats(), [])


def optimize(data, module=None, keep_dwarf=False, jobs=1):
    module = module if module is not None else read_module(data)
    before = module.code_size
    stats = cse.run(module, jobs=jobs)
    dropped = []
    if stats.functions_changed and not keep_dwarf:
        # DWARF addresses code by offset: once a body changes it describes
        # code that no longer exists, so drop it as wasm-opt does without -g.
        for sec in module.custom_sections():
            if sec.name.startswith(".debug_"):
                module.drop_section(sec)
                dropped.append(sec.name)
    out = module.to_bytes()
    if out is data:
        return OptimizeResult(data, module, before, stats, [])
    new_module = validate_output(out, changed=stats.changed_positions, original=data)
    if new_module.code_size > before:  # the pass keeps functions that do not shrink
        raise AssertionError("optimizer grew the code section")
    return OptimizeResult(out, new_module, before, stats, dropped)
