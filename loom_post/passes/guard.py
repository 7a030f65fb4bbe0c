"""The never-grow guard: an optimized module is kept only when none of the
guarded measures (code, file, gzip, brotli: see loom_post/sizes.py) grew.

Why: rewrites that save raw bytes can cost compressed bytes. CSE replaces
repeated instruction sequences, which deflate and brotli encode as cheap back
references, with `local.tee`/`local.get` of fresh indices that break the
repeats; over the corpus it cut raw size 1.36% but grew gzip 1.12% and brotli
1.54%. Web users download the compressed file, so by default nothing may grow.

The reference: what the output is judged against. Changed code makes DWARF
(`.debug_*`) stale and the output drops it (unless keep-dwarf), so when the
input has DWARF the reference is the input as it would ship without any
rewrite: the input with those same sections dropped (the "stripped input",
built by the pipeline). Against the DWARF-laden input every rewrite would pass
(raw cargo output is mostly DWARF: the dropped megabytes dwarf any rewrite's
growth), so the guard would guard nothing; against the stripped input it
judges the rewrites themselves, and cheaply: brotli q11 of serde-json-dev's
8.6 MB input takes 12.3 s, of its 0.48 MB stripped input 0.8 s.
Every guarded measure of the output must not exceed the reference's, exactly;
file and gzip must not exceed the input's own either (cheap: zlib -9 of 8.6 MB
is ~0.5 s), so those two promises hold against the input itself. The input's
own brotli is then not measured (reports say which figure they show). Without
DWARF, with keep-dwarf, or with less than DWARF_MIN bytes of it, the reference
is the input itself: the output's brotli is then bounded by the input's own
exactly, at little more cost. Above it the bound holds with a wide margin
though unproven: brotli packs DWARF to about a fifth (cargo's 5.0 MB modules,
4.99 MB of it DWARF, to ~0.95 MB), so 4 KiB of it is worth ~800 brotli bytes,
well above brotli's noise at the scale of a few hundred bytes (below).

How, after every pass has run (the guard is the pipeline's, so every pass runs
under it):
1. confirm the complete output on the whole file: build it, measure the guarded
   sizes against the reference's (similar functions rewritten alike may only
   pay together, so everything is tried first);
2. if a guarded measure grew, estimate each changed function's compressed cost:
   deflate (level 9) of the old and of the new entry followed by the next FOLLOW
   bytes of the input, with the WINDOW bytes before it as a preset dictionary
   (its neighbours' matches count: the bytes after it are compressed too), and
   confirm only the rewrites whose estimate shrank (if none did, the better
   half by estimate);
3. while a guarded measure still grew, back off: keep the better half by
   estimate, at most ATTEMPTS builds in all; then keep the input's bodies;
4. the middle step (the pipeline's, when compact ran): each function whose
   rewrite was reverted is offered again as compact alone would write it (its
   original body with minimal LEB128s: wasm-ld's 5-byte padding gone, which
   hardly ever grows a compressed size, where CSE's rewrite of the same
   function may), chosen by steps 1-3 over the output kept so far; only what
   passes is kept, the rest keeps the input's bytes. When some are kept, the
   full rewrites not kept are chosen again over the output as it now stands
   (as a second run over it would), until none more is kept, at most RETRY_ROUNDS
   rounds; each of these choices is a step (its own BROTLI_ATTEMPTS).
The `code` measure is always guarded and needs no confirming: the pipeline keeps
a body only when its entry is strictly smaller. `brotli` is confirmed exactly, at
quality 11, and last: brotli at quality 11 is chaotic at the scale of a few
hundred bytes (re-encoding the code section's size prefix 2 bytes shorter moved
one module's brotli size by +89 bytes; single one-byte rewrites moved another's by
-44 to -165), so no estimate or lower quality predicts it; only measuring does.
It costs ~3.5-5 s per MB, so it is measured once, on the final output: every
step (the function phase, each module pass) is judged on the cheaper measures,
the complete output is confirmed exactly at the end, and only when that fails
does the pipeline start over with every step confirmed exactly (`careful`, at
most BROTLI_ATTEMPTS brotli runs per step: each choose() call; a module pass
is one). The reference's brotli size runs in
a forked process (brotli holds the GIL: two threads took twice one's time) from
the first step that needs it, or from the start when the reference is the
stripped input (its rewrites are the raw output's whole story), so it overlaps
the optimizer and the output's brotli. Every measurement is kept by digest: the
same bytes are never measured twice, and reports reuse them.
Brotli is only measured when the rewrites left save at least BROTLI_WORTH of
the reference's bytes: below that, their effect on brotli is a coin flip smaller
than its noise, not worth two quality-11 runs (seconds), so they are reverted
unmeasured and the input's bytes are kept. The exact decision cannot cost less
than one brotli of the reference: compressed sizes have no bound that would let
it be skipped (brotli q11, fed a 1.2 MB module in pieces, emitted nothing before
the end, so not even a partial size is known early).

optimize-for (`prefer`): which measure wins when rewrites trade one against
another. With `code` the largest subset that passes the guard is kept (the
first tried). With `gzip` or `brotli` every subset tried is measured in that
measure too, and the one smallest in it wins, only when not larger than the
output with none of the phase's rewrites; a module pass is kept only when it
does not grow that measure either. Guarded measures never grow either way.

Cost: the estimate is two small deflates per changed function (~2 ms); a
confirmation is one gzip (~0.2 s/MB) of the output; then one brotli of the
output and one of the reference, in parallel. With only `code` guarded and
preferred nothing runs.
Per-function backing off needs every change to be a function body rewrite; when
a module pass ran, the guard can only keep the whole output or the input.
"""

