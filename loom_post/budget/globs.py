"""Path globs for `paths` and [[module]] `path`, in wcmatch's syntax.

`*` and `?` stay within one directory, `**` spans directories, `[...]` is a
character class, `{a,b}` is a brace alternative (`dist/{app,worker}*_bg.wasm`)
and a pattern starting with `!` excludes what it matches from the other
patterns of the same list (`!**/deps/*.wasm`). A pattern without `/` also
matches a module's file name alone, wherever the module is.

wcmatch does the parsing (a well-kept library, so brace and class edge cases are
not ours to get wrong); walking the tree stays here because `**` must follow
directory symlinks without looping (wcmatch either skips them or has no guard).
"""

from __future__ import annotations

import os
import re


def _wglob():
    """(wcmatch's glob module, its flags), imported on first use: a run given
    its module paths, with no [[module]] tables, matches no glob, and the
    import costs about a tenth of a warm run (docs/speed.md)."""
    from wcmatch import glob as wglob
    return wglob, wglob.GLOBSTAR | wglob.BRACE


def clean(pattern):
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


def is_exclude(pattern):
    return pattern.startswith("!")


def split(patterns):
    """(include patterns, exclude patterns without their `!`)."""
    inc = [clean(p) for p in patterns if not is_exclude(p)]
    exc = [clean(p[1:]) for p in patterns if is_exclude(p)]
    return inc, exc


def has_magic(part):
    return any(c in part for c in "*?[{")


def _check_classes(pattern):
    """re.error for a character class such as `[z-a]`, which wcmatch would quietly
    turn into one that matches nothing."""
    for m in re.finditer(r"\[(.+?)\]", pattern):
        body = m.group(1)
        body = "^" + body[1:] if body.startswith("!") else body
        re.compile("[" + body.replace("\\", "\\\\") + "]")


def glob_regex(pattern):
    """A compiled regex matching the whole of a '/'-separated path (ValueError or
    re.error for a pattern that cannot be read)."""
    _check_classes(pattern)
    wglob, flags = _wglob()
    regexes, _ = wglob.translate(clean(pattern), flags=flags)
    return re.compile("|".join(f"(?:{r})" for r in regexes))


class Matcher:
    """Whether a module key (a '/'-separated path relative to the configuration)
    is selected by a list of include and `!exclude` patterns. With only excludes,
    everything else is selected."""

    def __init__(self, patterns):
        self.patterns = list(patterns)
        inc, exc = split(self.patterns)
        self.includes = [(p, glob_regex(p)) for p in inc]
        self.excludes = [(p, glob_regex(p)) for p in exc]

    @staticmethod
    def _hit(pairs, key):
        base = key.rsplit("/", 1)[-1]
        return any(rx.match(key) or ("/" not in pat and rx.match(base)) for pat, rx in pairs)

    def matches(self, key):
        if self.includes and not self._hit(self.includes, key):
            return False
        return not self._hit(self.excludes, key)

    def excluded(self, key):
        return self._hit(self.excludes, key)


def glob_files(root, pattern):
    """Regular files under `root` matching the include `pattern`, sorted. A `**`
    walks the tree following directory symlinks but entering each directory
    once, so a symlink loop neither repeats files nor hangs."""
    full = os.path.join(root, clean(pattern))
    if "**" not in pattern:
        # an absolute pattern (cargo's target directory elsewhere) stands alone
        wglob, flags = _wglob()
        prefix = "" if os.path.isabs(pattern) else wglob.escape(root) + "/"
        found = wglob.glob(prefix + clean(pattern), flags=flags)
        return sorted({os.path.normpath(m) for m in found if os.path.isfile(m)})
    parts = full.split(os.sep)
    fixed = []
    for part in parts:
        if has_magic(part):
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
