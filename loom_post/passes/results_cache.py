"""What the pipeline caches, and the keys that make a cached result the result.

Two levels, both in the store of loom_post/cache.py:
- per module (`module`): the SHA-256 of the whole input, with the
  configuration, gives the result's figures and the output's SHA-256, the
  output bytes being stored apart under that digest (`output`); and every
  output written is recorded (`own`), so a module that is loom-post's own
  output under the same configuration is recognised without any pass running.
- per function (`functions`): one pack per module context, mapping each code
  entry (its bytes, size prefix included, and its own type) to what the
  function passes made of it.

Every key holds the configuration key: the digest of loom-post's version and
sources of wasm/ and passes/ (a changed optimizer misses), the validator's
version, the pass names in order, the never-grow measures and keep-dwarf. The
module context holds everything the function passes and stack typing read
from outside the body: the type section, every function's type index, the
number of imports, global types and mutability, memories (shared and 64-bit
flags, limits), tables and tags. A module entry names its own key and the SHA-256 of its output, so a
damaged entry, or one copied under another key, is a miss: the output it gives
is exactly the bytes the validator accepted in the run that recorded them,
which is why the pipeline does not validate them again (docs/speed.md).
"""

import hashlib
import json
import marshal
import os

from loom_post.cache import Digests, digest, installed
from loom_post.passes.result import PassStats


def code_version(pkg=None):
    """The digest of loom-post's version and of the sources results depend on
    (`pkg`: the loom_post package directory, by default this one)."""
    pkg = pkg or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for sub in ("", "wasm", "passes"):
        folder = os.path.join(pkg, sub)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py") and (sub or name == "__init__.py"):
                with open(os.path.join(folder, name), "rb") as f:
                    parts += [os.path.join(sub, name), f.read()]
    return digest(*parts)


def validator_version():
    """The installed wasmtime (cache.installed): cached verdicts of the
    validator are reused only under the same validator."""
    return installed("wasmtime")


def config_key(pass_names, never_grow, keep_dwarf, version=None, optimize_for="code"):
    return digest(version or code_version(), validator_version(),
                  json.dumps([list(pass_names), sorted(never_grow), bool(keep_dwarf),
                              optimize_for]))


def module_context(module):
    """What passes and stack typing read from outside a function body."""
    return repr((module.types, module.func_types, module.num_imported_funcs,
                 module.globals, module.memories, module.tables, module.tags))


class ResultsCache:
    def __init__(self, store, pass_names, never_grow, keep_dwarf, version=None,
                 optimize_for="code", digests=None):
        self.store = store
        self.config = config_key(pass_names, never_grow, keep_dwarf, version, optimize_for)
        # the run's digests (cache.Digests), shared with its sizes' keys
        self.digests = digests if digests is not None else Digests()

    # -- per module ------------------------------------------------------------

    def _module_key(self, data):
        # the module's own digest is the run's (hashed once); this one is of a few bytes
        return digest(self.config, self.digests.sha256(data))

    def get_module(self, data):
        """(figures dict, output bytes or None) recorded for this input, or None."""
        key = self._module_key(data)
        try:
            figures = json.loads(self.store.get("module", key) or b"null")
        except ValueError:
            return None
        if not isinstance(figures, dict) or figures.get("key") != key:
            return None   # foreign: written under another key, or by an older loom-post
        if not figures.get("changed"):
            return figures, None
        # the output is stored apart, under its own digest, so that it is hashed
        # once (the run's digests: the store's checksum, this check, the sizes' key)
        out_digest = figures.get("out_sha256")   # (the name `digest` is the key's function)
        out = (self.store.get("output", out_digest, self.digests)
               if isinstance(out_digest, str) else None)
        if out is None or self.digests.sha256(out).hex() != out_digest:
            return None
        return figures, out

    def put_module(self, data, figures, out):
        """Record `figures` and `out` (bytes the validator accepted, or None:
        unchanged) as the result for the input `data`."""
        key = self._module_key(data)
        figures = dict(figures, key=key)
        if out is not None:
            figures["out_sha256"] = self.digests.sha256(out).hex()
            self.store.put("output", figures["out_sha256"], out, self.digests)
        self.store.put("module", key, json.dumps(figures, sort_keys=True).encode())

    def is_own_output(self, data):
        key = self._module_key(data)
        return self.store.get("own", key) == key.encode()

    def put_own_output(self, out):
        key = self._module_key(out)
        self.store.put("own", key, key.encode())

    # -- per function ----------------------------------------------------------

    def function_keys(self, module, positions):
        """{position: key} for the code entries at `positions`."""
        data, keys = module.data, {}
        for pos in positions:
            entry = module.code[pos]
            h = hashlib.sha256(repr(module.func_type(module.func_index(pos))).encode())
            h.update(data[entry.start:entry.end])
            keys[pos] = h.digest()
        return keys

    def _pack_key(self, module, pass_names):
        return digest(self.config, "functions", ",".join(pass_names), module_context(module))

    def get_functions(self, module, pass_names):
        """{function key: outcome} of the last run in this module context."""
        payload = self.store.get("functions", self._pack_key(module, pass_names))
        if payload is None:
            return {}
        try:
            pack = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return {}
        return pack if isinstance(pack, dict) else {}

    def put_functions(self, module, pass_names, pack):
        self.store.put("functions", self._pack_key(module, pass_names),
                       marshal.dumps(pack))


def encode_outcome(new_body, stats, understood):
    return (None if new_body is None else (bytes(new_body[0]), new_body[1]),
            [(s.name, s.functions_changed, s.bytes_saved, s.counters) for s in stats],
            understood)


def decode_outcome(value):
    """(new body or None, [PassStats], understood) from encode_outcome's value;
    ValueError when it is not one."""
    try:
        new_body, stats, understood = value
        if new_body is not None:
            body, saved = new_body
            if not isinstance(body, bytes) or not isinstance(saved, int):
                raise ValueError("bad body")
        out = []
        for name, changed, saved, counters in stats:
            s = PassStats(name)
            s.functions_changed, s.bytes_saved = int(changed), int(saved)
            s.counters = {str(k): int(v) for k, v in counters.items()}
            out.append(s)
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"not a cached outcome: {e}")
    return new_body, out, bool(understood)
