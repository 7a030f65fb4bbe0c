"""The four sizes loom-post measures a module by, and how each is computed.

  code    code section payload bytes (what `wasm-objdump -h` reports)
  file    the whole file's bytes
  gzip    the whole file through zlib at level 9 with a gzip header, i.e.
          zlib.compressobj(9, DEFLATED, 31): the bytes `gzip -9` writes less its
          file name field (bundlesize, compressed-size-action and size-limit's
          gzip mode measure the same stream)
  brotli  the whole file through Google's brotli at quality 11 with the default
          22-bit window, as size-limit (and `brotli -q 11`) compute it

Embedded users count raw bytes (flash); web users download the file compressed.
gzip costs ~0.2 s per MB; brotli at quality 11 ~5 s per MB, so every size is
computed lazily, once per module, and only when something asks for it.
This module imports nothing from loom-post: every layer may use it.
"""

import zlib

MEASURES = ("code", "file", "gzip", "brotli")
LABELS = {"code": "code section", "file": "file", "gzip": "gzip -9", "brotli": "brotli q11"}
BROTLI_QUALITY = 11


def gzip_size(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return len(c.compress(data)) + len(c.flush())


def brotli_size(data, quality=BROTLI_QUALITY):
    import brotli  # a runtime dependency; imported here so `inspect --help` stays fast
    return len(brotli.compress(bytes(data), quality=quality))


class Sizes:
    """The sizes of one module's bytes, each computed on first use and kept."""

    def __init__(self, data, code_bytes):
        self.data = data
        self._known = {"code": code_bytes, "file": len(data)}

    @classmethod
    def known_only(cls, **known):
        """Sizes known from elsewhere (e.g. only the code bytes); nothing more computable."""
        sizes = cls(b"", 0)
        sizes._known = dict(known)
        return sizes

    def get(self, measure):
        if measure not in self._known:
            if not self.data:
                raise KeyError(measure)
            if measure == "gzip":
                self._known[measure] = gzip_size(self.data)
            elif measure == "brotli":
                self._known[measure] = brotli_size(self.data)
            else:
                raise KeyError(measure)
        return self._known[measure]

    def known(self, measure):
        """The size if it was computed already, else None (never computes)."""
        return self._known.get(measure)

    def put(self, measure, value):
        """Record a size computed elsewhere (e.g. by the never-grow guard)."""
        self._known[measure] = value

    def measure(self, measures=MEASURES):
        for m in measures:
            self.get(m)
        return self

    def to_json(self, suffix=""):
        """{"code_bytes": .., "file_bytes": .., "gzip_bytes": .., ...} for the known ones."""
        return {f"{m}_bytes{suffix}": self._known[m] for m in MEASURES if m in self._known}

    def __repr__(self):
        return f"Sizes({self._known!r})"


def guarded_measures(measures):
    """The never-grow measures in canonical order; `code` is always guarded."""
    chosen = set(measures or ()) | {"code"}
    return tuple(m for m in MEASURES if m in chosen)


def parse_measures(text_or_list, what):
    """A list of measure names from "code,gzip" or ["code", "gzip"]; ValueError
    naming `what` for anything else."""
    items = text_or_list
    if isinstance(items, str):
        items = [s.strip() for s in items.split(",") if s.strip()]
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"expected a list of measures among {', '.join(MEASURES)}")
    for v in items:
        if v not in MEASURES:
            raise ValueError(f"unknown measure {v!r}; known measures: {', '.join(MEASURES)}")
    return [m for m in MEASURES if m in items]
