"""The size gate: measures one module against the budgets its configuration sets.

Four measures (loom_post/sizes.py: code section, whole file, gzip -9, brotli
q11), each with three kinds of budget (budget/measures.py has the key names):
  max-growth / max-{file,gzip,brotli}-growth
                          growth from the optimizer's input to its output; only
                          when there was an optimizer input (`optimize`, not `check`)
  max-code-size / max-{file,gzip,brotli}-size
                          an absolute cap
  max-growth-vs-baseline / max-{file,gzip,brotli}-growth-vs-baseline
                          growth since the size recorded in the baseline file;
                          a module the baseline does not list is new and has no
                          such budget (the caps still apply)
A growth allowance written as a percentage is turned into bytes (rounded down)
from its reference: the optimizer's input, or the baseline.

API other layers rely on:
  evaluate(path, module, config, code_bytes_before=None, sizes=None,
           sizes_before=None) -> Verdict
  Verdict.path, .code_bytes, .code_bytes_before, .sizes, .sizes_before,
          .budgets (list of BudgetResult), .status
  BudgetResult.kind, .measure, .limit, .actual, .status ("pass"/"fail"), .message
  require_baselines(config, paths): ConfigError up front for a missing baseline file
  grew_most(verdict, top=5) -> [baseline.FunctionChange] (functions that grew most
  since the baseline, by name when the module has a name section)
"""

from __future__ import annotations

from loom_post.budget import baseline as baseline_mod
from loom_post.budget.measures import KEYS, SIZE_KEYS, attr, measure_of
from loom_post.sizes import LABELS, MEASURES, Sizes
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
        self.measure = measure_of(kind)
        self.status = "pass" if actual <= limit else "fail"
        self.message = message
        self.reference = reference    # bytes a growth is measured from, if any
        self.spec = spec              # the allowance as configured (bytes or Percent)

    @property
    def over_by(self):
        return max(0, self.actual - self.limit)

    def limit_text(self):
        """The limit for people: "850 B", "+0 B", "+8 B (1% of 811 B)"."""
        if self.kind in SIZE_KEYS:
            return f"{self.limit} B"
        text = f"+{self.limit} B"
        if isinstance(self.spec, Percent):
            text += f" ({self.spec} of {self.reference} B)"
        return text

    def actual_text(self):
        if self.kind in SIZE_KEYS:
            return f"{self.actual} B"
        sign = "+" if self.actual >= 0 else ""
        return f"{sign}{self.actual} B"

    def to_json(self):
        out = {"kind": self.kind, "measure": self.measure, "limit": self.limit,
               "actual": self.actual,
               "status": self.status, "message": self.message}
        if self.reference is not None:
            out["reference"] = self.reference
        if isinstance(self.spec, Percent):
            out["limit_percent"] = float(self.spec.value)
        return out

    def __repr__(self):
        return f"BudgetResult({self.kind!r}, limit={self.limit}, actual={self.actual}, {self.status})"


class Verdict:
    def __init__(self, path, code_bytes, code_bytes_before, budgets, sizes=None,
                 sizes_before=None):
        self.path = path
        self.code_bytes = code_bytes
        self.code_bytes_before = code_bytes_before
        self.budgets = budgets
        self.sizes = sizes                   # sizes.Sizes of the module
        self.sizes_before = sizes_before     # of the optimizer's input, if any
        self.baseline_sizes = {}             # measure -> bytes recorded in the baseline
        self.key = None                 # the module's path relative to the config
        self.baseline_path = None       # the baseline file consulted, if any
        self.baseline_bytes = None      # code bytes recorded there, if listed
        self.baseline_functions = None  # {function: bytes} recorded there
        self.functions = None           # {function: bytes} now (when a baseline is listed)
        self.missing_baseline = None    # a configured baseline file not written yet

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
        if self.sizes is not None:
            out.update(self.sizes.to_json())
        if self.sizes_before is not None:
            out.update(self.sizes_before.to_json("_before"))
        for m, n in self.baseline_sizes.items():
            if m != "code":
                out[f"baseline_{m}_bytes"] = n
        return out

    def size(self, measure):
        """The module's size in `measure` if it was measured, else None."""
        return self.sizes.known(measure) if self.sizes is not None else None


