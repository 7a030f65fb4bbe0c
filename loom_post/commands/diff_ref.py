"""`loom-post diff --baseline-ref REF NEW`: NEW's functions against the baseline
entry committed at `git merge-base REF HEAD`, so a pull request sees which
functions grew since its branch point without building the base. The output
has the shape of `diff OLD NEW` ("old" names the baseline file and commit)."""

from __future__ import annotations

import json

from loom_post import exitcodes
from loom_post.budget.baseline import compare_functions, function_sizes
from loom_post.budget.config import load_config
from loom_post.budget.units import percent
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.fileio import load_module
from loom_post.report import JSON_VERSION
from loom_post.sizes import MEASURES, Sizes


def _entry(config, path, ref):
    """(label, baseline entry) for module `path` at the merge-base of `ref`."""
    settings = config.settings_for(path)
    if not settings.baseline:
        raise ConfigError(f"--baseline-ref {ref}: no `baseline` file is configured for "
                          f"{path} ({config.describe()})")
    config.baseline_ref = ref
    base = config.baseline_for(settings)
    key = config.module_key(path)
    entry = base.get(key)
    if entry is None:
        raise ConfigError(f"--baseline-ref {ref}: the baseline at {base.commit[:12]} has no "
                          f"entry for {key}", path=base.path)
    return f"{key} in {base.path} at {base.commit[:12]}", entry


def compare_with_entry(entry, module, measures):
    old, new = entry.get("functions", {}), function_sizes(module)
    changes = compare_functions(old, new)
    doc = {}
    sizes = Sizes(module.data, module.code_size)
    for m in measures:
        if isinstance(entry.get(f"{m}_bytes"), int):
            a, b = entry[f"{m}_bytes"], sizes.get(m)
            doc.update({f"{m}_bytes_before": a, f"{m}_bytes_after": b,
                        f"{m}_delta_bytes": b - a, f"{m}_delta_percent": percent(b, a)})
    before, after = entry["code_bytes"], module.code_size
    doc.update({
        "code_bytes_before": before, "code_bytes_after": after,
        "delta_bytes": after - before, "delta_percent": percent(after, before),
        "functions_before": len(old), "functions_after": len(new),
        "added": sum(1 for c in changes if c.status == "added"),
        "removed": sum(1 for c in changes if c.status == "removed"),
        "changed": sum(1 for c in changes if c.status == "changed"),
        "unchanged": sum(1 for k in old if k in new and old[k] == new[k]),
        "functions": [c.to_json() for c in changes]})
    return doc


def run(args, print_text):
    if args.new is not None:
        raise ConfigError("diff --baseline-ref REF takes one module (NEW): it is compared "
                          "with its baseline entry at the merge-base of REF and HEAD")
    path = args.old
    config = load_config(args.config)
    label, entry = _entry(config, path, args.baseline_ref)
    try:
        module = load_module(path, limit=args.max_input_size or config.max_input_size)[1]
    except InputError as e:
        print_error(str(e))
        return exitcodes.BAD_INPUT
    measures = MEASURES[1:] if not args.no_brotli else MEASURES[1:3]
    doc = {"version": JSON_VERSION, "old": label, "new": path,
           **compare_with_entry(entry, module, measures)}
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print_text(doc, args.top)
    return exitcodes.OK
