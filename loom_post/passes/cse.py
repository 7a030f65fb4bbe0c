"""PROVISIONAL: identity pass until the CSE pass lands."""


class CseStats:
    def __init__(self):
        self.functions_changed = 0
        self.deduplicated = 0
        self.rejected_by_cost_gate = 0
        self.not_understood = 0
        self.skipped = 0
        self.bytes_saved = 0
        self.changed_positions = []


def run(module):
    return CseStats()
