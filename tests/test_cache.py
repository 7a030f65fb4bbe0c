"""The result cache: a hit gives exactly what a cold run gives, every key
component misses when it changes, damaged and foreign entries are misses, the
store stays within its bound, and it can be turned off or moved
(loom_post/cache.py, passes/results_cache.py)."""

import json
import os
import subprocess
import sys

import pytest
import wasmtime

from loom_post.cache import MAGIC, Digests, Store, default_dir
from loom_post.cli import main
from loom_post.passes import default_names, results_cache
from loom_post.passes.cached_run import optimize
from loom_post.wasm.module import read_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# f computes the same pure expression three times (CSE rewrites it); g is small.
WAT = """
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "h" (func $h (param i32) (result i32)))
  (memory {memory})
  (global $g (mut i32) (i32.const 5))
  (global $k {kmut} (i32.const 7))
  (func $f (export "{name}") (param i32) (result i32)
    (i32.add (i32.add (i32.mul (i32.add (local.get 0) (global.get $k)) (i32.const 77777))
                      (i32.mul (i32.add (local.get 0) (global.get $k)) (i32.const 77777)))
             (i32.mul (i32.add (local.get 0) (global.get $k)) (i32.const 77777))))
  (func $g2 (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
"""


def module(name="f", kmut="i32", memory="1"):
    return bytes(wasmtime.wat2wasm(WAT.format(name=name, kmut=kmut, memory=memory)))


def run(data, store, **kw):
    kw.setdefault("never_grow", ("code",))
    return optimize(data, read_module(data), cache=store, **kw)


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "cache"))


def figures(r):
    return (r.data, r.changed, r.functions_changed, r.bytes_saved_by_reencoding,
            {n: s.to_json() for n, s in r.passes.items()}, r.notes, r.not_understood)


def test_digests_remember_bytes_but_not_what_can_change(monkeypatch):
    import hashlib
    data = bytes(range(256)) * 64
    digests = Digests()
    assert digests.sha256(data) == hashlib.sha256(data).digest() == digests.sha256(data)
    buf = bytearray(data)
    assert digests.sha256(buf) == hashlib.sha256(data).digest()
    buf[0] ^= 1           # the same object, other bytes: hashed again
    assert digests.sha256(buf) == hashlib.sha256(buf).digest() != hashlib.sha256(data).digest()
    other = [bytes([i]) * 1000 for i in range(3)]
    for b in other + other:
        assert digests.sha256(b) == hashlib.sha256(b).digest()
    hashed, real = [], hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda b=b"": hashed.append(b) or real(b))
    digests.sha256(data)
    assert hashed == []           # this run hashed it already
    Digests().sha256(data)
    assert hashed == [data]       # another run's digests know nothing of it


def test_hit_gives_what_a_cold_run_gives(store):
    data = module()
    cold = run(data, None)
    first = run(data, store)
    again = run(data, store)
    assert cold.changed and cold.passes["cse"].bytes_saved > 0
    assert (first.cache, again.cache) == ("miss", "module")
    assert figures(first) == figures(cold) == figures(again)


def test_own_output_is_recognised_and_left_alone(store):
    first = run(module(), store)
    out = run(first.data, store)
    assert out.cache == "own-output" and not out.changed and out.data == first.data
    assert run(first.data, None).data == first.data  # a real run agrees: nothing to do


@pytest.mark.parametrize("change", [
    dict(passes=["compact"]), dict(never_grow=("code", "file")), dict(keep_dwarf=True),
    dict(optimize_for="gzip")])
def test_a_configuration_change_misses(store, change):
    data = module()
    run(data, store)
    assert run(data, store, **change).cache == "miss"


def test_an_input_change_misses(store):
    run(module(), store)
    assert run(module(name="other"), store).cache == "miss"


def test_a_new_version_misses(store, monkeypatch):
    data = module()
    run(data, store)
    monkeypatch.setattr(results_cache, "code_version", lambda: "another loom-post")
    assert run(data, store).cache == "miss"


