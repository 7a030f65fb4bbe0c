"""The decoded function bodies of one optimizer run, shared by every pass.

Decoding is a large part of a cold run, and three consumers read every body:
merge-similar-functions (constants), the function phase (the passes' input)
and renumber-functions (references). The pipeline owns one `Bodies` per run
and hands it to each of them, so a body is decoded once.

Keyed by the body's bytes (after the size prefix): a body a pass rewrote has
other bytes and is decoded afresh, and an unchanged body is found again after
the module was re-read. Spans in a stored body are relative to the body's
first byte, whatever the body's offset in a module.

Stored bodies are shared: nobody may change their lists (passes hand new lists
to `Function.update`; module passes only read). A body that does not decode
keeps its DecodeError, raised again to every reader.

The store also keeps the function references (funcindex.references' spans)
of the bodies the function phase wrote: it learns them while encoding, so
renumber-functions, which runs after it, need not decode the new bytes.
"""

from loom_post.wasm.errors import DecodeError
from loom_post.wasm.instructions import decode_body


class Bodies:
    __slots__ = ("_by_bytes", "_refs", "decoded")

    def __init__(self):
        self._by_bytes = {}   # body bytes -> Body, or the DecodeError it raised
        self._refs = {}       # body bytes -> [(start, end, function index)]
        self.decoded = 0      # decode_body calls made (the tests count them)

    def get(self, module, pos):
        """The decoded body of defined function `pos` of `module`."""
        entry = module.code[pos]
        return self.of_bytes(module.data[entry.body_start:entry.end])

    def of_bytes(self, data):
        found = self._by_bytes.get(data)
        if found is None:
            self.decoded += 1
            try:
                found = decode_body(data, 0, len(data))
            except DecodeError as e:
                found = e
            self._by_bytes[data] = found
        if isinstance(found, DecodeError):
            raise type(found)(found.message, found.offset)  # a fresh one: no stacked traceback
        return found

    def note_references(self, data, spans):
        """`spans`: the function-index immediates of body `data`, as
        funcindex.references finds them, known without decoding it."""
        self._refs[data] = spans

    def known_references(self, data):
        return self._refs.get(data)