import hashlib
import zlib

from loom_post.children import die_with_parent
from loom_post.sizes import MEASURES, brotli_size, guarded_measures, gzip_size
from loom_post.wasm.leb128 import encode_u

WINDOW = 32768        # deflate's own window: the context a function is compressed in
FOLLOW = 4096         # bytes after the function whose matches it may break
ATTEMPTS = 4          # whole-file gzip confirmations before falling back to the input
RETRY_ROUNDS = 4      # rounds retrying full rewrites over kept compact-only ones
BROTLI_ATTEMPTS = 2   # exact brotli confirmations (the expensive ones)
BROTLI_WORTH = 0.001  # raw saving (fraction of the file) worth confirming with brotli
DWARF_MIN = 4096      # dropped DWARF bytes from which the stripped input is the reference
DEFAULT = MEASURES    # the `never-grow` default: nothing the user downloads may grow
OPTIMIZE_FOR = ("code", "gzip", "brotli")   # the measures `optimize-for` may name


class Guard:
    """Measures the input (and the reference, see above) once and judges
    candidate outputs against them.

    `prefer` (optimize-for) is the measure that decides between candidates that
    all pass. `deferred`: brotli is not measured per step but once, on the
    final output (confirm); a caller whose final output fails it starts over
    with careful() (every step confirmed exactly, as when not deferred)."""

    def __init__(self, data, measures, prefer="code", deferred=True, early=False,
                 reference=None):
        self.measures = guarded_measures(measures)
        self.prefer = prefer
        self.data = data
        # The bytes the compressed sizes are judged against: `reference` (the
        # input with its stale DWARF dropped, which the output drops too) or the input.
        self.reference = data if reference is None or reference == data else reference
        self.stripped = self.reference is not data
        self.before = {"file": len(data)}   # the input's own sizes, as reports show them
        self.sizes = {_digest(data): self.before}
        self.reference_sizes = self.before
        if self.stripped:
            self.reference_sizes = self.sizes.setdefault(_digest(self.reference),
                                                          {"file": len(self.reference)})
        if "gzip" in self.measures or prefer == "gzip":
            self.before["gzip"] = gzip_size(data)
            if self.stripped:
                self.reference_sizes["gzip"] = gzip_size(self.reference)
        self.deferred = deferred and "brotli" in self.measures and prefer != "brotli"
        self.pending = False          # the accepted state's brotli is not confirmed yet
        self.confirmations = 0
        self.brotli_runs = 0
        self.not_worth = False
        self._reference_brotli = None
        if early and self.wants("brotli"):
            self._start_reference_brotli()

    def wants(self, measure):
        return measure in self.measures or measure == self.prefer

    @property
    def compressed(self):
        """True when candidates are judged by a compressed size."""
        return self.wants("gzip") or self.wants("brotli")

    def known(self, out):
        """The sizes measured of exactly these bytes ({} when never measured)."""
        return self.sizes.get(_digest(out), {})

    def _measure(self, out, measure):
        sizes = self.sizes.setdefault(_digest(out), {"file": len(out)})
        if measure not in sizes:
            if measure == "gzip":
                sizes[measure] = gzip_size(out)
            else:
                self.brotli_runs += 1
                sizes[measure] = brotli_size(out)
        return sizes[measure]

    def limit(self, measure):
        """The largest `measure` an output may have: the reference's, and for
        file and gzip (cheap even with megabytes of DWARF) the input's own too."""
        if measure == "brotli":
            if "brotli" not in self.reference_sizes:
                self._start_reference_brotli()
                self.reference_sizes["brotli"] = self._reference_brotli.result()
            return self.reference_sizes["brotli"]
        return min(self.before[measure], self.reference_sizes[measure])

    def _start_reference_brotli(self):
        """The reference's brotli size computed in a second process while this
        one goes on (brotli holds the GIL, so a thread would not overlap)."""
        if self._reference_brotli is None:
            self._reference_brotli = _Background(brotli_size, self.reference)

    def cheap_accepts(self, out):
        """True when neither file nor gzip (if guarded) of `out` grew."""
        self.confirmations += 1
        if "file" in self.measures and len(out) > self.limit("file"):
            return False
        return "gzip" not in self.measures or self._measure(out, "gzip") <= self.limit("gzip")

    def brotli_accepts(self, out):
        """True when brotli at quality 11 of `out` did not grow (call after
        cheap_accepts(out) said True); False unmeasured below BROTLI_WORTH."""
        if len(self.reference) - len(out) < BROTLI_WORTH * len(self.reference):
            self.not_worth = True   # smaller subsets save even less: stop here
            return False
        self._start_reference_brotli()   # overlaps with the optimizer or `out`'s below
        if self.deferred:                # confirmed once, on the final output
            self.pending = True
            return True
        return self._measure(out, "brotli") <= self.limit("brotli")

    def accepts(self, out):
        """True when no guarded measure of `out` is larger than the input's
        (brotli: unless deferred, see confirm)."""
        return self.cheap_accepts(out) and ("brotli" not in self.measures
                                            or self.brotli_accepts(out))

    def confirm(self, out):
        """The final decision on the complete output, exact in every guarded
        measure: True when nothing deferred is left or brotli did not grow."""
        if not self.pending or out == self.data:
            return True
        self.pending = False
        return self._measure(out, "brotli") <= self.limit("brotli")

    def careful(self):
        """Judge every step exactly from now on (after a failed confirm)."""
        self.deferred = self.pending = self.not_worth = False
        self.confirmations = self.brotli_runs = 0

    def preferred(self, out):
        """The optimize-for measure of `out` (smaller is better)."""
        return len(out) if self.prefer == "code" else self._measure(out, self.prefer)

    def close(self):
        if self._reference_brotli is not None:
            self._reference_brotli.cancel()


