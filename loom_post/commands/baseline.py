"""`loom-post baseline`: record modules' current sizes in the configured baseline file.

The file (the `baseline` key, relative to the configuration file) gets each
module's code section size and per-function sizes under its path relative to the
configuration's directory. Entries of modules not measured this time are kept, so
recording one module never forgets the others. Modules in [[module]] tables with
their own `baseline` go to that file. An unreadable module is reported (exit 3)
and its old entry kept; the readable ones are still recorded.

Each file's read-modify-write happens under a lock on its directory (the file
itself is replaced by a rename, and may not exist yet), so concurrent runs
each add their entries and none is lost.
"""

from __future__ import annotations

import os

from loom_post import exitcodes
from loom_post.budget.baseline import load_baseline
from loom_post.budget.config import load_config, require_paths, resolve_paths
from loom_post.budget.lint import add_strict, fresh_clone, review
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.commands.check import add_no_brotli, nothing_built_text
from loom_post.fileio import load_module, locked_dir, read_bytes
from loom_post.postlink_component import is_component, measured as component_measured
from loom_post.sizes import MEASURES, Sizes
from loom_post.words import plural


def add_parser(sub):
    p = sub.add_parser("baseline", help="record module sizes in the baseline file")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="modules to record (default: the configured `paths` globs)")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    add_no_brotli(p)
    add_strict(p)
    p.set_defaults(func=run)


def run(args):
    config = load_config(args.config)
    paths = resolve_paths(config, args.paths)
    nothing = fresh_clone(config, args.paths, paths)
    review(config, args.paths, strict=args.strict, globs=not nothing, paths=paths)
    if nothing:
        raise ConfigError(f"nothing to record: {nothing_built_text(config)}, then run "
                          f"`loom-post baseline` again")
    paths = require_paths(config, args.paths, paths)
    groups, unconfigured = {}, []
    for path in paths:
        target = config.settings_for(path).baseline
        if target:
            groups.setdefault(target, []).append(path)
        else:
            unconfigured.append(path)
    if not groups:
        raise ConfigError(f"{config.describe()}: no `baseline` file is configured; add e.g. "
                          f"baseline = \"wasm-sizes.json\" to loom-post.toml or "
                          f"[tool.loom-post]")
    # Read every baseline first: a malformed one stops everything before any write.
    for target in groups:
        load_baseline(target, missing_ok=True)
    status = exitcodes.OK
    for target, members in sorted(groups.items()):
        measured = []
        for path in members:
            wanted = MEASURES if not args.no_brotli else MEASURES[:3]
            try:
                data = read_bytes(path, config.max_input_size)
                if is_component(data):
                    measured.extend(component_measured(path, data, config, wanted))
                    continue
                data, module = load_module(path, data)
            except InputError as e:
                print_error(str(e))
                status = exitcodes.BAD_INPUT
                continue
            measured.append((path, module, Sizes(data, module.code_size).measure(wanted)))
        if measured:
            _record(config, target, measured)
    for path in unconfigured:
        print(f"{path}: not recorded: no `baseline` file applies to it")
    return status


def _record(config, target, measured):
    """Add `measured` [(path, Module)] to the baseline file `target`, re-read
    under the lock so that entries another run wrote meanwhile are kept."""
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise ConfigError(f"{target}: cannot write the baseline: "
                          f"directory {directory} does not exist")
    with locked_dir(directory, timeout=config.lock_timeout):  # InputError when it times out
        base = load_baseline(target, missing_ok=True)
        before = set(base.modules)
        for path, module, sizes in measured:
            base.record(config.baseline_key(path), module, sizes)
        base.save()
    keys = {config.baseline_key(m[0]) for m in measured}
    added = len(keys - before)
    kept = len(before - keys)
    print(f"{target}: recorded {plural(len(measured), 'module')} "
          f"({added} new, {len(measured) - added} updated), kept "
          f"{plural(kept, 'other entry', 'other entries')}")
