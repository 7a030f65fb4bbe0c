"""Configuration mistakes that would otherwise pass silently, each named with its
near miss: a misspelt config file or [tool.loom_post] table that is never read,
no configuration at all, a `paths` glob or a [[module]] `path` that matches no
module (`my-crate` where cargo writes `my_crate.wasm`), a run from outside the
project. Each is one warning line on stderr; with `--strict` (or `strict = true`)
they are a configuration error (exit 2) before any module is touched.

API: review(config, given, strict=False, cwd=None, globs=True, paths=None) -> list
of warning messages; fresh_clone(config, given, paths) -> bool; add_strict(parser).
"""

from __future__ import annotations

import os

from loom_post.budget.config import (CONFIG_NAME, PYPROJECT, _parse_toml, _show,
                                     near_tool_tables, resolve_paths, similar)
from loom_post.budget.globs import Matcher, glob_files, split
from loom_post.errors import ConfigError, print_warning
from loom_post.words import plural

# Bounds on the search for a near miss, so that a run from $HOME stays fast.
_MAX_CANDIDATES = 5000   # .wasm files
_MAX_DIRS = 3000         # directories
_NEAR_EXTS = (".toml", ".tml", ".yaml", ".yml", ".ini", ".cfg", "")
_SKIP_DIRS = {".git", "incremental", "node_modules", ".fingerprint", "build"}


def review(config, given, strict=False, cwd=None, globs=True, paths=None):
    """Print a warning per mistake found; ConfigError under strict (or the
    config's `strict`). `given`: the module paths typed on the command line (the
    glob checks only apply when the configured globs choose the modules);
    `globs=False`: the caller reports an empty match itself (nothing built yet);
    `paths`: resolve_paths' result when the caller has it (the globs walk once)."""
    cwd = os.path.abspath(cwd or os.getcwd())
    found = discovery_mistakes(config, cwd)
    if not given and config.path is None:
        found.append(_no_config(cwd, _searched_dirs(config, cwd)[-1]))
    if not given and globs:
        found += glob_mistakes(config, _quiet_resolve(config) if paths is None else paths)
    for message in found:
        print_warning(message)
    if found and (strict or config.strict):
        raise ConfigError(f"{len(found)} configuration "
                          f"{'mistake' if len(found) == 1 else 'mistakes'} (see the "
                          f"warnings above); --strict or `strict = true` makes them fatal")
    return found


def add_strict(parser):
    """The --strict option of the commands that review their configuration
    (here, not in commands/check.py: optimize would import check's reports)."""
    parser.add_argument("--strict", action="store_true",
                        help="configuration mistakes (a glob that matches nothing, a misspelt "
                             "config file or table, no configuration found) exit 2 instead of "
                             "warning (config key: strict = true)")


def _quiet_resolve(config):
    try:
        return resolve_paths(config, [])
    except ConfigError:  # outside the project: require_paths reports it next
        return []


# -- files and tables that are never read ---------------------------------------

def _searched_dirs(config, cwd):
    """The directories the upward search looked in, from `cwd` to where it stopped
    (only the file's own directory for a --config file elsewhere)."""
    stop = os.path.dirname(config.path) if config.path else None
    if stop is not None and not (cwd + os.sep).startswith(stop.rstrip(os.sep) + os.sep):
        return [stop]
    d, out = cwd, []
    while True:
        out.append(d)
        if d == stop or os.path.exists(os.path.join(d, ".git")) or (
                stop is None and os.path.isfile(os.path.join(d, PYPROJECT))):
            return out
        parent = os.path.dirname(d)
        if parent == d:
            return out
        d = parent


def discovery_mistakes(config, cwd):
    """Near-miss config files and [tool] tables in the directories searched (and
    in the explicit file's directory)."""
    out = []
    for d in _searched_dirs(config, cwd):
        out += [f"{os.path.join(d, name)} is not read: the file must be named {CONFIG_NAME}"
                for name in _near_file_names(d)]
        pyproject = os.path.join(d, PYPROJECT)
        if os.path.isfile(pyproject):
            try:
                doc = _parse_toml(pyproject)
            except ConfigError:
                continue  # reported when it is the file read
            out += [f"{pyproject}: [tool.{name}] is not read: the table is [tool.loom-post]"
                    for name in near_tool_tables(doc)]
            if config.path == os.path.join(d, CONFIG_NAME) and \
                    isinstance(doc.get("tool"), dict) and "loom-post" in doc["tool"]:
                out.append(f"{pyproject}: [tool.loom-post] is not read: {CONFIG_NAME} in the "
                           f"same directory is used instead")
    return out


