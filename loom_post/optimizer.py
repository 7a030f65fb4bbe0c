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
    def __init__(self, data, code_bytes_before, code_bytes_after, cse_stats, dwarf_dropped):
        self.data = data
        self.code_bytes_before = code_bytes_before
        self.code_bytes_after = code_bytes_after
        self.cse = cse_stats
        self.dwarf_dropped = dwarf_dropped   # names of .debug_* sections dropped

    @property
    def changed(self):
        return self.cse.functions_changed > 0 or bool(self.dwarf_dropped)


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
        return OptimizeResult(data, before, before, stats, [])
    new_module = validate_output(out, changed=stats.changed_positions, original=data)
    if new_module.code_size > before:  # the pass keeps functions that do not shrink
        raise AssertionError("optimizer grew the code section")
    return OptimizeResult(out, before, new_module.code_size, stats, dropped)
