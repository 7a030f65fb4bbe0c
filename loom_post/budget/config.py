"""Configuration: which modules loom-post acts on and the size budgets they must meet.

Read from `loom-post.toml` (keys at the top level) or the `[tool.loom-post]` table
of `pyproject.toml`, found by walking up from the working directory, or from the
file given with `--config`. Everything a user can get wrong (unknown key, bad unit,
wrong type, malformed TOML, missing file) is a ConfigError naming the file, the key
and the value, so the CLI exits 2 with one line instead of a traceback.

Discovery, in each directory from the working directory upwards:
  1. `loom-post.toml` wins (even over a pyproject.toml with a [tool.loom-post]
     table in the same directory);
  2. else a `pyproject.toml` with a [tool.loom-post] table is used;
  3. a `pyproject.toml` without that table marks the project root: the search
     stops there and the defaults apply (a parent project's settings are not
     silently borrowed); the search also stops at a directory holding `.git`.
With no configuration file, the defaults apply relative to the working directory.

API other layers rely on:
  load_config(config_file=None, cwd=None) -> Config      (ConfigError on bad input)
  Config.path, Config.root, Config.paths (globs), Config.passes (names or None),
  Config.settings_for(module_path)
  ModuleSettings: max_growth, max_code_size, max_growth_vs_baseline, baseline, optimize,
    the file/gzip/brotli budgets (budget/measures.py: max_gzip_size, ...) and
    never_grow (a tuple of measures, code always included)
  resolve_paths(config, given) -> list of module paths
Sizes are ints (bytes); growth allowances are ints or units.Percent; a key set to
`false` is None (no limit).
"""

from __future__ import annotations

import copy
import glob
import os
import re
import sys

from loom_post.budget import measures as measure_keys
from loom_post.errors import ConfigError
from loom_post.fileio import DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_INPUT
from loom_post.budget.units import Percent, UnitError, parse_growth, parse_size


def _tomllib():
    """Imported on first use: the TOML parser costs ~10 ms of start-up, and a
    run with no configuration file never needs it."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    return tomllib

DEFAULT_PATHS = ["target/wasm32-*/release/*.wasm"]
CONFIG_NAME = "loom-post.toml"
PYPROJECT = "pyproject.toml"
TOOL_KEY = "loom-post"

# budget key -> ModuleSettings attribute; shared by the top level and [[module]] tables.
BUDGET_KEYS = {
    "max-growth": "max_growth",
    "max-code-size": "max_code_size",
    "max-growth-vs-baseline": "max_growth_vs_baseline",
    "baseline": "baseline",
    "optimize": "optimize",
}
BUDGET_KEYS.update((k, measure_keys.attr(k)) for k in measure_keys.NEW_KEYS)
# Top level only: how files are read, locked and confined.
FILE_KEYS = ("max-input-size", "lock-timeout", "allow-outside", "cache", "cache-dir")
TOP_KEYS = ("paths", "passes", "module") + FILE_KEYS + tuple(BUDGET_KEYS)
MODULE_KEYS = ("path",) + tuple(BUDGET_KEYS)


class ModuleSettings:
    """The budgets and switches that apply to one module."""

    def __init__(self):
        self.max_growth = 0                 # bytes (or Percent) the optimizer may add
        self.max_code_size = None           # bytes
        self.max_growth_vs_baseline = None  # bytes or Percent
        self.baseline = None                # absolute path of the baseline JSON file
        self.optimize = True
        measure_keys.init_settings(self)    # file/gzip/brotli budgets, never-grow

    def __repr__(self):
        return (f"ModuleSettings(max_growth={self.max_growth!r}, "
                f"max_code_size={self.max_code_size!r}, "
                f"max_growth_vs_baseline={self.max_growth_vs_baseline!r}, "
                f"baseline={self.baseline!r}, optimize={self.optimize!r})")


class ModuleRule:
    """One [[module]] table: globs and the settings it overrides."""

    def __init__(self, patterns, overrides):
        self.patterns = patterns
        self.overrides = overrides      # attribute -> value
        self.regexes = [glob_regex(p) for p in patterns]


class Config:
    def __init__(self, path=None, root=None):
        self.path = path                          # the file read, or None
        self.root = os.path.abspath(root or os.getcwd())
        self.paths = list(DEFAULT_PATHS)
        self.defaults = ModuleSettings()
        self.rules = []                           # ModuleRule, in file order
        self.passes = None                        # pass names in order; None: the defaults
        self.max_input_size = DEFAULT_MAX_INPUT   # bytes; larger modules are refused
        self.lock_timeout = DEFAULT_LOCK_TIMEOUT  # seconds to wait for another run's lock
        self.allow_outside = False                # globs/baselines may leave `root`
        self.cache = True                         # reuse results (loom_post/cache.py)
        self.cache_dir = None                     # None: $XDG_CACHE_HOME/loom-post
        self._baselines = {}                      # baseline path -> baseline.Baseline

    def module_key(self, module_path):
        """`module_path` relative to the configuration's directory, with '/'."""
        rel = os.path.relpath(os.path.abspath(module_path), self.root)
        return rel.replace(os.sep, "/")

    def settings_for(self, module_path):
        """Defaults overridden by every matching [[module]] table, later ones last."""
        settings = copy.copy(self.defaults)
        key = self.module_key(module_path)
        base = key.rsplit("/", 1)[-1]
        for rule in self.rules:
            if any(rx.match(key) or ("/" not in pat and rx.match(base))
                   for rx, pat in zip(rule.regexes, rule.patterns)):
                for attr, value in rule.overrides.items():
                    setattr(settings, attr, value)
        return settings

    def baseline_for(self, settings):
        """The baseline.Baseline the settings point to (read once), or None. A file
        that does not exist yet gives an empty Baseline with .exists False."""
        if not settings.baseline:
            return None
        if settings.baseline not in self._baselines:
            from loom_post.budget.baseline import load_baseline
            self._baselines[settings.baseline] = load_baseline(settings.baseline,
                                                               missing_ok=True)
        return self._baselines[settings.baseline]

    def inside(self, path):
        """Whether `path`, symlinks resolved, is within the configuration's directory."""
        root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    def describe(self):
        return self.path or "defaults (no loom-post.toml or [tool.loom-post] found)"