def _near_file_names(d):
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name == CONFIG_NAME:
            continue
        low = name.lower().lstrip(".").replace("_", "-")
        stem, ext = os.path.splitext(low)
        near = (stem in ("loom-post", "loompost") and ext in _NEAR_EXTS) or (
            ext == ".toml" and similar(low, CONFIG_NAME, 0.85))
        # the name first: a stat per entry cost ms when run from a full directory
        if near and os.path.isfile(os.path.join(d, name)):
            out.append(name)
    return out


def _no_config(cwd, last):
    """The warning for a run on the defaults; `last`: where the search stopped."""
    hint = _project_below(cwd)
    where = f"; {hint}" if hint else ""
    if os.path.isfile(os.path.join(last, PYPROJECT)):
        stop = f" (the search stopped at {os.path.join(last, PYPROJECT)}, which has none)"
    elif os.path.exists(os.path.join(last, ".git")):
        stop = f" (the search stopped at the repository root {last})"
    else:
        stop = ""
    return (f"no {CONFIG_NAME} or [tool.loom-post] found in {cwd} or the directories above "
            f"it{stop}: the default paths and budgets apply{where}")


def _project_below(cwd):
    """A configuration or Cargo.toml one or two levels below `cwd` (the user ran
    from outside the project), as advice, or ''."""
    for depth in (1, 2):
        pattern = "/".join(["*"] * depth)
        for marker in (CONFIG_NAME, "Cargo.toml"):
            found = glob_files(cwd, f"{pattern}/{marker}")
            if found:
                where = os.path.relpath(os.path.dirname(found[0]), cwd)
                return (f"{where}/ has a {marker}: run loom-post there"
                        + (f" or pass --config {where}/{CONFIG_NAME}"
                           if marker == CONFIG_NAME else ""))
    return ""


# -- globs that match nothing ---------------------------------------------------------

def glob_mistakes(config, paths):
    """A `paths` include that matches no file, a [[module]] path that matches
    none of the modules acted on; each with its near miss."""
    out = []
    includes, _ = split(config.paths)
    candidates = None
    for pattern in includes:
        if glob_files(config.root, pattern):
            continue
        if candidates is None:
            candidates = _wasm_files(config.root)
        out.append(f"{_where(config)}paths: {_show(pattern)} matches no file"
                   + _near(pattern, candidates))
    keys = [config.module_key(p) for p in paths]
    for n, rule in enumerate(config.rules, 1):
        if not keys or any(rule.matcher.matches(k) for k in keys):
            continue
        shown = _show(rule.patterns if len(rule.patterns) > 1 else rule.patterns[0])
        out.append(f"{_where(config)}[[module]] #{n} path = {shown} matches none of the "
                   f"{plural(len(keys), 'module')} checked"
                   + _near_rule(rule, keys))
    return out


def fresh_clone(config, given, paths):
    """True when the configured globs choose the modules, match none (`paths`:
    what resolve_paths found), and no .wasm file exists under the
    configuration's directory at all: a fresh clone, not a misspelt glob (that
    one has a near miss to name)."""
    return not given and not paths and not _wasm_files(config.root)


def _where(config):
    return f"{config.path}: " if config.path else ""


def _wasm_files(root):
    """Module keys ('/'-separated, relative to root) of the .wasm files under root."""
    out = []
    for n, (dirpath, dirnames, filenames) in enumerate(os.walk(root)):
        if n >= _MAX_DIRS:
            break
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in filenames:
            if name.endswith(".wasm"):
                out.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
                if len(out) >= _MAX_CANDIDATES:
                    return out
    return out


def _loosen(pattern):
    """The pattern with `-` and `_` interchangeable outside [...] classes: how
    cargo's file names differ from crate names (my-crate -> my_crate.wasm)."""
    out, in_class = [], False
    for c in pattern:
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        out.append("[-_]" if c in "-_" and not in_class else c)
    return "".join(out)


def _near(pattern, keys):
    """'; did you mean ...' naming the closest existing module, or ''."""
    if not keys:
        return ("; there is no .wasm file under the configuration's directory: not built "
                "yet? (build first, e.g. `cargo build --release --target "
                "wasm32-unknown-unknown`)")
    loose = Matcher([_loosen(pattern)])
    for key in keys:
        if loose.matches(key):
            return f"; did you mean {_show(key)}? (cargo writes `-` in crate names as `_`)"
    import difflib  # only for this warning: not on every run's start-up
    close = difflib.get_close_matches(pattern, keys, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {_show(close[0])}?"
    return f"; {plural(len(keys), '.wasm file')} {'exists' if len(keys) == 1 else 'exist'}, " \
           f"e.g. {_show(keys[0])}"


def _near_rule(rule, keys):
    for pattern in split(rule.patterns)[0]:
        hint = _near(pattern, keys)
        if "did you mean" in hint:
            return hint
    return "; checked: " + ", ".join(_show(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
