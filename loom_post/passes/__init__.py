"""The registry of passes: every pass loom-post can run, in its default order.

A pass is chosen by name (config key `passes`, or `optimize --passes`); the
defaults are the passes whose `default` is true, in the order listed here.
"""

from loom_post.passes import compact, cse, dedupe, merge_similar, renumber, zero_sets

PASSES = {p.name: p for p in (dedupe.PASS, merge_similar.PASS, compact.PASS, zero_sets.PASS,
                                  cse.PASS, renumber.PASS)}


class UnknownPass(ValueError):
    pass


def default_names():
    return [name for name, p in PASSES.items() if p.default]


def resolve(names):
    """The pass objects for `names` (None: the defaults), or UnknownPass naming
    the first unknown one."""
    if names is None:
        names = default_names()
    out = []
    for name in names:
        if name not in PASSES:
            raise UnknownPass(f"unknown pass {name!r}; known passes: {', '.join(PASSES)}")
        out.append(PASSES[name])
    return out
