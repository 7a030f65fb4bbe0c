"""The never-grow guard: an optimized module is kept only when none of the
guarded measures (code, file, gzip, brotli: see loom_post/sizes.py) grew.

Why: rewrites that save raw bytes can cost compressed bytes. CSE replaces
repeated instruction sequences, which deflate and brotli encode as cheap back
references, with `local.tee`/`local.get` of fresh indices that break the
repeats; over the corpus it cut raw size 1.36% but grew gzip 1.12% and brotli
1.54%. Web users download the compressed file, so by default nothing may grow.

How, after every pass has run (the guard is the pipeline's, so every pass runs
under it):
1. confirm the complete output on the whole file: build it, measure the guarded
   sizes against the input's (similar functions rewritten alike may only pay
   together, so everything is tried first);
2. if a guarded measure grew, estimate each changed function's compressed cost:
   deflate (level 9) of the old and of the new entry followed by the next FOLLOW
   bytes of the input, with the WINDOW bytes before it as a preset dictionary
   (its neighbours' matches count: the bytes after it are compressed too), and
   confirm only the rewrites whose estimate shrank (if none did, the better
   half by estimate);
3. while a guarded measure still grew, back off: keep the better half by
   estimate, at most ATTEMPTS builds in all; then keep the input's bodies.
The `code` measure is always guarded and needs no confirming: the pipeline keeps
a body only when its entry is strictly smaller. `brotli` is confirmed exactly, at
quality 11, and last: brotli at quality 11 is chaotic at the scale of a few
hundred bytes (re-encoding the code section's size prefix 2 bytes shorter moved
one module's brotli size by +89 bytes; single one-byte rewrites moved another's by
-44 to -165), so no estimate or lower quality predicts it; only measuring does.
It costs ~5 s per MB, so it runs only on an output that already passed every
cheaper measure, at most BROTLI_ATTEMPTS times, with the input's brotli size
measured once (reports reuse both). And it runs only when the rewrites left
save at least BROTLI_WORTH of the file's bytes: below that, their effect on brotli
is a coin flip smaller than its noise, not worth two quality-11 runs (seconds),
so they are reverted unmeasured and the input's bytes are kept.

Cost: the estimate is two small deflates per changed function (~2 ms); a
confirmation is one gzip (~0.2 s/MB) of the output; then at most BROTLI_ATTEMPTS
+ 1 brotli runs. With only `code` guarded nothing runs.
Per-function backing off needs every change to be a function body rewrite; when
a module pass ran, the guard can only keep the whole output or the input.
"""

import hashlib
import zlib

from loom_post.sizes import MEASURES, brotli_size, gzip_size
from loom_post.wasm.leb128 import encode_u

WINDOW = 32768        # deflate's own window: the context a function is compressed in
FOLLOW = 4096         # bytes after the function whose matches it may break
ATTEMPTS = 4          # whole-file gzip confirmations before falling back to the input
BROTLI_ATTEMPTS = 2   # exact brotli confirmations (the expensive ones)
BROTLI_WORTH = 0.001  # raw saving (fraction of the file) worth confirming with brotli
DEFAULT = MEASURES    # the `never-grow` default: nothing the user downloads may grow


def normalize(measures):
    """The guarded measures in canonical order; `code` is always included."""
    chosen = set(measures or ()) | {"code"}
    return tuple(m for m in MEASURES if m in chosen)


