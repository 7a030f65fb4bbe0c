"""Where cargo puts wasm modules, so that every route names a module the same way.

cargo links `<target-dir>/<triple>/<profile>/deps/<crate>[-<hash>].wasm` (the
linker hook sees this file) and then hard-links it to the artifact path
`<target-dir>/<triple>/<profile>/<name>.wasm` (what `--message-format=json`
reports, what `check` and watch find through the `paths` globs). A module's
identity, the path budgets, [[module]] globs and baseline entries are matched
against, is always the artifact path: `uplifted` maps the first to the second.

Profiles are directory names: `dev` and `test` builds land in `debug/`, `bench`
in `release/`, a custom profile in a directory of its own name.

The default `paths` globs follow cargo's target directory: `$CARGO_TARGET_DIR`,
else `build.target-dir` from the nearest `.cargo/config.toml` (or `.cargo/config`),
else `target`.
"""

from __future__ import annotations

import os
import re
import sys

DEFAULT_PROFILES = ("release",)


def _tomllib():
    """Imported on first use (a .cargo/config.toml to read): start-up stays cheap."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    return tomllib
# cargo's profile name -> the directory its builds land in.
PROFILE_DIRS = {"dev": "debug", "test": "debug", "bench": "release"}
# rustc's `-C extra-filename=-<16 hex digits>` on deps/ files of binaries and examples.
_HASH = re.compile(r"-[0-9a-f]{16}\Z")
_TRIPLE = re.compile(r"\Awasm(32|64)(-[A-Za-z0-9_.]+)+\Z")


def profile_dir(name):
    """The directory a profile's builds land in (`dev` -> `debug`)."""
    return PROFILE_DIRS.get(name, name)


def _split(path):
    return os.path.normpath(os.path.abspath(path)).split(os.sep)


def profile_of(path):
    """The profile directory of a module in cargo's layout (`release`, `debug`,
    ...), or None when `path` is not under `<triple>/<profile>/`."""
    parts = _split(path)
    for i in range(len(parts) - 2, 0, -1):
        if _TRIPLE.match(parts[i - 1]) and i < len(parts) - 1:
            return parts[i]
    return None


def _same_file(a, b):
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def uplifted(path, bin_name=None):
    """The artifact path cargo gives the module linked at `path`: `path` itself
    unless it is in a `deps/` directory (or an example with a hash suffix).
    `bin_name`: the binary's own name (cargo's CARGO_BIN_NAME, dashes kept),
    when known; else a hard link of `path` in the profile directory names it,
    else the crate name from the file name (dashes are `_` there)."""
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    if ext != ".wasm":
        return path
    parent = os.path.basename(folder)
    if parent == "deps":
        target_dir = os.path.dirname(folder)
    elif parent == "examples" and _HASH.search(stem):
        target_dir = folder
    else:
        return path
    crate = _HASH.sub("", stem)
    if bin_name:
        return os.path.join(target_dir, bin_name + ext)
    for candidate in (crate, crate.replace("_", "-")):
        full = os.path.join(target_dir, candidate + ext)
        if _same_file(full, path):
            return full
    try:
        for other in sorted(os.listdir(target_dir)):
            full = os.path.join(target_dir, other)
            if other.endswith(ext) and _same_file(full, path):
                return full
    except OSError:
        pass
    return os.path.join(target_dir, crate + ext)


def _config_target_dir(start):
    """`build.target-dir` of the nearest .cargo/config.toml upwards from `start`
    (absolute), or None. A file that does not parse is cargo's to complain about."""
    d = os.path.abspath(start)
    while True:
        for name in ("config.toml", "config"):
            path = os.path.join(d, ".cargo", name)
            if os.path.isfile(path):
                try:
                    with open(path, "rb") as f:
                        build = _tomllib().load(f).get("build") or {}
                except (OSError, ValueError, UnicodeDecodeError):
                    build = {}
                value = build.get("target-dir") if isinstance(build, dict) else None
                if isinstance(value, str) and value:
                    # cargo: relative to the directory holding .cargo/
                    return os.path.normpath(os.path.join(d, value))
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def target_dir(root, environ=None):
    """cargo's target directory for a project rooted at `root` (absolute)."""
    environ = os.environ if environ is None else environ
    configured = environ.get("CARGO_TARGET_DIR")
    if configured:
        return os.path.abspath(configured)
    return _config_target_dir(root) or os.path.join(os.path.abspath(root), "target")


def default_paths(root, profiles=DEFAULT_PROFILES, environ=None):
    """The `paths` globs used when none are configured: every wasm32
    target (wasm32-unknown-unknown, wasm32-wasip1, ...) in each profile."""
    base = target_dir(root, environ)
    rel = os.path.relpath(base, os.path.abspath(root))
    prefix = base if rel.startswith("..") else rel
    return [os.path.join(prefix, "wasm32-*", profile_dir(p), "*.wasm").replace(os.sep, "/")
            for p in profiles]


def profile_selected(path, profiles):
    """Whether a module is in one of `profiles` (a path outside cargo's layout,
    e.g. pkg/app_bg.wasm, always is)."""
    found = profile_of(path)
    return found is None or found in {profile_dir(p) for p in profiles}
