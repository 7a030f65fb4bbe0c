"""Rust symbol names made readable, and a form of them that survives rebuilds.

rustc mangles in two schemes. Legacy (`_ZN` + length-prefixed segments + `E`,
ending in a `17h<16 hex>` hash segment) is the default; v0 (`_R...`, RFC 2603,
`-C symbol-mangling-version=v0`) encodes whole types, generic arguments and
closures, with base-62 crate disambiguators (`Cs9tm3sCXHW8O_5alloc`) instead
of a hash. ThinLTO appends `.llvm.<digits>` to either. `demangle` shows both
as rustc-demangle's alternate form does (and as `c++filt -i` does): without
hashes or disambiguators. Those are exactly the parts that change when a crate
is rebuilt with another `-C metadata`, so the demangled form is also the key
that baseline and diff matching use (`stable_key`).

This module imports nothing from loom-post: the budget layer (matching) and
the report layer (display) both use it. Malformed or hostile names (a name
section is untrusted input) are returned unchanged, never raised on; the
`_MAX_STEPS` budget keeps back-reference chains from expanding exponentially.
"""

import re

_LLVM_SUFFIX = re.compile(r"\.llvm\.[0-9A-Za-z@]+$")
_MAX_STEPS = 20000
_MAX_OUT = 8192

# -- legacy --------------------------------------------------------------------

_ESCAPES = {"$SP$": "@", "$BP$": "*", "$RF$": "&", "$LT$": "<", "$GT$": ">",
            "$LP$": "(", "$RP$": ")", "$C$": ","}
_ESCAPE_RE = re.compile(r"\$(?:SP|BP|RF|LT|GT|LP|RP|C|u[0-9a-f]{2,6})\$")
_HASH_RE = re.compile(r"^h[0-9a-f]{16}$")


def _unescape_one(m):
    text = m.group(0)
    if text in _ESCAPES:
        return _ESCAPES[text]
    return chr(int(text[2:-1], 16))


def _legacy(name):
    if not name.endswith("E"):
        return None
    pos, end = 3, len(name) - 1
    parts = []
    while pos < end:
        m = re.match(r"\d+", name[pos:end])
        if not m:
            return None
        length = int(m.group(0))
        pos += len(m.group(0))
        if length == 0 or pos + length > end:
            return None
        parts.append(name[pos:pos + length])
        pos += length
    if parts and _HASH_RE.match(parts[-1]):
        parts.pop()
    if not parts:
        return None
    out = []
    for part in parts:
        if part.startswith("_$"):
            part = part[1:]
        out.append(_ESCAPE_RE.sub(_unescape_one, part).replace("..", "::"))
    return "::".join(out)


# -- v0 ------------------------------------------------------------------------

_BASIC = {"a": "i8", "b": "bool", "c": "char", "d": "f64", "e": "str", "f": "f32",
          "h": "u8", "i": "isize", "j": "usize", "l": "i32", "m": "u32", "n": "i128",
          "o": "u128", "s": "i16", "t": "u16", "x": "i64", "y": "u64", "z": "!",
          "u": "()", "v": "...", "p": "_"}
_SIGNED = set("asilxn")
_UNSIGNED = set("htmjyo")
_B62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _Invalid(Exception):
    """The name is not valid v0 (or too costly to expand): show it as it is."""


