"""The size gate: PROVISIONAL minimal version (the budgets issue replaces it).

API other layers rely on:
  evaluate(path, module, config, code_bytes_before=None) -> Verdict
  Verdict.path, .code_bytes, .code_bytes_before, .budgets (list of BudgetResult), .status
  BudgetResult.kind, .limit, .actual, .status ("pass"/"fail"), .message
"""


class BudgetResult:
    def __init__(self, kind, limit, actual, message=""):
        self.kind, self.limit, self.actual = kind, limit, actual
        self.status = "pass" if actual <= limit else "fail"
        self.message = message


class Verdict:
    def __init__(self, path, code_bytes, code_bytes_before, budgets):
        self.path = path
        self.code_bytes = code_bytes
        self.code_bytes_before = code_bytes_before
        self.budgets = budgets

    @property
    def status(self):
        return "fail" if any(b.status == "fail" for b in self.budgets) else "pass"


def evaluate(path, module, config, code_bytes_before=None):
    settings = config.settings_for(path)
    budgets = []
    if code_bytes_before is not None and settings.max_growth is not None:
        growth = module.code_size - code_bytes_before
        budgets.append(BudgetResult("max-growth", settings.max_growth, growth,
                                    f"code section grew by {growth} bytes"))
    if settings.max_code_size is not None:
        budgets.append(BudgetResult("max-code-size", settings.max_code_size, module.code_size))
    return Verdict(path, module.code_size, code_bytes_before, budgets)
