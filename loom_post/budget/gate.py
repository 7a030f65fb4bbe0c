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
  BudgetResult.kind, .measure, .limit, .actual, .message, .status: "pass", "fail",
  "warn" (a warn- level exceeded) or "approved" (approval.approve()); only "fail"
  fails the gate. Every max- key has a warn- twin (budget/measures.WARN_KEYS) and
  `min-change` makes smaller growth since the baseline pass (.below_min_change)
  require_baselines(config, paths): ConfigError up front for a missing baseline file
  grew_most(verdict, top=5) -> [baseline.FunctionChange] (functions that grew most
  since the baseline, by name when the module has a name section)
"""

from __future__ import annotations

from loom_post.budget.measures import (KEYS, SIZE_KEYS, WARN_KEYS, attr, hard_key,
                                       measure_of, warn_key)
from loom_post.sizes import LABELS, MEASURES, Sizes
from loom_post.errors import ConfigError
from loom_post.budget.units import percent
from loom_post.budget.units import Percent, allowance
from loom_post.words import plural

MAX_GROWTH = "max-growth"
MAX_CODE_SIZE = "max-code-size"
MAX_GROWTH_VS_BASELINE = "max-growth-vs-baseline"


class BudgetResult:
    """One budget measured: `limit` and `actual` are bytes (growth for the growth kinds).

    A soft budget (a warn- key) over its limit has status "warn", never "fail"; a
    hard one is "approved" instead of "fail" when the module was approved to
    grow; a growth since the baseline below `min-change` is "pass" whatever the
    limit (`below_min_change`)."""

    def __init__(self, kind, limit, actual, message="", reference=None, spec=None):
        self.kind, self.limit, self.actual = kind, limit, actual
        self.measure = measure_of(kind)
        self.soft = kind in WARN_KEYS
        self.approved = False
        self.below_min_change = False
        self.message = message
        self.reference = reference    # bytes a growth is measured from, if any
        self.spec = spec              # the allowance as configured (bytes or Percent)

    @property
    def status(self):
        if self.actual <= self.limit or self.below_min_change:
            return "pass"
        if self.soft:
            return "warn"
        return "approved" if self.approved else "fail"

    @property
    def over_by(self):
        return max(0, self.actual - self.limit)

    def limit_text(self):
        """The limit for people: "850 B", "+0 B", "+8 B (1% of 811 B)"."""
        if hard_key(self.kind) in SIZE_KEYS:
            return f"{self.limit} B"
        text = f"+{self.limit} B"
        if isinstance(self.spec, Percent):
            text += f" ({self.spec} of {self.reference} B)"
        return text

    def actual_text(self):
        if hard_key(self.kind) in SIZE_KEYS:
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
        if self.below_min_change:
            out["below_min_change"] = True
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
        self.min_change = None          # bytes or Percent: smaller changes are noise

    def below_min_change(self, measure):
        """Whether the change in `measure` since the baseline is under `min-change`
        (never when no min-change is set or the baseline lacks the measure)."""
        base = self.baseline_sizes.get(measure)
        if self.min_change is None or base is None:
            return False
        return abs(self.sizes.get(measure) - base) < allowance(self.min_change, base)

    @property
    def status(self):
        return "fail" if any(b.status == "fail" for b in self.budgets) else "pass"

    @property
    def failed(self):
        return [b for b in self.budgets if b.status == "fail"]

    @property
    def warned(self):
        return [b for b in self.budgets if b.status == "warn"]

    @property
    def approved(self):
        return [b for b in self.budgets if b.status == "approved"]

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
    verb = f"grew by {plural(grew, 'byte')}" if grew >= 0 else \
        f"shrank by {plural(-grew, 'byte')}"
    message = (f"{LABELS[measure_of(kind)]} {verb} ({percent(now, reference)}) {since} "
               f"({reference} -> {plural(now, 'byte')})")
    return BudgetResult(kind, limit, grew, message, reference=reference, spec=spec)


def _cap(kind, limit, now):
    message = f"{LABELS[measure_of(kind)]} is {plural(now, 'byte')}"
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
        for key in (growth_key, warn_key(growth_key)):
            growth = getattr(settings, attr(key))
            if sizes_before is not None and growth is not None:
                budgets.append(_growth(key, growth, sizes_before.get(measure),
                                       sizes.get(measure), "over the optimizer's input"))
        for key in (cap_key, warn_key(cap_key)):
            cap = getattr(settings, attr(key))
            if cap is not None:
                budgets.append(_cap(key, cap, sizes.get(measure)))
    before = sizes_before.known("code") if sizes_before is not None else None
    verdict = Verdict(path, sizes.get("code"), before, budgets, sizes, sizes_before)
    verdict.key = config.baseline_key(path)
    if settings.baseline:
        _against_baseline(verdict, module, config, settings, missing_baseline_ok)
    return verdict


def _against_baseline(verdict, module, config, settings, missing_ok=False):
    base = config.baseline_for(settings)
    wanted = [(m, k, getattr(settings, attr(k))) for m in MEASURES
              for k in (KEYS[m][2], warn_key(KEYS[m][2]))]
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
    from loom_post.budget import baseline as baseline_mod  # with a baseline entry only
    verdict.functions = baseline_mod.function_sizes(module)
    verdict.baseline_sizes = {m: entry[f"{m}_bytes"] for m in MEASURES
                              if isinstance(entry.get(f"{m}_bytes"), int)}
    verdict.min_change = settings.min_change
    for measure, key, spec in wanted:
        if measure not in verdict.baseline_sizes:
            raise ConfigError(f"{key} is set but the baseline has no "
                              f"{measure}_bytes for {verdict.key} (it was recorded by an "
                              f"older loom-post); `loom-post baseline` records it",
                              path=base.path)
        result = _growth(key, spec, verdict.baseline_sizes[measure],
                         verdict.sizes.get(measure), "since the baseline")
        result.below_min_change = verdict.below_min_change(measure)
        verdict.budgets.append(result)


def require_baselines(config, paths):
    """ConfigError before any work when a module's max-growth-vs-baseline points to
    a baseline file that does not exist yet (evaluate would raise it mid-run)."""
    for path in paths:
        settings = config.settings_for(path)
        if any(getattr(settings, attr(key)) is not None
               for k in KEYS.values() for key in (k[2], warn_key(k[2]))) \
                and settings.baseline:
            base = config.baseline_for(settings)
            if not base.exists:
                raise ConfigError(f"the baseline file does not exist; "
                                  f"`loom-post baseline` records one", path=base.path)


def grew_most(verdict, top=5):
    """Functions that grew most since the baseline, largest first ([] without one)."""
    if verdict.baseline_functions is None or verdict.functions is None:
        return []
    from loom_post.budget import baseline as baseline_mod
    return baseline_mod.grew_most(verdict.baseline_functions, verdict.functions, top)