def _digest(data):
    return hashlib.sha256(data).digest()


class _Background:
    """f(data) computed in a forked process; computed here when fork is missing
    or the child dies."""

    def __init__(self, f, data):
        import multiprocessing
        self.f, self.data, self.child, self.value = f, data, None, None
        try:
            ctx = multiprocessing.get_context("fork")
            self.reader, writer = ctx.Pipe(duplex=False)
            self.child = ctx.Process(target=_send, args=(f, data, writer), daemon=True)
            self.child.start()
            writer.close()
        except (ValueError, OSError):   # no fork here: computed when asked
            self.child = None

    def result(self):
        if self.value is None:
            try:
                self.value = self.reader.recv() if self.child is not None else None
            except EOFError:            # the child died
                pass
            if self.value is None:
                self.value = self.f(self.data)
            self.cancel()
        return self.value

    def cancel(self):
        if self.child is not None:
            if self.child.is_alive():
                self.child.kill()
            self.child.join()
            self.reader.close()
            self.child = None


def _send(f, data, writer):
    import os
    die_with_parent(os.getppid())
    writer.send(f(data))
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
    the smallest subset tried grew a guarded measure. With optimize-for code
    the largest subset that passes wins; else the one smallest in that measure,
    and only when it is not larger than the output with none of them."""
    best = None
    # Each step gets its own brotli cap and worth verdict: a careful rerun
    # judges several steps, and the function phase must not find them spent.
    guard.not_worth, runs = False, guard.brotli_runs
    for keep in _tries(guard, data, module, replaced):
        if guard.not_worth or guard.brotli_runs - runs >= BROTLI_ATTEMPTS:
            break
        out = build(keep)
        if not guard.accepts(out):
            continue
        if guard.prefer == "code":
            return keep
        score = guard.preferred(out)
        if best is None or score < best[0]:
            best = (score, keep)
    if best is None or best[0] > guard.preferred(build([])):
        return []
    return best[1]


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