def test_the_sources_are_part_of_the_version(tmp_path):
    pkg = tmp_path / "p"
    for sub in ("", "wasm", "passes"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / "__init__.py").write_text("x = 1\n")
    one = results_cache.code_version(str(pkg))
    (pkg / "passes" / "cse.py").write_text("y = 2\n")
    two = results_cache.code_version(str(pkg))
    (pkg / "__init__.py").write_text('__version__ = "9"\n')
    assert len({results_cache.code_version(), one, two, results_cache.code_version(str(pkg))}) == 4


def test_functions_hit_when_only_other_parts_of_the_module_changed(store):
    run(module(name="f"), store)
    other = run(module(name="renamed"), store)  # an export name: not module context
    assert other.cache == "miss" and other.functions_cached == 2
    assert figures(other) == figures(run(module(name="renamed"), None))


@pytest.mark.parametrize("variant", [dict(kmut="(mut i32)"), dict(memory="1 2 shared")])
def test_functions_miss_when_the_module_context_changed(store, variant):
    run(module(), store)
    changed = run(module(**variant), store)
    assert changed.functions_cached == 0
    assert figures(changed) == figures(run(module(**variant), None))


CONTEXT = {
    "types": lambda m: m.types.append(((), ())),
    "func_types": lambda m: m.func_types.append(0),
    "imports": lambda m: setattr(m, "num_imported_funcs", m.num_imported_funcs + 1),
    "globals": lambda m: m.globals.__setitem__(1, (m.globals[1][0], not m.globals[1][1])),
    "memories": lambda m: m.memories.__setitem__(0, (m.memories[0][0] | 0x04,) + m.memories[0][1:]),
    "tables": lambda m: m.tables.append((0x70, 0, None)),
    "tags": lambda m: m.tags.append(0),
}


@pytest.mark.parametrize("component", sorted(CONTEXT))
def test_each_module_context_component_is_in_the_key(component):
    m = read_module(module())
    before = results_cache.module_context(m)
    CONTEXT[component](m)
    assert results_cache.module_context(m) != before


def test_a_function_key_holds_its_bytes_and_its_type(store):
    rc = results_cache.ResultsCache(store, ["cse"], ("code",), False)
    m = read_module(module())
    keys = rc.function_keys(m, [0, 1])
    m.types[0] = ((0x7F,), (0x7E,))  # same bytes, another type
    assert rc.function_keys(m, [0, 1]) != keys
    m2 = read_module(module(name="x"))
    assert rc.function_keys(m2, [0, 1]) == keys  # same bodies and types elsewhere
    assert len(set(keys.values())) == 2


def test_damaged_entries_are_misses(store):
    data = module()
    cold = run(data, store)
    for root, _dirs, files in os.walk(store.directory):
        for name in files:
            path = os.path.join(root, name)
            raw = open(path, "rb").read()
            with open(path, "wb") as f:
                f.write(raw[:-1] + bytes([raw[-1] ^ 1]))
    again = run(data, store)
    assert again.cache == "miss" and again.functions_cached == 0
    assert figures(again) == figures(cold)


def _module_entry(store, data):
    rc = results_cache.ResultsCache(store, default_names(), ("code",), False)
    key = rc._module_key(data)
    return rc, key, store.get("module", key)


def test_a_cached_output_is_exactly_the_recorded_bytes(store):
    """A hit's output is not validated again (docs/speed.md): what stands in
    for it is the SHA-256 of the output recorded with it. An entry whose
    output bytes differ from that digest, even one the store's own checksum
    accepts, is a miss, and the run recomputes."""
    data = module()
    cold = run(data, store)
    _rc, _key, payload = _module_entry(store, data)
    digest = json.loads(payload)["out_sha256"]
    bad = bytearray(store.get("output", digest))
    assert bytes(bad) == cold.data
    bad[-2] ^= 0x01   # one bit of the output
    store.put("output", digest, bytes(bad))  # with a right store checksum
    again = run(data, store)
    assert again.cache == "miss" and again.data == cold.data


def test_an_entry_under_another_key_is_a_miss(store):
    """An entry copied under another input's key (or one without its key, as
    an older loom-post wrote) is foreign: a miss, never another module's output."""
    one, two = module(name="one"), module(name="two")
    run(one, store)
    cold_two = run(two, Store(store.directory + "-cold"))
    rc, _key, payload = _module_entry(store, one)
    store.put("module", rc._module_key(two), payload)
    got = run(two, store)
    assert got.cache == "miss" and got.data == cold_two.data
    own_key = rc._module_key(run(one, store).data)
    store.put("own", rc._module_key(two), own_key.encode())  # another output's mark
    assert run(two, store).cache != "own-output"


