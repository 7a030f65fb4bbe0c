#!/usr/bin/env python3
"""Run the exports of every corpus module and check the answers against Python's own.

    python3 bench/rawcorpus/smoke.py [DIR]

A module rewritten by an optimizer can be put through the same checks (they only
need the module's exports).  Needs wasmtime.  Exit 1 when any check fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sys
import zlib
from pathlib import Path

import wasmtime

DEFAULT_DIR = Path.home() / ".cache" / "loom-post-rawcorpus"
TEXT = b"The quick brown fox jumps over the lazy dog 2024-01-02 error the fox"


class Mod:
    def __init__(self, engine: wasmtime.Engine, data: bytes):
        self.store = wasmtime.Store(engine)
        inst = wasmtime.Instance(self.store, wasmtime.Module(engine, data), [])
        self.ex = inst.exports(self.store)

    def __call__(self, name, *args):
        return self.ex[name](self.store, *args)

    def put(self, b: bytes) -> int:
        self.ex["memory"].write(self.store, b, self("input_ptr"))
        return len(b)

    def get(self, n: int) -> bytes:
        p = self("output_ptr")
        return bytes(self.ex["memory"].read(self.store, p, p + n))


def check_base64(m):
    n = m.put(TEXT)
    return m.get(m("encode", n, 0)) == base64.b64encode(TEXT) and m("roundtrip", n) == 1


def check_sha2(m):
    n = m.put(TEXT)
    return (m.get(m("sha256", n)) == hashlib.sha256(TEXT).digest()
            and m.get(m("sha512", n)) == hashlib.sha512(TEXT).digest())


def check_crc32(m):
    n = m.put(TEXT)
    return m("crc32", n) == zlib.crc32(TEXT) and m("adler32", n) == zlib.adler32(TEXT)


def check_miniz(m):
    n = m.put(TEXT * 20)
    return (zlib.decompress(m.get(m("zlib", n, 6))) == TEXT * 20
            and m("roundtrip_levels", n) == 0x7FF)


def check_regex(m):
    pat = rb"\bfox\b"
    m.put(pat + TEXT)
    return (m("count_matches", len(pat), len(TEXT)) == 2
            and m("set_matches", m.put(TEXT)) & 0b101 == 0b101)


def check_serde_json(m):
    doc = json.dumps({"a": [1, 2, 3.5], "b": {"c": None, "d": "x"}}).encode()
    n = m.put(doc)
    return (m("count_values", n) == 8 and abs(m("sum_numbers", n) - 6.5) < 1e-9
            and json.loads(m.get(m("minify", n))) == json.loads(doc)
            and len(json.loads(m.get(m("generate", 50)))) == 50)


def check_hashbrown(m):
    n = m.put(TEXT)
    words = set(TEXT.replace(b"-", b" ").split())
    return (m("distinct_words", n) == len(words) and m("most_frequent", n) & 0xFFFF == 2
            and m("churn", 1000) == sum(range(0, 1000, 2)))


def check_nom(m):
    return (m("eval", m.put(b"2 * (3 + 4) - 10 / 2")) == 9
            and m("parse_kv", m.put(b'a = 1\nb.c = "hi";d=xyz')) == 3
            and m("hex_color", m.put(b"#ff8000")) == 0xFF8000)


def check_libm(m):
    return (abs(m("m_sin", 1.0) - math.sin(1.0)) < 1e-15
            and abs(m("m_tgamma", 5.0) - 24.0) < 1e-9
            and abs(m("m_pow", 2.0, 10.0) - 1024.0) < 1e-12)


def check_httparse(m):
    req = b"GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n"
    return (m("parse_request", m.put(req)) == 2 and m("content_length", m.put(req)) == 42
            and m("parse_response", m.put(b"HTTP/1.1 404 Not Found\r\n\r\n")) == 404)


def check_unicode_seg(m):
    # e + combining acute, a regional-indicator flag: 29 code points, 27 graphemes
    t = "e\u0301 a\U0001F1FA\U0001F1F8 hello world. Next one.".encode()
    n = m.put(t)
    return m("graphemes", n) == 27 and m("words", n) == 6 and m("sentences", n) == 2


CHECKS = {
    "base64": check_base64, "sha2": check_sha2, "crc32": check_crc32,
    "miniz": check_miniz, "regex": check_regex, "serde-json": check_serde_json,
    "hashbrown": check_hashbrown, "nom": check_nom, "libm": check_libm,
    "httparse": check_httparse, "unicode-seg": check_unicode_seg,
}
PROFILE_SUFFIXES = ("-os-lto", "-oz-lto", "-o3-lto", "-os", "-oz", "-o3", "-dev")


def crate_of(path: Path) -> str:
    stem = path.stem
    for s in PROFILE_SUFFIXES:
        if stem.endswith(s):
            return stem[: -len(s)]
    return stem


def main(argv: list[str] | None = None) -> int:
    d = Path(argv[0] if argv else DEFAULT_DIR).expanduser()
    engine = wasmtime.Engine()
    paths = sorted(d.glob("*.wasm"))
    bad = []
    for p in paths:
        check = CHECKS.get(crate_of(p))
        try:
            ok = check is not None and bool(check(Mod(engine, p.read_bytes())))
        except Exception as e:  # noqa: BLE001 - a trap or a missing export is a failure
            print(f"smoke: {p.name}: {type(e).__name__}: {str(e).splitlines()[0]}",
                  file=sys.stderr)
            ok = False
        if not ok:
            bad.append(p.name)
    print(f"smoke: {len(paths) - len(bad)} passed, {len(bad)} failed"
          + (": " + " ".join(bad) if bad else ""))
    return 1 if bad or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