class _V0:
    """A recursive-descent printer over RFC 2603's grammar. `out` is None while
    a part is only skipped (the parent path of an impl is not shown)."""

    def __init__(self, text):
        self.s, self.pos, self.steps = text, 0, 0
        self.out, self.depth = [], 0
        self.bound = 0              # lifetimes bound by enclosing for<...>

    # -- lexing
    def peek(self):
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def eat(self, ch):
        if self.peek() == ch:
            self.pos += 1
            return True
        return False

    def next(self):
        ch = self.peek()
        if not ch:
            raise _Invalid()
        self.pos += 1
        return ch

    def emit(self, text):
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise _Invalid()
        if self.out is not None:
            self.out.append(text)
            if len(self.out) > _MAX_OUT:
                raise _Invalid()

    def integer_62(self):
        if self.eat("_"):
            return 0
        value = 0
        while not self.eat("_"):
            ch = self.next()
            if ch not in _B62:
                raise _Invalid()
            value = value * 62 + _B62.index(ch)
            if value > 1 << 64:
                raise _Invalid()
        return value + 1

    def opt_integer_62(self, tag):
        return self.integer_62() + 1 if self.eat(tag) else 0

    def decimal(self):
        start = self.pos
        while self.peek().isdigit() and self.peek().isascii():
            self.pos += 1
        digits = self.s[start:self.pos]
        if not digits or (len(digits) > 1 and digits[0] == "0"):
            raise _Invalid()
        return int(digits)

    def ident(self):
        """(name, disambiguator) of `[s<base62>] [u] <decimal> [_] <bytes>`."""
        dis = self.opt_integer_62("s")
        puny = self.eat("u")
        length = self.decimal()
        self.eat("_")
        raw = self.s[self.pos:self.pos + length]
        if len(raw) != length:
            raise _Invalid()
        self.pos += length
        if puny:
            head, sep, tail = raw.rpartition("_")
            try:
                raw = (head + "-" + tail if sep else "-" + raw).encode().decode("punycode")
            except (UnicodeError, ValueError):
                raise _Invalid()
        return raw, dis

    def backref(self, fn, *args):
        start = self.pos - 1
        target = self.integer_62()
        if target >= start:
            raise _Invalid()
        self.depth += 1
        if self.depth > 200:
            raise _Invalid()
        saved, self.pos = self.pos, target
        try:
            return fn(*args)
        finally:
            self.pos, self.depth = saved, self.depth - 1

    def skipping(self, fn, *args):
        saved, self.out = self.out, None
        try:
            return fn(*args)
        finally:
            self.out = saved

    # -- paths
    def path(self, in_value):
        tag = self.next()
        if tag == "C":
            name, _dis = self.ident()
            self.emit(name)
            return name
        if tag == "N":
            ns = self.next()
            if not ns.isalpha():
                raise _Invalid()
            crate = self.path(in_value)
            name, dis = self.ident()
            if ns.isupper():
                kind = {"C": "closure", "S": "shim"}.get(ns, ns)
                self.emit(f"::{{{kind}{':' + name if name else ''}#{dis}}}")
            elif name:
                self.emit("::" + name)
            return crate
        if tag in "MXY":
            return self.impl_path(tag)
        if tag == "I":
            crate = self.path(in_value)
            self.emit("::<" if in_value else "<")
            self.generic_args()
            self.emit(">")
            return crate
        if tag == "B":
            return self.backref(self.path, in_value)
        raise _Invalid()

    def impl_path(self, tag):
        """`<Type>` (M), `<Type as Trait>` (X, Y); the crate that holds the code."""
        crate = None
        if tag in "MX":
            self.opt_integer_62("s")
            crate = self.skipping(self.path, False)
        self.emit("<")
        self.type()
        if tag in "XY":
            self.emit(" as ")
            trait_crate = self.path(False)
            crate = crate or trait_crate
        self.emit(">")
        return crate

    def generic_args(self):
        first = True
        while not self.eat("E"):
            if not first:
                self.emit(", ")
            first = False
            if self.eat("L"):
                self.lifetime(self.integer_62())
            elif self.eat("K"):
                self.const()
            else:
                self.type()

    # -- types
    def type(self):
        tag = self.next()
        if tag in _BASIC:
            self.emit(_BASIC[tag])
        elif tag in "RQ":
            self.emit("&")
            lt = self.opt_integer_62("L")
            if lt:
                self.lifetime(lt - 1)
                self.emit(" ")
            if tag == "Q":
                self.emit("mut ")
            self.type()
        elif tag in "PO":
            self.emit("*const " if tag == "P" else "*mut ")
            self.type()
        elif tag in "AS":
            self.emit("[")
            self.type()
            if tag == "A":
                self.emit("; ")
                self.const()
            self.emit("]")
        elif tag == "T":
            self.tuple()
        elif tag == "F":
            self.binder(self.fn_sig)
        elif tag == "D":
            self.dyn()
        elif tag == "B":
            self.backref(self.type)
        else:
            self.pos -= 1
            self.path(False)

    def tuple(self):
        count = 0
        self.emit("(")
        while not self.eat("E"):
            if count:
                self.emit(", ")
            self.type()
            count += 1
        self.emit(",)" if count == 1 else ")")

    def binder(self, fn):
        bound = self.opt_integer_62("G")
        if bound:
            self.emit("for<")
            for i in range(bound):
                if i:
                    self.emit(", ")
                self.bound += 1
                self.lifetime(1)
            self.emit("> ")
        try:
            fn()
        finally:
            self.bound -= bound

    def lifetime(self, index):
        if index == 0:
            self.emit("'_")
            return
        depth = self.bound - index
        if depth < 0:
            raise _Invalid()
        self.emit("'" + (chr(ord("a") + depth) if depth < 26 else f"_{depth}"))

    def fn_sig(self):
        if self.eat("U"):
            self.emit("unsafe ")
        if self.eat("K"):
            if self.eat("C"):
                abi = "C"
            else:
                abi, _ = self.ident()
                abi = abi.replace("_", "-")
            self.emit(f'extern "{abi}" ')
        self.emit("fn(")
        first = True
        while not self.eat("E"):
            if not first:
                self.emit(", ")
            first = False
            self.type()
        self.emit(")")
        if self.eat("u"):
            return
        self.emit(" -> ")
        self.type()

    def dyn(self):
        self.emit("dyn ")
        self.binder(self.dyn_traits)
        lt = self.opt_integer_62("L")
        if lt and lt - 1:
            self.emit(" + ")
            self.lifetime(lt - 1)

    def dyn_traits(self):
        first = True
        while not self.eat("E"):
            if not first:
                self.emit(" + ")
            first = False
            is_open = self.open_path()
            while self.eat("p"):
                self.emit(", " if is_open else "<")
                is_open = True
                name, _ = self.ident()
                self.emit(name + " = ")
                self.type()
            if is_open:
                self.emit(">")

    def open_path(self):
        """A trait path whose `<...>` stays open for associated-type bindings."""
        if self.eat("B"):
            return self.backref(self.open_path)
        if self.eat("I"):
            self.path(False)
            self.emit("<")
            self.generic_args()
            return True
        self.path(False)
        return False

    # -- constants
    def const(self):
        if self.eat("p"):
            self.emit("_")
            return
        if self.eat("B"):
            self.backref(self.const)
            return
        ty = self.next()
        negative = ty in _SIGNED and self.eat("n")
        start = self.pos
        while self.peek() and self.peek() in "0123456789abcdef":
            self.pos += 1
        digits = self.s[start:self.pos]
        if not self.eat("_"):
            raise _Invalid()
        value = int(digits, 16) if digits else 0
        if ty in _SIGNED or ty in _UNSIGNED:
            self.emit(("-" if negative else "") + str(value))
        elif ty == "b" and value in (0, 1):
            self.emit("true" if value else "false")
        elif ty == "c" and value < 0x110000:
            self.emit(repr(chr(value)))
        else:
            raise _Invalid()