def _growth(kind, spec, reference, now, since):
    limit = allowance(spec, reference)
    grew = now - reference
    verb = f"grew by {grew}" if grew >= 0 else f"shrank by {-grew}"
    message = (f"{LABELS[measure_of(kind)]} {verb} bytes ({percent(now, reference)}) {since} "
               f"({reference} -> {now} bytes)")
    return BudgetResult(kind, limit, grew, message, reference=reference, spec=spec)


def _cap(kind, limit, now):
    message = f"{LABELS[measure_of(kind)]} is {now} bytes"
    if now > limit:
        message += f", {now - limit} over the limit"
    return BudgetResult(kind, limit, now, message, spec=limit)


def evaluate(path, module, config, code_bytes_before=None, sizes=None, sizes_before=None,
             missing_baseline_ok=False):
    """The Verdict of `module` (read from `path`). `sizes` / `sizes_before`:
    sizes.Sizes of the module and of the optimizer's input (code_bytes_before
    alone is enough when only code budgets apply). `missing_baseline_ok`: a
    baseline file that does not exist yet skips the *-vs-baseline budgets and
    sets Verdict.missing_baseline (the build routes' first run) instead of
    raising ConfigError."""
    settings = config.settings_for(path)
    sizes = sizes if sizes is not None else Sizes(module.data, module.code_size)
    if sizes_before is None and code_bytes_before is not None:
        sizes_before = Sizes.known_only(code=code_bytes_before)
    budgets = []
    for measure, (cap_key, growth_key, _) in KEYS.items():
        growth, cap = getattr(settings, attr(growth_key)), getattr(settings, attr(cap_key))
        if sizes_before is not None and growth is not None:
            budgets.append(_growth(growth_key, growth, sizes_before.get(measure),
                                   sizes.get(measure), "over the optimizer's input"))
        if cap is not None:
            budgets.append(_cap(cap_key, cap, sizes.get(measure)))
    before = sizes_before.known("code") if sizes_before is not None else None
    verdict = Verdict(path, sizes.get("code"), before, budgets, sizes, sizes_before)
    verdict.key = config.module_key(path)
    if settings.baseline:
        _against_baseline(verdict, module, config, settings, missing_baseline_ok)
    return verdict


def _against_baseline(verdict, module, config, settings, missing_ok=False):
    base = config.baseline_for(settings)
    wanted = [(m, KEYS[m][2], getattr(settings, attr(KEYS[m][2]))) for m in MEASURES]
    wanted = [w for w in wanted if w[2] is not None]
    if wanted and not base.exists and missing_ok:
        verdict.missing_baseline = base.path
        return
    if wanted and not base.exists:
        raise ConfigError("the baseline file does not exist; `loom-post baseline` records one",
                          path=base.path)
    verdict.baseline_path = base.path
    entry = base.get(verdict.key)
    if entry is None:
        return
    verdict.baseline_bytes = entry["code_bytes"]
    verdict.baseline_functions = entry.get("functions", {})
    verdict.functions = baseline_mod.function_sizes(module)
    verdict.baseline_sizes = {m: entry[f"{m}_bytes"] for m in MEASURES
                              if isinstance(entry.get(f"{m}_bytes"), int)}
    for measure, key, spec in wanted:
        if measure not in verdict.baseline_sizes:
            raise ConfigError(f"{key} is set but the baseline has no "
                              f"{measure}_bytes for {verdict.key} (it was recorded by an "
                              f"older loom-post); `loom-post baseline` records it",
                              path=base.path)
        verdict.budgets.append(_growth(key, spec, verdict.baseline_sizes[measure],
                                       verdict.sizes.get(measure), "since the baseline"))


def require_baselines(config, paths):
    """ConfigError before any work when a module's max-growth-vs-baseline points to
    a baseline file that does not exist yet (evaluate would raise it mid-run)."""
    for path in paths:
        settings = config.settings_for(path)
        if any(getattr(settings, attr(k[2])) is not None for k in KEYS.values()) \
                and settings.baseline:
            base = config.baseline_for(settings)
            if not base.exists:
                raise ConfigError(f"the baseline file does not exist; "
                                  f"`loom-post baseline` records one", path=base.path)


def grew_most(verdict, top=5):
    """Functions that grew most since the baseline, largest first ([] without one)."""
    if verdict.baseline_functions is None or verdict.functions is None:
        return []
    return baseline_mod.grew_most(verdict.baseline_functions, verdict.functions, top)
