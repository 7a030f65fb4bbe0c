"""The commands on real components (tests/components.py): inspect shows the
structure, check and baselines gate each embedded core module as
`PATH#<name or index>` plus the whole file, optimize rewrites each module
through the pipeline and keeps behaviour (the core modules run before and after
in wasmtime, and the components themselves through wasmtime's component
model), and a bad component exits 3 leaving the file untouched."""

import json
import os
import random

import pytest
import wasmtime
import wasmtime.component as wc

from components import calc, calc_core, component, nested, wasi  # noqa: F401  (fixtures)
from components import cargo_build, run, wasm_tools
from differential import FUEL, compare, numeric_exports, random_calls
import test_watch
from test_watch import watching  # noqa: F401  (fixture)
from loom_post import component_rewrite
from loom_post.cli import main
from loom_post.passes.validate_component import ComponentInvalid, component_validator
from loom_post.wasm.component import read_component
from loom_post.wasm.leb128 import encode_u
from loom_post.wasm.module import read_module

pytestmark = pytest.mark.cargo

CALLS = {  # export -> argument tuples, for calling the components themselves
    "mix": [(1, 2), (0xFFFF_FFFF, 7), (123456, 654321)],
    "checksum": [(0, 0), (7, 100), (0xDEAD_BEEF, 4095)],
    "clamp-scale": [(5, 0, 10, 3), (-7, 10, -10, 9), (2 ** 31 - 1, -2 ** 31, 2 ** 31 - 1, -1)],
    "poly": [(0,), (-3,), (2 ** 40 + 17,)],
    "digits": [(0, 10), (2 ** 64 - 1, 2), (123456789, 36)],
    "tally": [(5, 300), (0, 0), (99, 499)],
}


def _write(tmp_path, data, name="app.wasm", config=""):
    path = tmp_path / name
    path.write_bytes(data)
    (tmp_path / "loom-post.toml").write_text(config)
    return path


