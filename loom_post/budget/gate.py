"""The size gate: measures one module against the budgets its configuration sets.

Three kinds of budget, each compared in exact bytes of code section payload (what
`wasm-objdump -h` reports):
  max-growth              growth from the optimizer's input to its output; only
                          when there was an optimizer input (`optimize`, not `check`)
  max-code-size           an absolute cap on the code section
  max-growth-vs-baseline  growth since the size recorded in the baseline file;
                          a module the baseline does not list is new and has no
                          such budget (max-code-size still applies)
A growth allowance written as a percentage is turned into bytes (rounded down)
from its reference: the optimizer's input, or the baseline.

API other layers rely on:
  evaluate(path, module, config, code_bytes_before=None) -> Verdict
  Verdict.path, .code_bytes, .code_bytes_before, .budgets (list of BudgetResult), .status
  BudgetResult.kind, .limit, .actual, .status ("pass"/"fail"), .message
  require_baselines(config, paths): ConfigError up front for a missing baseline file
  grew_most(verdict, top=5) -> [baseline.FunctionChange] (functions that grew most
  since the baseline, by name when the module has a name section)
"""

from __future__ import annotations

from loom_post.budget import baseline as baseline_mod
from loom_post.errors import ConfigError
from loom_post.budget.units import percent
from loom_post.budget.units import Percent, allowance

MAX_GROWTH = "max-growth"
MAX_CODE_SIZE = "max-code-size"
MAX_GROWTH_VS_BASELINE = "max-growth-vs-baseline"


class BudgetResult:
    """One budget measured: `limit` and `actual` are bytes (growth for the growth kinds)."""

    def __init__(self, kind, limit, actual, message="", reference=None, spec=None):
        self.kind, self.limit, self.actual = kind, limit, actual
        self.status = "pass" if actual <= limit else "fail"
        self.message = message
        self.reference = reference    # bytes a growth is measured from, if any
        self.spec = spec              # the allowance as configured (bytes or Percent)

    @property
    def over_by(self):
        return max(0, self.actual - self.limit)

    def limit_text(self):
        """The limit for people: "850 B", "+0 B", "+8 B (1% of 811 B)"."""
        if self.kind == MAX_CODE_SIZE:
            return f"{self.limit} B"
        text = f"+{self.limit} B"
        if isinstance(self.spec, Percent):
            text += f" ({self.spec} of {self.reference} B)"
        return text

    def actual_text(self):
        if self.kind == MAX_CODE_SIZE:
            return f"{self.actual} B"
        sign = "+" if self.actual >= 0 else ""
        return f"{sign}{self.actual} B"

    def to_json(self):
        out = {"kind": self.kind, "limit": self.limit, "actual": self.actual,
               "status": self.status, "message": self.message}
        if self.reference is not None:
            out["reference"] = self.reference
        if isinstance(self.spec, Percent):
            out["limit_percent"] = float(self.spec.value)
        return out

    def __repr__(self):
        return f"BudgetResult({self.kind!r}, limit={self.limit}, actual={self.actual}, {self.status})"


class Verdict:
    def __init__(self, path, code_bytes, code_bytes_before, budgets):
        self.path = path
        self.code_bytes = code_bytes
        self.code_bytes_before = code_bytes_before
        self.budgets = budgets
        self.key = None                 # the module's path relative to the config
        self.baseline_path = None       # the baseline file consulted, if any
        self.baseline_bytes = None      # code bytes recorded there, if listed
        self.baseline_functions = None  # {function: bytes} recorded there
        self.functions = None           # {function: bytes} now (when a baseline is listed)

    @property
    def status(self):
        return "fail" if any(b.status == "fail" for b in self.budgets) else "pass"

    @property
    def failed(self):
        return [b for b in self.budgets if b.status == "fail"]

    @property
    def baseline_delta(self):
        return None if self.baseline_bytes is None else self.code_bytes - self.baseline_bytes

    def to_json(self):
        out = {"path": self.path, "code_bytes": self.code_bytes, "status": self.status,
               "budgets": [b.to_json() for b in self.budgets]}
        if self.code_bytes_before is not None:
            out["code_bytes_before"] = self.code_bytes_before
        if self.baseline_path is not None:
            out["baseline_code_bytes"] = self.baseline_bytes
        return out


def _growth(kind, spec, reference, now, since):
    limit = allowance(spec, reference)
    grew = now - reference
    verb = f"grew by {grew}" if grew >= 0 else f"shrank by {-grew}"
    message = (f"code section {verb} bytes ({percent(now, reference)}) {since} "
               f"({reference} -> {now} bytes)")
    return BudgetResult(kind, limit, grew, message, reference=reference, spec=spec)


def evaluate(path, module, config, code_bytes_before=None):
    settings = config.settings_for(path)
    now = module.code_size
    budgets = []
    if code_bytes_before is not None and settings.max_growth is not None:
        budgets.append(_growth(MAX_GROWTH, settings.max_growth, code_bytes_before, now,
                               "over the optimizer's input"))
    if settings.max_code_size is not None:
        limit = settings.max_code_size
        message = f"code section is {now} bytes"
        if now > limit:
            message += f", {now - limit} over the limit"
        budgets.append(BudgetResult(MAX_CODE_SIZE, limit, now, message, spec=limit))
    verdict = Verdict(path, now, code_bytes_before, budgets)
    verdict.key = config.module_key(path)
    if settings.baseline:
        base = config.baseline_for(settings)
        required = settings.max_growth_vs_baseline is not None
        if required and not base.exists:
            raise ConfigError(f"the baseline file does not exist; "
                              f"`loom-post baseline` records one", path=base.path)
        verdict.baseline_path = base.path
        entry = base.get(verdict.key)
        if entry is not None:
            verdict.baseline_bytes = entry["code_bytes"]
            verdict.baseline_functions = entry.get("functions", {})
            verdict.functions = baseline_mod.function_sizes(module)
            if required:
                budgets.append(_growth(MAX_GROWTH_VS_BASELINE, settings.max_growth_vs_baseline,
                                       entry["code_bytes"], now, "since the baseline"))
    return verdict


def require_baselines(config, paths):
    """ConfigError before any work when a module's max-growth-vs-baseline points to
    a baseline file that does not exist yet (evaluate would raise it mid-run)."""
    for path in paths:
        settings = config.settings_for(path)
        if settings.max_growth_vs_baseline is not None and settings.baseline:
            base = config.baseline_for(settings)
            if not base.exists:
                raise ConfigError(f"the baseline file does not exist; "
                                  f"`loom-post baseline` records one", path=base.path)


def grew_most(verdict, top=5):
    """Functions that grew most since the baseline, largest first ([] without one)."""
    if verdict.baseline_functions is None or verdict.functions is None:
        return []
    return baseline_mod.grew_most(verdict.baseline_functions, verdict.functions, top)