class Guard:
    """Measures the input once and judges candidate outputs against it."""

    def __init__(self, data, measures):
        self.measures = normalize(measures)
        self.data = data
        self.before = {"file": len(data)}
        if "gzip" in self.measures:
            self.before["gzip"] = gzip_size(data)
        self.after = {}
        self.confirmations = 0
        self.brotli_runs = 0
        self.not_worth = False

    @property
    def compressed(self):
        return "gzip" in self.measures or "brotli" in self.measures

    def cheap_accepts(self, out):
        """True when neither file nor gzip (if guarded) of `out` grew."""
        self.confirmations += 1
        self._pending = {"file": len(out)}
        if "file" in self.measures and len(out) > self.before["file"]:
            return False
        if "gzip" in self.measures:
            self._pending["gzip"] = gzip_size(out)
            if self._pending["gzip"] > self.before["gzip"]:
                return False
        if "brotli" not in self.measures:
            self._accept(out)
        return True

    def _accept(self, out):
        """Remember the sizes of the last accepted output, with its digest, so
        that a report reuses them only for exactly those bytes."""
        self.after = dict(self._pending, digest=hashlib.sha256(out).digest())

    def brotli_accepts(self, out):
        """True when brotli at quality 11 of `out` did not grow (call after
        cheap_accepts(out) said True); False unmeasured below BROTLI_WORTH."""
        if len(self.data) - len(out) < BROTLI_WORTH * len(self.data):
            self.not_worth = True   # smaller subsets save even less: stop here
            return False
        self.brotli_runs += 1
        if "brotli" not in self.before:
            self.before["brotli"], self._pending["brotli"] = _brotli_both(self.data, out)
        else:
            self._pending["brotli"] = brotli_size(out)
        if self._pending["brotli"] > self.before["brotli"]:
            return False
        self._accept(out)
        return True

    def accepts(self, out):
        """True when no guarded measure of `out` is larger than the input's."""
        return self.cheap_accepts(out) and ("brotli" not in self.measures
                                            or self.brotli_accepts(out))


def _brotli_both(a, b):
    """(brotli size of a, of b), the two computed at once in two processes when
    fork is available (each takes seconds on a large module)."""
    import multiprocessing
    try:
        ctx = multiprocessing.get_context("fork")
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_send_brotli_size, args=(a, writer), daemon=True)
        child.start()
    except (ValueError, OSError):   # no fork here: one after the other
        return brotli_size(a), brotli_size(b)
    writer.close()
    size_b = brotli_size(b)
    try:
        size_a = reader.recv()
    except EOFError:                # the child died: measure here
        size_a = brotli_size(a)
    child.join()
    return size_a, size_b


def _send_brotli_size(data, writer):
    writer.send(brotli_size(data))
    writer.close()


def estimate(data, entry, new_body):
    """Estimated change in deflated bytes if `entry` (a CodeEntry of `data`)
    became `new_body`: negative when the rewrite compresses better."""
    start, end = entry.start, entry.end
    context = data[max(0, start - WINDOW):start]
    follow = data[end:end + FOLLOW]
    new = encode_u(len(new_body)) + new_body
    return _deflated(context, new + follow) - _deflated(context, data[start:end] + follow)


def _deflated(context, chunk):
    if context:
        c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, bytes(context))
    else:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return len(c.compress(chunk)) + len(c.flush())


def choose(guard, data, module, replaced, build):
    """The positions (a subset of `replaced`: position -> new body) whose
    rewrites are kept, given `build(positions) -> output bytes`; [] when even
    the smallest subset tried grew a guarded measure."""
    for keep in _tries(guard, data, module, replaced):
        if guard.not_worth or guard.brotli_runs >= BROTLI_ATTEMPTS:
            break
        if guard.accepts(build(keep)):
            return keep
    return []


def _tries(guard, data, module, replaced):
    """The subsets to confirm, largest first, at most ATTEMPTS: everything (the
    rewrites of similar functions may only pay together); then the rewrites
    whose estimate shrank, halved while they still grow something; when no
    estimate shrank, the better-estimated halves of everything."""
    everything = sorted(replaced)
    yield everything
    if not guard.compressed:
        return
    scored = sorted((estimate(data, module.code[pos], replaced[pos]), pos) for pos in everything)
    order = [pos for _, pos in scored]
    keep = [pos for est, pos in scored if est < 0] or order[:len(order) // 2]
    for _ in range(ATTEMPTS - 1):
        if not keep:
            return
        yield keep
        keep = keep[:len(keep) // 2]   # the best estimates first