# -- globs -------------------------------------------------------------------

def glob_regex(pattern):
    """A compiled regex for a path glob: `*` and `?` stay within one directory,
    `**` spans directories, `[...]` is a character class."""
    while pattern.startswith("./"):
        pattern = pattern[2:]
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


# -- reading -----------------------------------------------------------------

def _show(value):
    """A value as it would look in TOML, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


class _Reader:
    """Checks one file's table and turns it into a Config."""

    def __init__(self, path, prefix):
        self.path = path
        self.prefix = prefix          # "tool.loom-post." in pyproject.toml, else ""
        self.root = os.path.dirname(path)

    def fail(self, label, value, problem):
        raise ConfigError(f"{label} = {_show(value)}: {problem}", path=self.path)

    def unknown(self, label, value, allowed):
        raise ConfigError(f"unknown key: {label} = {_show(value)}; "
                          f"known keys: {', '.join(allowed)}", path=self.path)

    def globs(self, label, value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(label, value, "expected a glob string or a non-empty list of glob strings")
        for v in value:
            if not isinstance(v, str) or not v.strip():
                self.fail(label, value, "every glob must be a non-empty string")
            try:
                glob_regex(v)
            except re.error as e:
                self.fail(label, value, f"bad glob {_show(v)}: {e}")
        return list(value)

    def passes(self, label, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(label, value, "expected a list of pass names, e.g. [\"cse\"]")
        from loom_post.passes import UnknownPass, resolve  # only when `passes` is set
        try:
            resolve(value)
        except UnknownPass as e:
            self.fail(label, value, str(e))
        return list(value)

    def setting(self, label, key, value):
        """(attribute, parsed value) for one budget key."""
        attr = BUDGET_KEYS[key]
        if key == "optimize":
            if not isinstance(value, bool):
                self.fail(label, value, "expected true or false")
            return attr, value
        if key == "baseline":
            if value is False:
                return attr, None
            if not isinstance(value, str) or not value.strip():
                self.fail(label, value, "expected the path of a JSON file, e.g. \"wasm-sizes.json\"")
            return attr, os.path.normpath(os.path.join(self.root, value))
        if key == measure_keys.NEVER_GROW:
            return attr, self.never_grow(label, value)
        if value is False:                 # `max-code-size = false`: no limit
            return attr, None
        try:
            if key in measure_keys.SIZE_KEYS:
                return attr, parse_size(value)
            return attr, parse_growth(value)
        except UnitError as e:
            self.fail(label, value, str(e))

    def never_grow(self, label, value):
        from loom_post.passes.guard import normalize
        from loom_post.sizes import parse_measures
        if not isinstance(value, list):
            self.fail(label, value, 'expected a list of measures, e.g. ["code", "gzip", "brotli"]')
        try:
            return normalize(parse_measures(value, label))
        except ValueError as e:
            self.fail(label, value, str(e))

    def read(self, table):
        config = Config(path=self.path, root=self.root)
        for key, value in table.items():
            label = self.prefix + key
            if key not in TOP_KEYS:
                self.unknown(label, value, TOP_KEYS)
            if key == "paths":
                config.paths = self.globs(label, value)
            elif key == "passes":
                config.passes = self.passes(label, value)
            elif key == "module":
                config.rules = self.modules(label, value)
            elif key in FILE_KEYS:
                self.file_key(config, label, key, value)
            else:
                attr, parsed = self.setting(label, key, value)
                setattr(config.defaults, attr, parsed)
        self.check_baselines(config.defaults, self.prefix.rstrip(".") or "top level")
        self.confine(config, self.prefix + "baseline", config.defaults.baseline)
        for n, rule in enumerate(config.rules, 1):
            merged = copy.copy(config.defaults)
            for attr, v in rule.overrides.items():
                setattr(merged, attr, v)
            self.check_baselines(merged, f"{self.prefix}module #{n}")
            self.confine(config, f"{self.prefix}module #{n}: baseline",
                         rule.overrides.get("baseline"))
        return config

    def file_key(self, config, label, key, value):
        if key == "cache":
            if not isinstance(value, bool):
                self.fail(label, value, "expected true or false")
            config.cache = value
        elif key == "cache-dir":
            if not isinstance(value, str) or not value.strip():
                self.fail(label, value, "expected a directory path")
            config.cache_dir = os.path.join(config.root, os.path.expanduser(value))
        elif key == "allow-outside":
            if not isinstance(value, bool):
                self.fail(label, value, "expected true or false")
            config.allow_outside = value
        elif key == "max-input-size":
            try:
                config.max_input_size = parse_size(value)
            except UnitError as e:
                self.fail(label, value, str(e))
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                self.fail(label, value, "expected a number of seconds >= 0")
            config.lock_timeout = float(value)

    def confine(self, config, label, baseline):
        """A baseline file outside the configuration's directory (absolute, `..`,
        or through a symlink) is refused unless allow-outside is set."""
        if baseline and not config.allow_outside and not config.inside(baseline):
            raise ConfigError(f"{label}: {baseline} is outside {config.root}; set "
                              f"allow-outside = true to write there", path=self.path)

    def modules(self, label, value):
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            name = f"[[{label}]]"
            self.fail(label, value, f"expected {name} tables, each with a `path` glob")
        rules = []
        for n, table in enumerate(value, 1):
            where = f"{label} #{n}"
            if "path" not in table:
                raise ConfigError(f"[[{label}]] #{n} has no `path` glob "
                                  f"saying which modules it applies to", path=self.path)
            overrides, patterns = {}, None
            for key, v in table.items():
                klabel = f"{where}: {key}"
                if key not in MODULE_KEYS:
                    self.unknown(klabel, v, MODULE_KEYS)
                if key == "path":
                    patterns = self.globs(klabel, v)
                else:
                    attr, parsed = self.setting(klabel, key, v)
                    overrides[attr] = parsed
            rules.append(ModuleRule(patterns, overrides))
        return rules

    def check_baselines(self, settings, where):
        for key in sorted(measure_keys.BASELINE_KEYS):
            if getattr(settings, measure_keys.attr(key)) is not None and not settings.baseline:
                raise ConfigError(f"{where}: {key} is set but no "
                                  f"`baseline` file is configured to compare against",
                                  path=self.path)


def _parse_toml(path):
    tomllib = _tomllib()
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no such configuration file", path=path)
    except IsADirectoryError:
        raise ConfigError(f"is a directory, not a configuration file", path=path)
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", path=path)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"malformed TOML: {e}", path=path)
    except UnicodeDecodeError:
        raise ConfigError(f"malformed TOML: not UTF-8 text", path=path)


def _tool_table(path, doc):
    """The [tool.loom-post] table of a parsed pyproject.toml, or None."""
    tool = doc.get("tool")
    if not isinstance(tool, dict) or TOOL_KEY not in tool:
        return None
    table = tool[TOOL_KEY]
    if not isinstance(table, dict):
        raise ConfigError(f"tool.loom-post = {_show(table)}: expected a table "
                          f"([tool.loom-post])", path=path)
    return table


def read_config_file(path):
    """Config from an explicit file: a pyproject.toml's [tool.loom-post], or top-level keys."""
    path = os.path.abspath(path)
    doc = _parse_toml(path)
    if os.path.basename(path) == PYPROJECT:
        table = _tool_table(path, doc)
        if table is None:
            raise ConfigError(f"has no [tool.loom-post] table", path=path)
        return _Reader(path, "tool.loom-post.").read(table)
    return _Reader(path, "").read(doc)


def find_config(start):
    """The configuration file that applies in `start`, or None (see module docstring)."""
    d = os.path.abspath(start)
    while True:
        own = os.path.join(d, CONFIG_NAME)
        if os.path.isfile(own):
            return own
        pyproject = os.path.join(d, PYPROJECT)
        if os.path.isfile(pyproject):
            return pyproject if _tool_table(pyproject, _parse_toml(pyproject)) is not None else None
        if os.path.exists(os.path.join(d, ".git")):
            return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def load_config(config_file=None, cwd=None):
    """The Config for `cwd` (default the working directory): `config_file` when given
    (a relative name is relative to the process's working directory, as typed),
    else the file found by searching upwards from `cwd`, else the defaults."""
    cwd = os.path.abspath(cwd or os.getcwd())
    if config_file:
        return read_config_file(os.path.abspath(config_file))
    found = find_config(cwd)
    if found is None:
        return Config(path=None, root=cwd)
    return read_config_file(found)


def resolve_paths(config, given):
    """The modules to act on: `given` as is, else the configured globs' matches
    (sorted, each file once; relative to the working directory when inside it).
    A match outside the configuration's directory is a ConfigError unless
    `allow-outside` is set."""
    if given:
        return list(given)
    cwd = os.getcwd()
    out, seen = [], set()
    for pattern in config.paths:
        for match in glob_files(config.root, pattern):
            real = os.path.realpath(match)
            if real in seen:
                continue
            seen.add(real)
            if not config.allow_outside and not config.inside(match):
                raise ConfigError(f"paths: {_show(pattern)} matches {match}, which is outside "
                                  f"{config.root}; set allow-outside = true to act on it",
                                  path=config.path)
            full = os.path.abspath(match)
            rel = os.path.relpath(full, cwd)
            out.append(full if rel.startswith("..") else rel)
    return out


def glob_files(root, pattern):
    """Regular files matching `pattern` under `root`, sorted. A `**` walks the
    tree following directory symlinks but entering each directory once, so a
    symlink loop neither repeats files nor hangs."""
    full = os.path.join(root, pattern)
    if "**" not in pattern:
        return sorted(m for m in glob.glob(full) if os.path.isfile(m))
    parts = full.split(os.sep)
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    base = os.sep.join(fixed) or os.sep
    rx = glob_regex(full.replace(os.sep, "/"))
    found, visited = [], set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in visited:
            dirnames[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        dirnames.sort()
        for name in filenames:
            path = os.path.join(dirpath, name)
            if rx.match(path.replace(os.sep, "/")) and os.path.isfile(path):
                found.append(path)
    return sorted(found)


def require_paths(config, given):
    """resolve_paths, but a ConfigError (exit 2) when there is nothing to act on."""
    paths = resolve_paths(config, given)
    if not paths:
        raise ConfigError("no modules given and none match the configured paths ("
                          + ", ".join(config.paths) + f" in {config.root})")
    return paths


__all__ = ["Config", "ModuleSettings", "Percent", "load_config", "resolve_paths", "require_paths",
           "find_config", "read_config_file", "glob_regex", "DEFAULT_PATHS"]