def _cli(argv, capsys, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        rc = main(argv)
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def _component_results(data):
    """{(export, args): result} of calling the component's exports in wasmtime."""
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    comp = wc.Component(engine, data)
    store = wasmtime.Store(engine)
    store.set_fuel(FUEL)
    linker = wc.Linker(engine)
    linker.add_wasip2()
    store.set_wasi(wasmtime.WasiConfig())
    instance = linker.instantiate(store, comp)
    out = {}
    for name, arg_sets in CALLS.items():
        func = instance.get_func(store, name)
        if func is None:
            continue
        for args in arg_sets:
            try:
                out[(name, args)] = func(store, *args)
            except wasmtime.Trap as e:        # a trap is an observation too
                out[(name, args)] = ("trap", e.trap_code)
    assert out, "no export was called"
    return out


# -- inspect ---------------------------------------------------------------

def test_inspect_shows_structure_and_every_module(nested, tmp_path, capsys):
    path = _write(tmp_path, nested)
    rc, out, _ = _cli(["inspect", "--format", "json", "--no-brotli", str(path)], capsys, tmp_path)
    assert rc == 0
    (info,) = json.loads(out)["modules"]
    comp = read_component(nested)
    cores = comp.core_modules()
    assert info["component"] is True and info["file_bytes"] == len(nested)
    assert [m["path"] for m in info["modules"]] == [f"{path}#main", f"{path}#helper"]
    for m, core in zip(info["modules"], cores):
        module = read_module(core.data)
        assert m["code_bytes"] == module.code_size and m["file_bytes"] == len(core.data)
        assert m["offset"] == core.section.payload_start
        assert len(m["functions"]) == min(10, len(module.code))
    assert info["code_bytes"] == sum(read_module(c.data).code_size for c in cores)
    top = info["structure"]
    assert top["modules"] == [f"{path}#helper"]
    assert top["components"][0]["name"] == "inner"
    assert top["components"][0]["modules"] == [f"{path}#main"]
    assert [s["bytes"] for s in top["sections"]] == [s.payload_size for s in comp.sections]
    rc, text, _ = _cli(["inspect", "--no-brotli", str(path)], capsys, tmp_path)
    assert rc == 0
    assert 'component "inner"' in text and "core module #main" in text
    assert f"{path}#helper: code section" in text


# -- check and baselines -----------------------------------------------------

def test_check_gates_each_module_and_the_whole_file(calc, tmp_path, capsys):
    main_code = read_module(read_component(calc).core_modules()[0].data).code_size
    config = (f'[[module]]\npath = "app.wasm#*"\nmax-code-size = {main_code - 1}\n'
              f'[[module]]\npath = "app.wasm"\nmax-file-size = {len(calc)}\n')
    path = _write(tmp_path, calc, config=config)
    rc, out, _ = _cli(["check", "--format", "json", "--no-brotli", "app.wasm"], capsys, tmp_path)
    assert rc == 1
    by_path = {m["path"]: m for m in json.loads(out)["modules"]}
    assert set(by_path) == {"app.wasm", "app.wasm#main"}
    whole, member = by_path["app.wasm"], by_path["app.wasm#main"]
    assert whole["status"] == "pass" and whole["file_bytes"] == len(calc)
    assert [b["kind"] for b in whole["budgets"]] == ["max-file-size"]
    assert member["status"] == "fail" and member["code_bytes"] == main_code
    assert [b["kind"] for b in member["budgets"]] == ["max-code-size"]
    path.write_bytes(calc)
    (tmp_path / "loom-post.toml").write_text(config.replace(str(main_code - 1), str(main_code)))
    rc, _, _ = _cli(["check", "--no-brotli", "app.wasm"], capsys, tmp_path)
    assert rc == 0


def test_baseline_records_modules_and_catches_growth(calc, tmp_path, capsys):
    path = _write(tmp_path, calc, config='never-grow = ["code"]\nbaseline = "sizes.json"\n')
    assert _cli(["optimize", "app.wasm"], capsys, tmp_path)[0] == 0
    optimized = path.read_bytes()
    assert len(optimized) < len(calc)
    rc, _, _ = _cli(["baseline", "--no-brotli", "app.wasm"], capsys, tmp_path)
    assert rc == 0
    doc = json.loads((tmp_path / "sizes.json").read_text())["modules"]
    assert set(doc) == {"app.wasm", "app.wasm#main"}
    core = read_module(read_component(optimized).core_modules()[0].data)
    assert doc["app.wasm#main"]["code_bytes"] == core.code_size
    assert doc["app.wasm"]["file_bytes"] == len(optimized)
    assert "mix" in doc["app.wasm#main"]["functions"]
    path.write_bytes(calc)           # the unoptimized build: larger
    (tmp_path / "loom-post.toml").write_text('baseline = "sizes.json"\n'
                                             'max-growth-vs-baseline = "0 B"\n')
    rc, out, _ = _cli(["check", "--no-brotli", "app.wasm"], capsys, tmp_path)
    assert rc == 1
    assert "app.wasm#main: code section" in out and "FAIL" in out
    assert "functions that grew most" in out


# -- optimize ----------------------------------------------------------------

def test_optimize_keeps_behaviour(component, tmp_path, capsys):
    name, data = component
    tool = wasm_tools()
    path = _write(tmp_path, data, config='never-grow = ["code"]\n')
    rc, out, err = _cli(["optimize", "--format", "json", "app.wasm"], capsys, tmp_path)
    assert rc == 0, err
    after = path.read_bytes()
    assert after != data
    run([tool, "validate", str(path)])
    report = json.loads(out)["modules"]
    before_cores = read_component(data).core_modules()
    after_cores = read_component(after).core_modules()
    assert [r["path"] for r in report] == ["app.wasm"] + [
        f"app.wasm#{m.name if m.name else m.ordinal}".replace("/", "_") for m in before_cores]
    assert report[0]["code_bytes_after"] < report[0]["code_bytes_before"]
    assert report[0]["file_bytes_after"] == len(after)
    changed = 0
    for old, new, r in zip(before_cores, after_cores, report[1:]):
        assert r["code_bytes_after"] == read_module(new.data).code_size
        if old.data == new.data:
            continue
        changed += 1
        exports = numeric_exports(old.data)
        rng = random.Random(f"{name}-{old.ordinal}")
        calls = random_calls(old.data, rng, 40 * max(1, len(exports)))
        assert compare(old.data, new.data, calls) > 0
    assert changed
    assert _component_results(after) == _component_results(data)


def test_optimize_to_output_leaves_input(calc, tmp_path, capsys):
    path = _write(tmp_path, calc, config='never-grow = ["code"]\n')
    rc, _, _ = _cli(["optimize", "app.wasm", "-o", "out.wasm"], capsys, tmp_path)
    assert rc == 0
    assert path.read_bytes() == calc
    out = (tmp_path / "out.wasm").read_bytes()
    assert len(out) < len(calc) and read_component(out).to_bytes() == out


def test_optimize_false_for_a_module_keeps_it(calc, tmp_path, capsys):
    config = 'never-grow = ["code"]\n[[module]]\npath = "app.wasm#main"\noptimize = false\n'
    path = _write(tmp_path, calc, config=config)
    rc, out, _ = _cli(["optimize", "app.wasm"], capsys, tmp_path)
    assert rc == 0 and path.read_bytes() == calc
    assert "app.wasm#main: code" in out and "optimize = false" in out


# -- refusing ----------------------------------------------------------------

def _bad_components(calc):
    first = read_component(calc).sections[0]
    core = read_component(calc).core_modules()[0]
    junk_core = b"\0asm\x01\x00\x00\x00\x0a\x05\x01\x7f\x00\x0b"   # body past its section
    return [
        ("wrong layer", calc[:6] + b"\x02\x00" + calc[8:], "layer", ""),
        ("truncated", calc[:len(calc) - 5], "past the end", ""),
        ("bad section size", calc[:first.start + 1] + encode_u(len(calc))
         + calc[first.payload_start:], "past the end", ""),
        ("malformed core module", calc[:8] + bytes([1]) + encode_u(len(junk_core)) + junk_core
         + calc[core.section.end:], "embedded core module", "#main"),
    ]


@pytest.mark.parametrize("command", ["optimize", "check", "inspect", "baseline"])
def test_bad_components_exit_3_and_stay_untouched(calc, command, tmp_path, capsys):
    for label, data, fragment, suffix in _bad_components(calc):
        path = _write(tmp_path, data, config='baseline = "sizes.json"\n')
        st = os.stat(path)
        rc, out, err = _cli([command, "app.wasm"], capsys, tmp_path)
        assert rc == 3, (label, out, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("loom-post: error: app.wasm"), (label, err)
        assert fragment in lines[0], (label, lines[0])
        assert f"app.wasm{suffix}:" in lines[0], (label, lines[0])
        assert int(lines[0].rsplit(" ", 1)[1]) <= len(data), (label, lines[0])
        assert path.read_bytes() == data
        assert os.stat(path).st_mtime_ns == st.st_mtime_ns and os.stat(path).st_ino == st.st_ino
        assert sorted(os.listdir(tmp_path)) == ["app.wasm", "loom-post.toml"], label


def _without_core_instances(data):
    """`data` minus its core instance section: well-formed, but its aliases
    then name an instance that does not exist (invalid)."""
    comp = read_component(data)
    return data[:8] + b"".join(data[s.start:s.end] for s in comp.sections if s.id != 2)


def test_invalid_component_is_not_optimized(calc, tmp_path, capsys):
    bad = _without_core_instances(calc)
    path = _write(tmp_path, bad, config='never-grow = ["code"]\n')
    rc, _, err = _cli(["optimize", "app.wasm"], capsys, tmp_path)
    assert rc == 3
    assert "invalid component" in err and "left untouched" in err
    assert path.read_bytes() == bad


def test_no_component_validator_no_rewrite(calc, tmp_path, capsys, monkeypatch):
    # stands in for a machine with neither wasmtime.component nor wasm-tools
    monkeypatch.setattr(component_rewrite, "component_validator", lambda: None)
    path = _write(tmp_path, calc, config='never-grow = ["code"]\n')
    rc, out, _ = _cli(["optimize", "app.wasm"], capsys, tmp_path)
    assert rc == 0
    assert path.read_bytes() == calc
    assert "not rewritten: no component validator" in out


def test_output_failing_validation_keeps_input(calc, tmp_path, capsys, monkeypatch):
    # a validator that accepts the input and rejects anything else stands in
    # for a rewrite the component model rejects (none is known to happen)
    def strict():
        name, validate = component_validator()

        def check(data):
            validate(data)
            if data != calc:
                raise ComponentInvalid("not the input")
        return name, check
    monkeypatch.setattr(component_rewrite, "component_validator", strict)
    path = _write(tmp_path, calc, config='never-grow = ["code"]\n')
    rc, out, _ = _cli(["optimize", "app.wasm"], capsys, tmp_path)
    assert rc == 0
    assert path.read_bytes() == calc
    assert "rewritten component fails validation" in out and "not the input" in out


@pytest.mark.parametrize("prefer", [("wasmtime",), ("wasm-tools",)])
def test_each_component_validator(calc, prefer):
    if prefer == ("wasm-tools",):
        wasm_tools()
    name, validate = component_validator(prefer)
    validate(calc)
    with pytest.raises(ComponentInvalid):
        validate(_without_core_instances(calc))
    with pytest.raises(ComponentInvalid):
        validate(calc[:-4])


def test_whole_file_guard_refuses_growth(calc):
    validator = component_validator()
    rng = random.Random(5)
    noise = bytes(rng.randrange(256) for _ in range(400))
    name = b"padding"
    bigger = calc + b"\x00" + encode_u(1 + len(name) + len(noise)) + bytes([len(name)]) \
        + name + noise
    assert component_rewrite._reject(calc, bigger, validator, ("code",)) is None
    why = component_rewrite._reject(calc, bigger, validator, ("code", "file", "gzip"))
    assert why and "file size would grow" in why
    assert component_rewrite._reject(bigger, calc, validator, ("code", "file", "gzip")) is None


def test_wasip2_target(tmp_path, capsys):
    """cargo's wasm32-wasip2 output is a component; optimize and check take it.
    Skips where the toolchain has no wasm32-wasip2 std (Debian's rustc 1.63)."""
    data = cargo_build("component_wasi", "wasm32-wasip2", tmp_path / "target")
    path = _write(tmp_path, data, config='never-grow = ["code"]\n')
    assert read_component(data).core_modules()
    rc, _, err = _cli(["optimize", "app.wasm"], capsys, tmp_path)
    assert rc == 0, err
    run([wasm_tools(), "validate", str(path)])
    assert _cli(["check", "--no-brotli", "app.wasm"], capsys, tmp_path)[0] == 0


def test_watch_names_an_embedded_module_over_budget(calc, tmp_path, watching):
    """watch gates a component's core modules like check does: a FAIL line for
    `PATH#main`, not only for the component's whole-file budgets."""
    project = test_watch.make_project(tmp_path, toml=(
        'paths = ["target/wasm32-*/release/*.wasm"]\nnever-grow = ["code"]\n'
        '[[module]]\npath = "target/wasm32-*/release/app.wasm#*"\nmax-code-size = "10 B"\n'))
    release = project / test_watch.RELEASE
    release.mkdir(parents=True)
    w = watching(project)
    test_watch._write(release / "app.wasm", calc)
    line = w.out.wait_for(lambda l: l.startswith("FAIL") and "app.wasm#" in l,
                          what="FAIL line for the embedded module")
    assert "max-code-size" in line
    w.stop()
