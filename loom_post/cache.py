"""A store of byte strings under the user's cache directory, for results that
are expensive to compute and cheap to check (see passes/results_cache.py).

Where: `$XDG_CACHE_HOME/loom-post`, else `~/.cache/loom-post` (config key
`cache-dir` relocates it). Each entry is one file, `<kind>/<key[:2]>/<key>`,
holding a magic line, the SHA-256 of the payload and the payload. Entries are
written to a temporary file and renamed into place, so a reader sees a whole
entry or none; a reader that finds a short, foreign or corrupt file treats it
as a miss. Concurrent runs may write the same entry: the last rename wins and
both wrote the same bytes. The store is bounded: after a run that wrote, the
least recently used entries (by mtime; a hit touches its file) are removed
until the total is under the bound.

The cache is an accelerator, never a source of failure: any OSError here is a
miss or a write that did not happen.

Besides the store: `open_store` (the store a configuration asks for) and
`measure_sizes`, the compressed sizes of a module's bytes, kept under the
SHA-256 of the bytes and the compressors' versions, which every route that
reports sizes (optimize, check) shares.
"""

import hashlib
import json
import os
import time

MAGIC = b"loom-post cache 1\n"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_HEAD = len(MAGIC) + 32
_STALE_TEMP = 3600  # seconds: a temporary file this old belongs to a dead run


def default_dir(environ=None):
    """The XDG cache directory for loom-post (a relative XDG_CACHE_HOME is
    ignored, as the XDG specification requires)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "loom-post")


def digest(*parts):
    """Hex SHA-256 over `parts` (bytes or str), each length-prefixed so that
    no two different part lists hash the same bytes."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else bytes(p)
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class Digests:
    """One run's SHA-256 digests of the bytes it hashes: a run looks the same
    input and output bytes up several times (the module key, the output's
    check, the compressed sizes' keys; ~0.7 ms per MB each), and hashes each
    once. The run owns it and drops it when it ends, so no module image
    outlives its run (a watch process runs for hours). Only `bytes`, which
    cannot change, are remembered; by identity, holding the object so that
    its id cannot be reused while remembered."""

    def __init__(self):
        self._known = {}   # id(bytes) -> (the bytes, their digest)

    def sha256(self, data):
        """The SHA-256 digest (bytes) of `data`."""
        known = self._known.get(id(data))
        if known is not None:
            return known[1]
        d = hashlib.sha256(data).digest()
        if type(data) is bytes:
            self._known[id(data)] = (data, d)
        return d


class Store:
    def __init__(self, directory, max_bytes=DEFAULT_MAX_BYTES):
        self.directory = directory
        self.max_bytes = max_bytes
        self.written = 0    # bytes written by this process (eviction runs only then)

    def path(self, kind, key):
        return os.path.join(self.directory, kind, key[:2], key)

    def get(self, kind, key, digests=None):
        """The payload stored under (kind, key), or None (absent or damaged).
        `digests`: the run's Digests, for a payload the run hashes again (a
        cached output: its own digest check, the sizes' key), hashed once."""
        path = self.path(kind, key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        payload = raw[_HEAD:]
        if not raw.startswith(MAGIC) or _sha256(payload, digests) != raw[len(MAGIC):_HEAD]:
            return None
        try:
            os.utime(path)  # a hit is a use: eviction removes the least recently used
        except OSError:
            pass
        return payload

    def put(self, kind, key, payload, digests=None):
        """Store `payload`; False when it could not be written. `digests`: as
        for get."""
        path = self.path(kind, key)
        tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "xb") as f:
                f.write(MAGIC + _sha256(payload, digests) + payload)
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        self.written += _HEAD + len(payload)
        return True

    def evict(self):
        """Remove the least recently used entries until the store is within
        its bound (and temporary files left by killed runs)."""
        if not self.written:
            return
        entries, total, now = [], 0, time.time()
        for path, st in self._files():
            if path.endswith(".tmp"):
                if now - st.st_mtime > _STALE_TEMP:
                    _unlink(path)
                continue
            entries.append((st.st_mtime, st.st_size, path))
            total += st.st_size
        entries.sort()
        for _mtime, size, path in entries:
            if total <= self.max_bytes:
                break
            if _unlink(path):
                total -= size

    def _files(self):
        for root, _dirs, files in os.walk(self.directory):
            for name in files:
                path = os.path.join(root, name)
                try:
                    yield path, os.stat(path)
                except OSError:
                    continue


def _sha256(payload, digests=None):
    return digests.sha256(payload) if digests is not None else hashlib.sha256(payload).digest()


def _unlink(path):
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def open_store(config):
    """The store the configuration asks for (`cache`, `cache-dir`), or None."""
    if not config.cache:
        return None
    return Store(config.cache_dir or default_dir())


def installed(module_name):
    """The installed distribution of `module_name`, by its metadata directory
    ("wasmtime-50.0.1.dist-info"), found without importing it (wasmtime's
    import alone costs more than the rest of a warm run); the stat of its
    files when there is no metadata; "" when it is not installed."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(module_name)
        if spec is None:
            return ""
        where = (list(spec.submodule_search_locations)[0] if spec.submodule_search_locations
                 else spec.origin)
        site = os.path.dirname(where)
        prefix = module_name.lower() + "-"
        found = sorted(n for n in os.listdir(site) if n.lower().startswith(prefix)
                       and n.endswith((".dist-info", ".egg-info")))
        if found:
            return ",".join(found)
        st = os.stat(where)
        return f"{where}:{st.st_size}:{st.st_mtime_ns}"
    except (ImportError, ValueError, OSError):
        return ""


def _sizes_key(data, digests):
    import zlib
    return digest("sizes", zlib.ZLIB_RUNTIME_VERSION, installed("brotli"),
                  digests.sha256(data))


def measure_sizes(sizes, wanted, store, digests=None):
    """Measure `wanted` (measure names) of a sizes.Sizes. gzip and brotli sizes
    are deterministic in the bytes and the compressor: with a store, those
    measured before for the same bytes are read back instead of compressing
    again (brotli q11 costs ~5 s per MB), and new ones are recorded.
    `digests`: the calling run's Digests (None: the bytes are hashed anew)."""
    slow = [m for m in wanted if m in ("gzip", "brotli") and sizes.known(m) is None]
    if store is None or not slow:
        sizes.measure(wanted)
        return sizes
    key = _sizes_key(sizes.data, digests if digests is not None else Digests())
    try:
        known = json.loads(store.get("sizes", key) or b"{}")
    except ValueError:
        known = {}
    known = known if isinstance(known, dict) else {}
    for m in slow:
        if isinstance(known.get(m), int):
            sizes.put(m, known[m])
    sizes.measure(wanted)
    now = {m: sizes.known(m) for m in ("gzip", "brotli") if sizes.known(m) is not None}
    if now != known:
        store.put("sizes", key, json.dumps(now, sort_keys=True).encode())
    return sizes
