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
    never_grow (a tuple of measures, code always included), a warn_* soft level for
    every max_* budget (measures.WARN_KEYS), min_change and
    optimize_for ("code", "gzip" or "brotli": which measure wins a trade-off)
  Config.baseline_ref: set by `--baseline-ref`; baseline_for then reads from git
  resolve_paths(config, given) -> list of module paths
Sizes are ints (bytes); growth allowances are ints or units.Percent; a key set to
`false` is None (no limit).
"""

from __future__ import annotations

import copy
import os
import re
import sys

from loom_post.budget import cargo_layout
from loom_post.budget import measures as measure_keys
from loom_post.budget.globs import Matcher, glob_files, glob_regex, split
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
BUDGET_KEYS.update((k, measure_keys.attr(k)) for k in measure_keys.SOFT_KEYS)
# Top level only: how files are read, locked and confined.
FILE_KEYS = ("max-input-size", "lock-timeout", "allow-outside", "cache", "cache-dir")
# Top level only, true or false: configuration mistakes fail the run (budget/lint.py);
# a content hash in a file name is not part of the module's baseline entry.
SWITCH_KEYS = ("strict", "baseline-ignore-hash")
# Top level only: which builds the cargo routes touch and how (docs/cargo.md).
ROUTE_KEYS = ("profiles", "keep-dwarf", "missing")
MISSING_CHOICES = ("warn", "error", "ignore")
TOP_KEYS = (("paths", "passes", "module") + FILE_KEYS + SWITCH_KEYS + ROUTE_KEYS
            + tuple(BUDGET_KEYS))
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
        self.matcher = Matcher(patterns)


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
        self.strict = False                       # configuration mistakes exit 2
        self.baseline_ignore_hash = False         # see baseline_key
        self.profiles = cargo_layout.DEFAULT_PROFILES  # profile dirs the routes act on
        self.keep_dwarf = False                   # keep .debug_* sections on every route
        self.missing = "warn"                     # check/pre-commit with nothing built yet
        self.paths_configured = False             # False: paths follow cargo's target dir
        self.target_dir = None                    # cargo's target dir when paths follow it
        self.paths = self.cargo_paths()
        self.cache = True                         # reuse results (loom_post/cache.py)
        self.cache_dir = None                     # None: $XDG_CACHE_HOME/loom-post
        self._baselines = {}                      # baseline path -> baseline.Baseline
        self.baseline_ref = None                  # baselines come from git (--baseline-ref)

    def cargo_paths(self):
        """The default globs: cargo's target directory, the selected profiles."""
        self.target_dir = cargo_layout.target_dir(self.root)
        return cargo_layout.default_paths(self.root, self.profiles)

    def module_key(self, module_path):
        """`module_path` relative to the configuration's directory, with '/'."""
        rel = os.path.relpath(os.path.abspath(module_path), self.root)
        return rel.replace(os.sep, "/")

    def baseline_key(self, module_path):
        """The module's entry name in a baseline: module_key, without a content
        hash in the file name when baseline-ignore-hash is set, so that trunk's
        `dist/app-1a2b3c4d_bg.wasm` and `dist/app-9f8e7d6c_bg.wasm` are one module."""
        key = self.module_key(module_path)
        return strip_hash(key) if self.baseline_ignore_hash else key

    def settings_for(self, module_path):
        """Defaults overridden by every matching [[module]] table, later ones last."""
        settings = copy.copy(self.defaults)
        key = self.module_key(module_path)
        for rule in self.rules:
            if rule.matcher.matches(key):
                for attr, value in rule.overrides.items():
                    setattr(settings, attr, value)
        return settings

    def baseline_for(self, settings):
        """The baseline.Baseline the settings point to (read once), or None. A file
        that does not exist yet gives an empty Baseline with .exists False."""
        if not settings.baseline:
            return None
        if settings.baseline not in self._baselines:
            from loom_post.budget.baseline import baseline_at_ref, load_baseline
            if self.baseline_ref:
                base = baseline_at_ref(settings.baseline, self.baseline_ref)
            else:
                base = load_baseline(settings.baseline, missing_ok=True)
            self._baselines[settings.baseline] = base
        return self._baselines[settings.baseline]

    def inside(self, path):
        """Whether `path`, symlinks resolved, is within the configuration's directory."""
        root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if not self.paths_configured and self.target_dir and _within(real, self.target_dir):
            return True     # cargo's own target dir ($CARGO_TARGET_DIR) is the user's choice
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    def describe(self):
        return self.path or "defaults (no loom-post.toml or [tool.loom-post] found)"


