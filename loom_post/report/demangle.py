"""Readable Rust symbol names for reports.

rustc's legacy mangling (`_ZN` + length-prefixed path segments + `E`, with a
trailing `17h<16 hex digits>` hash segment and `$LT$`-style escapes) is what
rustc/wasm-ld put in the `name` section of most modules. Reports show the
demangled path without the hash, as twiggy and other tools do; machine-readable
output (JSON, baselines) keeps the exact name, since two functions can differ
only by hash. Names in any other form are returned unchanged.
"""

import re

_ESCAPES = {"$SP$": "@", "$BP$": "*", "$RF$": "&", "$LT$": "<", "$GT$": ">",
            "$LP$": "(", "$RP$": ")", "$C$": ",", "$u7e$": "~", "$u20$": " ",
            "$u27$": "'", "$u5b$": "[", "$u5d$": "]", "$u7b$": "{", "$u7d$": "}",
            "$u3b$": ";", "$u2b$": "+", "$u22$": '"'}
_ESCAPE_RE = re.compile(r"\$(?:SP|BP|RF|LT|GT|LP|RP|C|u[0-9a-f]{2})\$")
_HASH_RE = re.compile(r"^h[0-9a-f]{16}$")


def _unescape(segment):
    segment = _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(0), m.group(0)), segment)
    return segment.replace("..", "::")


def demangle(name):
    """`_ZN4core3fmt5write17h0123456789abcdefE` -> `core::fmt::write`."""
    if not name or not name.startswith("_ZN") or not name.endswith("E"):
        return name
    pos, end = 3, len(name) - 1
    parts = []
    while pos < end:
        m = re.match(r"\d+", name[pos:end])
        if not m:
            return name
        length = int(m.group(0))
        pos += len(m.group(0))
        if length == 0 or pos + length > end:
            return name
        parts.append(name[pos:pos + length])
        pos += length
    if parts and _HASH_RE.match(parts[-1]):
        parts.pop()
    if not parts:
        return name
    out = []
    for part in parts:
        if part.startswith("_$"):
            part = part[1:]
        out.append(_unescape(part))
    return "::".join(out)
