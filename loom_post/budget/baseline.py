"""The baseline file: recorded code sizes that `check` compares modules against.

A JSON document meant to live in git and to diff well there: keys sorted, two-space
indent, one trailing newline, module paths relative to the configuration file's
directory with '/' separators, and per-function body sizes keyed by the name from
the `name` section (else "func[INDEX]", the function index counting imports). It
also holds the per-function measuring and comparing shared by `check` (which
functions grew most) and `diff`.

    {"modules": {"target/.../app.wasm": {"code_bytes": 811,
                                         "functions": {"main": 120, "func[7]": 33}}},
     "version": 1}

An entry may also hold "file_bytes", "gzip_bytes" and "brotli_bytes"; files
written before those existed still load (budgets on a measure they lack say so).
"""

from __future__ import annotations

import json
import os

from loom_post.errors import ConfigError
from loom_post.fileio import write_atomic

VERSION = 1


def function_key(index, name):
    return name if name else f"func[{index}]"


def function_sizes(module):
    """{key: body bytes} of every defined function (names when the name section has them)."""
    names = module.function_names()
    out = {}
    for pos, entry in enumerate(module.code):
        index = module.func_index(pos)
        key = function_key(index, names.get(index))
        if key in out:  # two functions with one name: tell them apart by index
            key = f"{key} (func[{index}])"
        out[key] = entry.body_size
    return out


class FunctionChange:
    """One function's size in two measurements; None where it does not exist."""

    def __init__(self, name, old, new):
        self.name, self.old, self.new = name, old, new

    @property
    def delta(self):
        return (self.new or 0) - (self.old or 0)

    @property
    def status(self):
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed" if self.old != self.new else "unchanged"

    def to_json(self):
        return {"name": self.name, "old": self.old, "new": self.new,
                "delta": self.delta, "status": self.status}

    def __repr__(self):
        return f"FunctionChange({self.name!r}, {self.old!r}, {self.new!r})"


def compare_functions(old, new, include_unchanged=False):
    """FunctionChanges between two {key: bytes} maps, largest change first."""
    changes = [FunctionChange(k, old.get(k), new.get(k)) for k in set(old) | set(new)]
    if not include_unchanged:
        changes = [c for c in changes if c.status != "unchanged"]
    changes.sort(key=lambda c: (-abs(c.delta), -c.delta, c.name))
    return changes


def grew_most(old, new, top=5):
    """The functions that grew the most (largest growth first), at most `top`."""
    grown = [c for c in compare_functions(old, new) if c.delta > 0]
    grown.sort(key=lambda c: (-c.delta, c.name))
    return grown[:top] if top else grown


class Baseline:
    """The recorded sizes in one baseline file."""

    def __init__(self, path, modules=None, exists=True):
        self.path = path
        self.modules = modules if modules is not None else {}   # key -> entry dict
        self.exists = exists          # False: the file is not there (yet)
        self.commit = None            # the commit it was read from (--baseline-ref)

    def get(self, key):
        return self.modules.get(key)

    def record(self, key, module, sizes=None):
        """Record `module`'s sizes: code always, and every size `sizes` (a
        sizes.Sizes) has measured (file, gzip, brotli)."""
        entry = {"code_bytes": module.code_size, "functions": function_sizes(module)}
        if sizes is not None:
            entry.update(sizes.to_json())
            entry["code_bytes"] = module.code_size
        self.modules[key] = entry

    def dumps(self):
        doc = {"version": VERSION, "modules": self.modules}
        return json.dumps(doc, sort_keys=True, indent=2) + "\n"

    def save(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigError(f"cannot write the baseline: "
                              f"directory {directory} does not exist", path=self.path)
        try:
            write_atomic(self.path, self.dumps().encode("utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot write the baseline: {e.strerror or e}", path=self.path)


def _bad(path, why):
    return ConfigError(f"not a loom-post baseline file: {why} "
                       f"(fix it, or delete it and run `loom-post baseline` to record "
                       f"a new one)", path=path)


def load_baseline(path, missing_ok=False):
    """The Baseline in `path`; ConfigError when unreadable, malformed or (unless
    missing_ok) missing."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if missing_ok:
            return Baseline(path, exists=False)
        raise ConfigError(f"the baseline file does not exist; "
                          f"`loom-post baseline` records one", path=path)
    except OSError as e:
        raise ConfigError(f"cannot read the baseline: {e.strerror or e}", path=path)
    return parse_baseline(path, raw)


def baseline_at_ref(path, ref):
    """The Baseline `path` as committed at the merge-base of `ref` and HEAD
    (`check --baseline-ref`); ConfigError when git cannot say."""
    from loom_post.budget import gitbase
    what = f"--baseline-ref {ref}"
    top, rel = gitbase.locate(path, what)
    sha = gitbase.merge_base(top, ref, what)
    base = parse_baseline(f"{rel} at {sha[:12]}", gitbase.show(top, sha, rel, what))
    base.path, base.commit = path, sha
    return base


def parse_baseline(path, raw):
    """The Baseline in the bytes `raw` (read from `path`, which errors name)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(path, f"malformed JSON ({e})")
    if not isinstance(doc, dict) or not isinstance(doc.get("modules"), dict):
        raise _bad(path, "expected an object with a \"modules\" object")
    version = doc.get("version", VERSION)
    if version != VERSION:
        raise _bad(path, f"version {version!r} (this loom-post reads version {VERSION})")
    for key, entry in doc["modules"].items():
        if not isinstance(entry, dict) or not _is_size(entry.get("code_bytes")):
            raise _bad(path, f"module {key!r} has no integer \"code_bytes\"")
        for m in ("file_bytes", "gzip_bytes", "brotli_bytes"):
            if m in entry and not _is_size(entry[m]):
                raise _bad(path, f"module {key!r}: {m!r} must be a byte count")
        funcs = entry.setdefault("functions", {})
        if not isinstance(funcs, dict) or not all(_is_size(v) for v in funcs.values()):
            raise _bad(path, f"module {key!r}: \"functions\" must map names to byte counts")
    return Baseline(path, doc["modules"])


def _is_size(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