def _within(real, directory):
    top = os.path.realpath(directory)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


# `-` or `.`, then 8 or more hex digits (trunk writes 16), just before `_bg.wasm` or
# `.wasm`, after at least one character of name.
_HASH = re.compile(r"(?<=[^/])[-.][0-9a-f]{8,}(?=(?:_bg)?\.wasm\Z)")


def strip_hash(key):
    """`dist/app-1a2b3c4d_bg.wasm` -> `dist/app_bg.wasm`; other names unchanged."""
    head, _, name = key.rpartition("/")
    name = _HASH.sub("", name)
    return f"{head}/{name}" if head else name


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
        import difflib  # here: only a mistake needs it, and a warm run has none
        key = label.rsplit(" ", 1)[-1].rsplit(".", 1)[-1]
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise ConfigError(f"unknown key: {label} = {_show(value)}{hint}; "
                          f"known keys: {', '.join(allowed)}", path=self.path)

    def globs(self, label, value, need_include=False):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(label, value, "expected a glob string or a non-empty list of glob strings")
        for v in value:
            if not isinstance(v, str) or not v.strip() or not v.lstrip("!").strip():
                self.fail(label, value, "every glob must be a non-empty string")
            try:
                glob_regex(v[1:] if v.startswith("!") else v)
            except (re.error, ValueError) as e:
                self.fail(label, value, f"bad glob {_show(v)}: {e}")
        if need_include and not split(value)[0]:
            self.fail(label, value, "only `!` exclude patterns: add the globs to include")
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
            return attr, self.boolean(label, value)
        if key == "baseline":
            if value is False:
                return attr, None
            if not isinstance(value, str) or not value.strip():
                self.fail(label, value, "expected the path of a JSON file, e.g. \"wasm-sizes.json\"")
            return attr, os.path.normpath(os.path.join(self.root, value))
        if key == measure_keys.NEVER_GROW:
            return attr, self.never_grow(label, value)
        if key == measure_keys.OPTIMIZE_FOR:
            try:
                return attr, measure_keys.parse_optimize_for(value)
            except ValueError as e:
                self.fail(label, value, str(e))
        if value is False:                 # `max-code-size = false`: no limit
            return attr, None
        try:
            if measure_keys.hard_key(key) in measure_keys.SIZE_KEYS:
                return attr, parse_size(value)
            return attr, parse_growth(value)
        except UnitError as e:
            self.fail(label, value, str(e))

    def never_grow(self, label, value):
        from loom_post.sizes import guarded_measures, parse_measures
        if not isinstance(value, list):
            self.fail(label, value, 'expected a list of measures, e.g. ["code", "gzip", "brotli"]')
        try:
            return guarded_measures(parse_measures(value, label))
        except ValueError as e:
            self.fail(label, value, str(e))

    def read(self, table):
        config = Config(path=self.path, root=self.root)
        for key, value in table.items():
            label = self.prefix + key
            if key not in TOP_KEYS:
                self.unknown(label, value, TOP_KEYS)
            if key == "paths":
                config.paths = self.globs(label, value, need_include=True)
                config.paths_configured = True
            elif key == "passes":
                config.passes = self.passes(label, value)
            elif key == "module":
                config.rules = self.modules(label, value)
            elif key in FILE_KEYS:
                self.file_key(config, label, key, value)
            elif key in SWITCH_KEYS:
                setattr(config, key.replace("-", "_"), self.boolean(label, value))
            elif key in ROUTE_KEYS:
                self.route_key(config, label, key, value)
            else:
                attr, parsed = self.setting(label, key, value)
                setattr(config.defaults, attr, parsed)
        if not config.paths_configured:
            config.paths = config.cargo_paths()
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

    def boolean(self, label, value):
        """`value` when it is true or false, else a ConfigError naming the key."""
        if not isinstance(value, bool):
            self.fail(label, value, "expected true or false")
        return value

    def file_key(self, config, label, key, value):
        if key == "cache":
            config.cache = self.boolean(label, value)
        elif key == "cache-dir":
            if not isinstance(value, str) or not value.strip():
                self.fail(label, value, "expected a directory path")
            config.cache_dir = os.path.join(config.root, os.path.expanduser(value))
        elif key == "allow-outside":
            config.allow_outside = self.boolean(label, value)
        elif key == "max-input-size":
            try:
                config.max_input_size = parse_size(value)
            except UnitError as e:
                self.fail(label, value, str(e))
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                self.fail(label, value, "expected a number of seconds >= 0")
            config.lock_timeout = float(value)

    def route_key(self, config, label, key, value):
        if key == "keep-dwarf":
            config.keep_dwarf = self.boolean(label, value)
        elif key == "missing":
            if value not in MISSING_CHOICES:
                self.fail(label, value, "expected \"warn\", \"error\" or \"ignore\"")
            config.missing = value
        else:
            if (isinstance(value, str) or not isinstance(value, list) or not value
                    or not all(isinstance(v, str) and v.strip() and "/" not in v
                               for v in value)):
                self.fail(label, value, 'expected a list of cargo profiles, e.g. '
                                        '["release"] or ["release", "dev"]')
            config.profiles = tuple(value)

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