def _v0(name):
    """(readable, crate) of a v0 symbol, or None when it is not valid v0."""
    body = name[2:]
    if not body or not body[0].isupper():
        return None
    printer = _V0(body)
    try:
        crate = printer.path(True)
        if printer.peek().isupper():
            printer.skipping(printer.path, False)   # the instantiating crate
    except (_Invalid, RecursionError, IndexError, ValueError):
        return None
    if printer.pos != len(body):
        return None
    return "".join(printer.out), crate


# -- the public face -----------------------------------------------------------

def _split(name):
    """(name without a `.llvm.` suffix, the mangling scheme or None)."""
    if not name:
        return name, None
    bare = _LLVM_SUFFIX.sub("", name)
    if bare.startswith("_ZN"):
        return bare, "legacy"
    if bare.startswith("_R"):
        return bare, "v0"
    return bare, None


def demangle(name):
    """`_ZN4core3fmt5write17h0123456789abcdefE` -> `core::fmt::write`;
    `_RNvCs1234_7mycrate3foo` -> `mycrate::foo`; anything else unchanged
    (but for a ThinLTO `.llvm.NNN` suffix, dropped)."""
    bare, scheme = _split(name)
    if scheme == "legacy":
        return _legacy(bare) or name
    if scheme == "v0":
        done = _v0(bare)
        return done[0] if done else name
    return bare


def stable_key(name):
    """The name with everything a rebuild changes removed (hashes, v0 crate
    disambiguators, `.llvm.` suffixes): equal for the same function across
    builds with different `-C metadata`."""
    return demangle(name)


def crate_of(name):
    """The crate a function's code belongs to (its path's first crate; for an
    impl, the crate of the impl), or None for a name that is not Rust's."""
    bare, scheme = _split(name)
    if scheme == "v0":
        done = _v0(bare)
        return done[1] if done else None
    if scheme != "legacy":
        return None
    readable = _legacy(bare)
    if readable is None:
        return None
    return _first_crate(readable)


def _first_crate(path):
    """`core::fmt::write` -> core; `<T as core::any::Any>::type_id` -> core;
    `<alloc::vec::Vec<T> as Drop>::drop` -> alloc."""
    if path.startswith("<"):
        inner = path[1:]
        depth, cut = 0, len(inner)
        for i, ch in enumerate(inner):
            if ch == "<":
                depth += 1
            elif ch == ">":
                if depth == 0:
                    cut = i
                    break
                depth -= 1
        inner = inner[:cut]
        head, sep, trait = inner.partition(" as ")
        for candidate in (head, trait) if sep else (head,):
            crate = candidate.lstrip("&*").split("::")[0] if "::" in candidate else None
            if crate and crate.isidentifier():
                return crate
        return None
    crate = path.split("::")[0]
    return crate if "::" in path and crate.isidentifier() else None
