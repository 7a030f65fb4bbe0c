"""What a run reports: the `OptimizeResult` of a run over one module and each
pass's `PassStats`. Apart from the pass protocol (base.py, which imports stack
typing) and from the pipeline, so that a result restored from the cache
(cached_run.py) imports neither."""

from loom_post.sizes import Sizes


class PassStats:
    """Per pass: functions changed, bytes saved (both filled in by the pipeline
    from what it kept) and the pass's own counters."""

    def __init__(self, name, counters=()):
        self.name = name
        self.functions_changed = 0
        self.bytes_saved = 0
        self.counters = dict.fromkeys(counters, 0)

    def count(self, key, n=1):
        self.counters[key] = self.counters.get(key, 0) + n

    def get(self, key):
        return self.counters.get(key, 0)

    def add(self, other):
        self.functions_changed += other.functions_changed
        self.bytes_saved += other.bytes_saved
        for key, n in other.counters.items():
            self.count(key, n)

    def to_json(self):
        out = {"bytes_saved": self.bytes_saved, "functions_changed": self.functions_changed}
        out.update(sorted(self.counters.items()))
        return out


class OptimizeResult:
    def __init__(self, data, module, code_bytes_before, passes=(), dwarf_dropped=()):
        self.data = data                     # the output bytes (the input when unchanged)
        self.input_data = data               # the input bytes
        self.module = module                 # `data`, parsed
        self.changed = False                 # data is not the input
        self.code_bytes_before = code_bytes_before
        self.code_bytes_after = module.code_size
        self.passes = {p.name: PassStats(p.name, p.counters) for p in passes}
        self.functions_changed = 0
        self.bytes_saved_by_reencoding = 0   # of the bytes saved: minimal LEB128s alone
        self.not_understood = 0              # functions kept as they are
        self.skipped = 0                     # wasm-bindgen descriptors and their callees
        self.dwarf_dropped = list(dwarf_dropped)  # names of .debug_* sections dropped
        self.notes = []                      # one line each, e.g. why it was not rewritten
        self.function_stats = {}             # position -> [PassStats] of a kept rewrite
        self.never_grow = ("code",)          # the measures the guard kept from growing
        self.functions_reverted = 0          # rewrites the guard undid
        self.guard_confirmations = 0         # whole-file measurements the guard made
        self.guard_after = lambda out: {}    # bytes -> the sizes the guard measured of them
        self.guard_reference = {}            # sizes of the stripped input the guard judged by
        self.sizes_before = Sizes(data, code_bytes_before)
        self.sizes_after = self.sizes_before
        self.code_offsets_changed = False    # a module pass moved or removed code
        self.cache = "off"                   # off, miss, module (a cached result) or own-output
        self.functions_cached = 0            # functions whose outcome came from the cache

    @classmethod
    def unchanged(cls, data, module):
        """A module measured without running the passes (`optimize = false`)."""
        return cls(data, module, module.code_size)