def test_a_new_validator_misses(store, monkeypatch):
    """Cached verdicts of the validator (input accepted, output accepted) are
    reused only under the same wasmtime."""
    data = module()
    run(data, store)
    assert results_cache.validator_version().startswith("wasmtime-")
    monkeypatch.setattr(results_cache, "validator_version", lambda: "wasmtime-0.0.0.dist-info")
    assert run(data, store).cache == "miss"


def test_store_round_trip_and_foreign_files(tmp_path):
    s = Store(str(tmp_path))
    assert s.put("k", "ab12", b"payload") and s.get("k", "ab12") == b"payload"
    assert s.get("k", "cd34") is None
    path = s.path("k", "ab12")
    raw = bytearray(open(path, "rb").read())
    raw[-3] ^= 0x20  # one bit of the payload: the checksum no longer matches
    open(path, "wb").write(bytes(raw))
    assert s.get("k", "ab12") is None
    open(path, "wb").write(b"not a cache entry")
    assert s.get("k", "ab12") is None
    open(path, "wb").write(MAGIC[:5])
    assert s.get("k", "ab12") is None


def test_store_evicts_least_recently_used(tmp_path):
    s = Store(str(tmp_path), max_bytes=2500)
    for i, key in enumerate(("aa01", "bb02", "cc03")):
        s.put("k", key, bytes(1000))
        os.utime(s.path("k", key), (1000 + i, 1000 + i))
    s.get("k", "aa01")  # used now: the most recent
    s.evict()
    assert [s.get("k", k) is not None for k in ("aa01", "bb02", "cc03")] == [True, False, True]


def test_store_never_fails_a_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    s = Store(str(blocker / "cache"))  # a path under a regular file
    assert s.put("k", "ab12", b"x") is False and s.get("k", "ab12") is None
    s.evict()


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
    assert default_dir({"XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "loom-post")
    home = os.path.expanduser("~")
    assert default_dir({"XDG_CACHE_HOME": "relative"}) == os.path.join(home, ".cache", "loom-post")
    assert default_dir({}) == os.path.join(home, ".cache", "loom-post")


def _cli(tmp_path, *args, config=None):
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(module())
    if config is not None:
        (tmp_path / "loom-post.toml").write_text(config)
        args += ("--config", str(tmp_path / "loom-post.toml"))
    return main(["optimize", "--format", "json", *args, str(wasm)])


def _entries(directory):
    return sum(len(files) for _r, _d, files in os.walk(directory))


def test_cli_uses_the_xdg_cache(tmp_path, capsys):
    assert _cli(tmp_path) == 0
    assert _entries(default_dir()) > 0


def test_no_cache_flag_and_config_key(tmp_path):
    assert _cli(tmp_path, "--no-cache") == 0
    assert _cli(tmp_path, config="cache = false\n") == 0
    assert _entries(default_dir()) == 0


def test_cache_dir_relocates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _cli(tmp_path, config='cache-dir = "here"\n') == 0
    assert _entries(tmp_path / "here") > 0 and _entries(default_dir()) == 0


@pytest.mark.parametrize("config", ['cache = "no"\n', "cache-dir = 3\n"])
def test_bad_cache_config_is_a_usage_error(tmp_path, config, capsys):
    assert _cli(tmp_path, config=config) == 2
    assert "cache" in capsys.readouterr().err


def test_concurrent_runs_share_the_cache(tmp_path):
    src = module()
    paths = []
    for i in range(4):
        p = tmp_path / f"m{i}.wasm"
        p.write_bytes(src)
        paths.append(p)
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-m", "loom_post", "optimize", "--format", "json",
                               str(p)], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE)
             for p in paths]
    outs = [json.loads(pr.communicate()[0]) for pr in procs]
    assert [pr.returncode for pr in procs] == [0] * 4
    assert len({p.read_bytes() for p in paths}) == 1
    assert paths[0].read_bytes() == run(src, None, never_grow=("code", "file", "gzip",
                                                               "brotli")).data
    assert all(o for o in outs)