def near_tool_tables(doc):
    """Names under [tool] that look like a misspelt `loom-post` (`loom_post`, ...)."""
    tool = doc.get("tool")
    if not isinstance(tool, dict):
        return []
    norm = TOOL_KEY.replace("-", "")
    return [k for k in tool if k != TOOL_KEY and isinstance(k, str) and (
        k.lower().replace("_", "").replace("-", "") == norm
        or similar(k.lower(), TOOL_KEY, 0.8))]


def similar(a, b, cutoff):
    """difflib's ratio of `a` to `b` is at least `cutoff`. The ratio is at most
    2 * min(len) / (len(a) + len(b)) (difflib's real_quick_ratio), so most
    names are ruled out without importing difflib (~1 ms of every run's
    start-up, for a warning almost no run prints)."""
    if 2 * min(len(a), len(b)) < cutoff * (len(a) + len(b)):
        return False
    import difflib
    return difflib.SequenceMatcher(None, a, b).ratio() >= cutoff


def read_config_file(path):
    """Config from an explicit file: a pyproject.toml's [tool.loom-post], or top-level keys."""
    path = os.path.abspath(path)
    doc = _parse_toml(path)
    if os.path.basename(path) == PYPROJECT:
        table = _tool_table(path, doc)
        if table is None:
            near = near_tool_tables(doc)
            hint = f" ([tool.{near[0]}] is not read: rename it)" if near else ""
            raise ConfigError(f"has no [tool.loom-post] table{hint}", path=path)
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
    `allow-outside` is set; `!` patterns drop what they match."""
    if given:
        return list(given)
    cwd = os.getcwd()
    out, seen = [], set()
    includes, _ = split(config.paths)
    matcher = Matcher(config.paths)
    for pattern in includes:
        for match in glob_files(config.root, pattern):
            real = os.path.realpath(match)
            if real in seen or matcher.excluded(config.module_key(match)):
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


def require_paths(config, given, paths=None):
    """resolve_paths (unless `paths` holds its result already), but a ConfigError
    (exit 2) when there is nothing to act on."""
    paths = resolve_paths(config, given) if paths is None else paths
    if not paths:
        raise ConfigError("no modules given and none match the configured paths ("
                          + ", ".join(config.paths) + f" in {config.root})")
    return paths


__all__ = ["Config", "ModuleSettings", "Percent", "load_config", "resolve_paths", "require_paths",
           "find_config", "read_config_file", "glob_regex", "glob_files", "strip_hash",
           "DEFAULT_PATHS"]
