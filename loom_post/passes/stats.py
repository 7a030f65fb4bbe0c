"""What a pass reports (`PassStats`), apart from the pass protocol (base.py),
which imports stack typing: a result restored from the cache holds these
without a pass or a function ever being typed (cached_run.py)."""


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
