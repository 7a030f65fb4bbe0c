"""The budget keys of each measure (loom_post/sizes.py), in one table.

Every measure has the same three budgets: an absolute cap, growth from the
optimizer's input to its output, and growth since the baseline. The code
section keeps the names it always had; the others follow them.
"""

from loom_post.sizes import MEASURES

# measure -> (absolute cap, growth over the optimizer's input, growth since the baseline)
KEYS = {
    "code": ("max-code-size", "max-growth", "max-growth-vs-baseline"),
    "file": ("max-file-size", "max-file-growth", "max-file-growth-vs-baseline"),
    "gzip": ("max-gzip-size", "max-gzip-growth", "max-gzip-growth-vs-baseline"),
    "brotli": ("max-brotli-size", "max-brotli-growth", "max-brotli-growth-vs-baseline"),
}
assert tuple(KEYS) == MEASURES

NEVER_GROW = "never-grow"
OPTIMIZE_FOR = "optimize-for"
OPTIMIZE_FOR_VALUES = ("code", "gzip", "brotli")
SIZE_KEYS = frozenset(k[0] for k in KEYS.values())
GROWTH_KEYS = frozenset(k[1] for k in KEYS.values())
BASELINE_KEYS = frozenset(k[2] for k in KEYS.values())
# The keys the file, gzip and brotli measures add to configuration (code's exist).
NEW_KEYS = tuple(k for m in MEASURES[1:] for k in KEYS[m]) + (NEVER_GROW, OPTIMIZE_FOR)


def warn_key(key):
    """The soft level of a budget key: max-code-size -> warn-code-size."""
    return "warn-" + key[len("max-"):]


# Every budget has a soft level, named from the same table so that none is
# forgotten when a budget is added: warn key -> the hard key it shadows.
WARN_KEYS = {warn_key(k): k for keys in KEYS.values() for k in keys}
# Growth since the baseline smaller than this (bytes or a percentage of the
# baseline size) is treated as noise: it neither fails nor warns.
MIN_CHANGE = "min-change"
SOFT_KEYS = tuple(WARN_KEYS) + (MIN_CHANGE,)


def hard_key(key):
    """The hard budget key a key stands for (itself unless it is a warn- key)."""
    return WARN_KEYS.get(key, key)


def attr(key):
    """The ModuleSettings attribute of a key: max-gzip-size -> max_gzip_size."""
    return key.replace("-", "_")


def measure_of(key):
    key = hard_key(key)
    for measure, keys in KEYS.items():
        if key in keys:
            return measure
    raise KeyError(key)


def init_settings(settings):
    """The defaults of the new keys: no file/gzip/brotli budgets; the optimizer
    may grow none of the measures, and prefers the smaller code section where
    rewrites trade one measure against another."""
    for key in NEW_KEYS + SOFT_KEYS:
        setattr(settings, attr(key), None)
    settings.never_grow = MEASURES
    settings.optimize_for = "code"


def parse_optimize_for(value):
    """The `optimize-for` measure; ValueError for anything else."""
    if value not in OPTIMIZE_FOR_VALUES:
        raise ValueError(f"expected one of {', '.join(repr(v) for v in OPTIMIZE_FOR_VALUES)}")
    return value


def measures_needed(settings, optimizing=False):
    """The measures some budget of `settings` needs (growth-over-input budgets
    only when `optimizing`)."""
    out = []
    for measure, (size, growth, vs_base) in KEYS.items():
        keys = (size, vs_base, growth) if optimizing else (size, vs_base)
        if any(getattr(settings, attr(k), None) is not None for k in keys):
            out.append(measure)
    return out
