"""Rust names: legacy and v0 demangled as `c++filt -i` does them, `.llvm.`
suffixes dropped, functions matched across rebuilds with another `-C metadata`,
export names when there is no name section, per-crate rollups, and Markdown
that shows names as they are."""

import json
import os
import random
import shutil
import subprocess

import pytest

from loom_post.budget.baseline import compare_functions
from loom_post.cli import main
from loom_post.report.demangle import by_crate, crate_of, demangle
from loom_post.report.formats import md_text
from loom_post.symbols import stable_key

wasmtime = pytest.importorskip("wasmtime")

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.join(HERE, "data", "rust_names")


@pytest.mark.parametrize("mangled, readable", [
    ("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"),
    ("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h4e5c3f1d2b3a4958E",
     "dlmalloc::dlmalloc::Dlmalloc<A>::malloc"),
    ("_ZN77_$LT$libflate..deflate..decode..Decoder$LT$R$GT$$u20$as$u20$std..io..Read$GT$"
     "4read17h0123456789abcdefE",
     "<libflate::deflate::decode::Decoder<R> as std::io::Read>::read"),
    ("_ZN3foo3barE", "foo::bar"),                       # no hash segment
    # ThinLTO's suffix (rustc 1.63, wasm32)
    ("_ZN3std9panicking11panic_count17LOCAL_PANIC_COUNT7__getit17h31a60053826db328E"
     ".llvm.14804994494143224647", "std::panicking::panic_count::LOCAL_PANIC_COUNT::__getit"),
])
def test_legacy_names_are_demangled_without_the_hash(mangled, readable):
    assert demangle(mangled) == readable


# Real v0 names from rustc 1.63 (tests/data/rust_names built with
# -C symbol-mangling-version=v0) and a few for the rarer productions; the
# expected text is what GNU c++filt 2.40 -i prints.
V0 = [
    ("_RNvCs1234_7mycrate3foo", "mycrate::foo"),
    ("_RNvC7mycrateu6f_1gaa", "mycrate::föö"),                       # punycode
    ("_RINvNtCs9tm3sCXHW8O_5alloc7raw_vec11finish_growNtNtB4_5alloc6GlobalECsaOEOAH3sucd_"
     "7v0probe.llvm.14873206877374482743", "alloc::raw_vec::finish_grow::<alloc::alloc::Global>"),
    ("_RNCNvNtCsljiztaTWNn0_3std9panicking13panic_handler0B5_",
     "std::panicking::panic_handler::{closure#0}"),
    ("_RNvMCsaOEOAH3sucd_7v0probeINtB2_7DecoderINtNtNtCs9tm3sCXHW8O_5alloc3vec9into_iter"
     "8IntoIterhEE9next_wordB2_",
     "<v0probe::Decoder<alloc::vec::into_iter::IntoIter<u8>>>::next_word"),
    ("_RNvXNtNtNtCs9tm3sCXHW8O_5alloc11collections5btree3mapINtB2_8BTreeMapmNtNtB8_6string"
     "6StringENtNtNtCs4EoLUFkKuUC_4core3ops4drop4Drop4dropCsaOEOAH3sucd_7v0probe",
     "<alloc::collections::btree::map::BTreeMap<u32, alloc::string::String> as "
     "core::ops::drop::Drop>::drop"),
    ("_RINvCs1_1a1fFG0_KCRL0_hEuE", "a::f::<for<'a, 'b> extern \"C\" fn(&'b u8)>"),
    ("_RINvCs1_1a1fDNtCs2_1b5TraitEL_E", "a::f::<dyn b::Trait>"),
    ("_RINvCs1_1a1fKj2a_Kan1_Kb1_Kc41_KpE", "a::f::<42, -1, true, 'A', _>"),
]


@pytest.mark.parametrize("mangled, readable", V0)
def test_v0_names_are_demangled(mangled, readable):
    assert demangle(mangled) == readable


@pytest.mark.parametrize("name", ["main", "ks_event", "_ZN", "_ZN3fooE3", "_ZN99fooE",
                                  "_R", "_RNvC", "_RB_", "_RINvC1a1fB7_E", "_Rx3foo",
                                  "_RNvCs1234_7mycrate3fooXYZ", "", None])
def test_anything_else_is_returned_unchanged(name):
    assert demangle(name) == name


def test_hostile_names_never_raise_and_stay_cheap():
    """A name section is untrusted: mutated real names, deep nesting and
    back-reference chains come back unchanged or demangled, never an error."""
    rng = random.Random(7)
    alphabet = "_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(3000):
        s = list(rng.choice(V0)[0])
        for _ in range(rng.randint(1, 4)):
            s[rng.randrange(2, len(s))] = rng.choice(alphabet)
        demangle("".join(s))
        crate_of("".join(s))
    deep = "_RINvC1a1f" + "T" * 5000 + "E" * 5001
    assert demangle(deep) == deep
    huge = "_RC" + "9" * 10000
    assert demangle(huge) == huge
    # each back-reference doubles the text: the step budget stops it
    bomb = "_RINvC1a1fTTTTThEB10_EB10_EB10_EB10_E"
    assert isinstance(demangle(bomb), str)


def test_crate_of_a_function():
    assert crate_of("_ZN4core3fmt5write17h0123456789abcdefE") == "core"
    assert crate_of("_ZN36_$LT$T$u20$as$u20$core..any..Any$GT$7type_id17h1eb33050df948c2cE") \
        == "core"
    assert crate_of(V0[4][0]) == "v0probe"          # an inherent impl: the impl's crate
    assert crate_of(V0[2][0]) == "alloc"
    assert crate_of("memcpy") is None
    from loom_post.report.demangle import crate_label
    assert crate_label("_ZN4core3fmt5write17h0123456789abcdefE (func[12])") == "core"
    rollup = by_crate({"_ZN4core3fmt5write17h0123456789abcdefE": 10, "memcpy": 3,
                       "func[4]": 2, "_ZN4core3ptr4drop17h0123456789abcdefE": 5})
    assert rollup == [("core", 15, 2), ("(not Rust)", 3, 1), ("(unnamed)", 2, 1)]


def test_matching_ignores_hashes_and_pairs_generic_instances_by_size():
    old = {"_ZN3app3run17h1111111111111111E": 100,
           "_ZN4core3ptr13drop_in_place17haaaaaaaaaaaaaaaaE": 10,
           "_ZN4core3ptr13drop_in_place17hbbbbbbbbbbbbbbbbE": 20,
           "_ZN3app4gone17h1111111111111111E": 7}
    new = {"_ZN3app3run17h2222222222222222E.llvm.123": 104,
           "_ZN4core3ptr13drop_in_place17hccccccccccccccccE": 10,
           "_ZN4core3ptr13drop_in_place17hddddddddddddddddE": 5,
           "_ZN3app3new17h2222222222222222E": 5}
    changes = {(demangle(c.name), c.status, c.delta)
               for c in compare_functions(old, new, include_unchanged=True)}
    assert changes == {("app::run", "changed", 4),
                       ("core::ptr::drop_in_place", "unchanged", 0),
                       ("core::ptr::drop_in_place", "changed", -15),
                       ("app::gone", "removed", -7), ("app::new", "added", 5)}
    assert stable_key("_RNvCs1234_7mycrate3foo") == stable_key("_RNvCs99_7mycrate3foo")


def test_json_keeps_the_exact_name(tmp_path, capsys):
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(
        '(module (func $_ZN4core3fmt5write17h0123456789abcdefE (export "w")))'))
    assert main(["inspect", str(path), "--format", "json"]) == 0
    (fn,) = json.loads(capsys.readouterr().out)["modules"][0]["functions"]
    assert fn["name"] == "_ZN4core3fmt5write17h0123456789abcdefE"
    assert main(["inspect", str(path)]) == 0
    assert "core::fmt::write" in capsys.readouterr().out


def _wat(*bodies):
    return "(module " + " ".join(bodies) + ")"


def test_export_names_stand_in_when_there_is_no_name_section(tmp_path, capsys):
    """Without a name section functions are named by their exports, so a diff
    matches them even when a new function shifts the indices."""
    old, new = tmp_path / "old.wasm", tmp_path / "new.wasm"
    body = "(func (export \"{}\") (drop (i32.const {})))"
    old.write_bytes(wasmtime.wat2wasm(_wat(body.format("run", 1), body.format("stop", 2))))
    new.write_bytes(wasmtime.wat2wasm(_wat("(func (nop))", body.format("run", 1),
                                           body.format("stop", 200000))))
    for p in (old, new):   # wat2wasm writes no name section for unnamed functions
        assert b"\x04name" not in p.read_bytes()
    assert main(["diff", str(old), str(new), "--format", "json", "--no-brotli"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["added"], doc["removed"], doc["changed"], doc["unchanged"]) == (1, 0, 1, 1)
    assert {f["name"] for f in doc["functions"]} == {"stop", "func[0]"}


def test_inspect_by_crate(tmp_path, capsys):
    path = tmp_path / "m.wasm"
    fn = "(func ${} (drop (i32.add (i32.const {}) (i32.const 1))))"
    path.write_bytes(wasmtime.wat2wasm(_wat(
        fn.format("_ZN5alpha3one17h0123456789abcdefE", 1),
        fn.format("_ZN5alpha3two17h0123456789abcdefE", 100000),
        fn.format("_RNvCs1234_4beta5three", 300), fn.format("memcpy", 3))))
    assert main(["inspect", str(path), "--by", "crate", "--no-brotli"]) == 0
    rows = [l.split() for l in capsys.readouterr().out.splitlines()]
    start = [r[:1] for r in rows].index(["crate"])
    assert [r[0] for r in rows[start + 1:]] == ["alpha", "beta", "(not"]
    assert rows[start + 1][-1] == "2"       # alpha has two functions
    assert main(["inspect", str(path), "--format", "json", "--no-brotli"]) == 0
    crates = json.loads(capsys.readouterr().out)["modules"][0]["crates"]
    assert [c["crate"] for c in crates] == ["alpha", "beta", "(not Rust)"]


def test_markdown_shows_names_as_they_are():
    assert md_text("<Decoder<R> as Read>::read") == "&lt;Decoder&lt;R&gt; as Read&gt;::read"
    assert md_text("a|b*c_d`e`") == "a\\|b\\*c\\_d\\`e\\`"


def test_check_markdown_escapes_names_and_rolls_up_crates(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "loom-post.toml").write_text(
        'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    name = "_ZN60_$LT$libflate..Decoder$LT$R$GT$$u20$as$u20$std..io..Read$GT$4read17h0123456789abcdefE"
    fn = "(func ${} (drop (i32.const {})))"
    (tmp_path / "m.wasm").write_bytes(wasmtime.wat2wasm(_wat(fn.format(name, 1))))
    assert main(["baseline", "m.wasm"]) == 0
    (tmp_path / "m.wasm").write_bytes(wasmtime.wat2wasm(_wat(fn.format(
        name.replace("h0123456789abcdef", "hfedcba9876543210"), 1000000))))
    capsys.readouterr()
    assert main(["check", "m.wasm", "--format", "markdown", "--no-brotli"]) == 1
    out = capsys.readouterr().out
    assert "| &lt;libflate::Decoder&lt;R&gt; as std::io::Read&gt;::read | 5 B -> 7 B | +2 |" in out
    assert "<R>" not in out
    assert "Crates that changed most: libflate +2 B" in out
    assert main(["check", "m.wasm", "--no-brotli"]) == 1
    assert "crates that changed most since the baseline: libflate +2 B" \
        in capsys.readouterr().out


# -- real builds -------------------------------------------------------------------

def _build(cargo_wasm32, target_dir, rustflags):
    cargo, env = cargo_wasm32
    env = dict(env, CARGO_TARGET_DIR=str(target_dir), RUSTFLAGS=rustflags)
    subprocess.run([cargo, "build", "--offline", "--release", "--target",
                    "wasm32-unknown-unknown", "-q"], cwd=CRATE, env=env, check=True,
                   capture_output=True)
    return str(target_dir / "wasm32-unknown-unknown" / "release" / "rust_names.wasm")


@pytest.fixture(scope="module")
def v0_build(tmp_path_factory):
    from conftest import wasm32_cargo
    found = wasm32_cargo()
    if found is None:
        pytest.skip("no cargo with the wasm32-unknown-unknown target")
    root = tmp_path_factory.mktemp("names")
    try:
        return found, root, _build(found, root / "v0-a",
                                   "-C symbol-mangling-version=v0 -C metadata=aaa")
    except subprocess.CalledProcessError as e:
        pytest.skip(f"this rustc cannot build with v0 mangling: {e.stderr[-200:]}")


def test_every_name_of_a_real_v0_build_demangles_as_cxxfilt_does(v0_build):
    from loom_post.fileio import load_module
    if not shutil.which("c++filt"):
        pytest.skip("c++filt not installed (apt-get install binutils)")
    _found, _root, path = v0_build
    names = sorted(set(load_module(path)[1].function_names().values()))
    v0 = [n for n in names if n.startswith("_R")]
    assert len(v0) >= 15
    bare = [n.split(".llvm.")[0] for n in names if n.startswith(("_R", "_ZN"))]
    ref = subprocess.run(["c++filt", "-i"], input="\n".join(bare), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert [demangle(n) for n in bare] == ref
    assert not [n for n in names if demangle(n).startswith(("_R", "_ZN"))]


@pytest.mark.parametrize("scheme", ["v0", "legacy"])
def test_a_rebuild_with_other_metadata_matches_every_function(v0_build, scheme, capsys):
    """Before: "21 added, 21 removed" for the crate's own functions; now none."""
    found, root, first = v0_build
    flags = "-C symbol-mangling-version=v0 " if scheme == "v0" else ""
    a = first if scheme == "v0" else _build(found, root / "legacy-a", "-C metadata=aaa")
    b = _build(found, root / f"{scheme}-b", flags + "-C metadata=bbb")
    assert main(["diff", a, b, "--format", "json", "--no-brotli"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["functions_before"] > 100
    assert (doc["added"], doc["removed"]) == (0, 0)
    assert doc["unchanged"] + doc["changed"] == doc["functions_before"]
