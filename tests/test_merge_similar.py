"""The `merge-similar-functions` pass: functions differing only in constants
share one body; each keeps its index as a thunk passing its constants.

Proof by execution (tests/differential.py) on modules built to trigger it:
imported functions and globals before the defined ones (function indices count
imports first), near-duplicates differing in i32, i64, f32 (a NaN payload) and
f64 constants, declared locals past the parameters (renumbered in the shared
body), members that are exported, in element segments, named by ref.func in a
body and in a global initializer, called through call_indirect, and the start
function; more than 128 functions so that the shared body's index is a two-byte
LEB128. Outputs validate, behave like their inputs, are smaller and are fixed
points. The cost model is checked against forced merges, byte for byte. Two
deliberately wrong versions (a thunk passing another member's constant, locals
not moved past the new parameters) must be caught by the same harness.
"""

import os
import random

import pytest

from loom_post.passes import merge_similar
from loom_post.passes.cached_run import optimize
from loom_post.wasm.leb128 import read_u32, size_u
from loom_post.wasm.module import read_module

from differential import compare, differs, random_calls, validate
from test_cse_corpus import executable_exports
from padding import pad_module
from wat_util import wat

NAME = "merge-similar-functions"
T2 = "(param i32 i32) (result i32)"


def _member(name, k, big, f32bits, f64, addr, export=True):
    """A body with declared locals and one constant of each type that varies
    with the member; the rest (the shape) is the same in every member."""
    exp = f'(export "{name}")' if export else ""
    return f"""
  (func ${name} {exp} {T2} (local i32 i64 f32 f64)
    (local.set 2 (i32.mul (local.get 0) (i32.const {k})))
    (local.set 3 (i64.mul (i64.extend_i32_s (local.get 1)) (i64.const {big})))
    (local.set 4 (f32.add (f32.convert_i32_s (local.get 2)) (f32.reinterpret_i32 (i32.const {f32bits}))))
    (local.set 5 (f64.mul (f64.convert_i32_s (local.get 0)) (f64.const {f64})))
    (i32.store (i32.const {addr}) (i32.add (i32.load (i32.const {addr})) (local.get 2)))
    (global.set $acc (i32.add (global.get $acc) (call $h1 (local.get 2))))
    (i32.add (i32.xor (i32.wrap_i64 (local.get 3)) (i32.reinterpret_f32 (local.get 4)))
      (i32.add (i32.trunc_sat_f64_s (local.get 5)) (i32.add (global.get $g) (i32.const 77777)))))"""


def _filler(n):
    return "".join(f"(func $fill{i} (param i32) (result i32) (i32.add (local.get 0) (i32.const {i + 1000})))"
                   for i in range(n))


def _start(name, k):
    return f"""
  (func ${name} (local i32)
    (local.set 0 (i32.const {k}))
    (global.set $acc (i32.add (global.get $acc) (i32.mul (local.get 0) (i32.const 31))))
    (global.set $acc (i32.xor (global.get $acc) (i32.add (local.get 0) (i32.const 123456))))
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (global.get $acc))))"""


MEMBERS = [("n0", 3, 5000000000, 0x7FA00001, 1.5, 16),
           ("n1", 7, 6000000000, 0x3F800000, -2.25, 16),
           ("n2", 3, -7000000000, 0x7F800001, 1e300, 24),
           ("n3", 1000, 8000000000, 0x00000001, 0.5, 32)]

MODULE = f"""
(module
  (import "env" "h0" (func $h0 (param i32) (result i32)))
  (import "env" "g" (global $g i32))
  (import "env" "h1" (func $h1 (param i32) (result i32)))
  (type $t (func {T2}))
  (table 8 funcref)
  (memory (export "mem") 1)
  (global $acc (mut i32) (i32.const 0))
  (global $keep funcref (ref.func $n1))
  (elem (i32.const 0) $n0 $n1 $n2 $n3)
  (elem declare func $n2)
  (start $st1)
  {_filler(130)}
  {"".join(_member(*m) for m in MEMBERS)}
  {_start("st0", 5)}
  {_start("st1", 9)}
  (func (export "st0") (call $st0))
  (func (export "ind") (param i32 i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (local.get 2) (i32.and (local.get 0) (i32.const 3))))
  (func (export "via_ref") (param i32 i32) (result i32)
    (table.set 0 (i32.const 5) (ref.func $n2))
    (call_indirect (type $t) (local.get 0) (local.get 1) (i32.const 5)))
  (func (export "via_global") (param i32 i32) (result i32)
    (table.set 0 (i32.const 6) (global.get $keep))
    (call_indirect (type $t) (local.get 0) (local.get 1) (i32.const 6)))
  (func (export "acc") (result i32) (global.get $acc))
  (func (export "fill") (param i32) (result i32) (call $fill129 (call $h0 (local.get 0))))
)
"""


def _calls(data, seed=3, n=120):
    return random_calls(data, random.Random(seed), n)


def _stats(res):
    return res.passes[NAME]


def test_near_duplicates_share_one_body_and_behave_the_same():
    data = wat(MODULE)
    validate(data)
    res = optimize(data, passes=[NAME])
    validate(res.data)
    st = _stats(res)
    assert st.get("shared_bodies") == 2 and st.get("functions_merged") == 6
    assert st.get("params_added") == 5 + 1   # n*: k, i64, f32 bits, f64, the address (used
    #                                          twice, one parameter); st*: k
    assert len(res.data) < len(data) and res.code_bytes_after < res.code_bytes_before
    assert st.bytes_saved == res.code_bytes_before - res.code_bytes_after
    before, after = read_module(data), read_module(res.data)
    assert len(after.code) == len(before.code) + 2
    assert after.num_imported_funcs + len(after.code) - 1 >= 128  # two-byte shared index
    assert after.types[:len(before.types)] == before.types      # types only appended
    assert after.func_types[:len(before.func_types)] == before.func_types
    assert after.exports == before.exports
    names = after.function_names()
    assert {i: n for i, n in names.items() if i < len(before.func_types)} == before.function_names()
    assert compare(data, res.data, _calls(data)) > 100
    assert optimize(res.data, passes=[NAME]).data == res.data


def test_defaults_with_the_new_pass_behave_the_same():
    data = wat(MODULE)
    res = optimize(data)
    validate(res.data)
    assert _stats(res).get("functions_merged") == 6
    total = sum(s.bytes_saved for s in res.passes.values()) + res.bytes_saved_by_reencoding
    assert total == res.code_bytes_before - res.code_bytes_after
    assert compare(data, res.data, _calls(data, 5)) > 100
    assert optimize(res.data).data == res.data


def test_an_equal_existing_type_is_reused():
    """The start functions' shared body needs (i32) -> (); once a function of
    that type exists, the type section is not touched."""
    data = wat(MODULE.replace("(func (export \"acc\")",
                              "(func (export \"sink\") (param i32) (drop (local.get 0)))\n"
                              "  (func (export \"acc\")"))
    res = optimize(data, passes=[NAME])
    before, after = read_module(data), read_module(res.data)
    assert len(after.types) == len(before.types) + 1   # only the n* signature is new
    assert compare(data, res.data, _calls(data, 8)) > 100


def _sections_delta(before, after):
    """Bytes the type, function and code sections' entries grew by (counts and
    section size prefixes left out: they are the pipeline's whole-module gate)."""
    def entries(m):
        total = 0
        for sec in m.sections:
            if sec.id in (1, 3, 10):
                count, _ = read_u32(m.data, sec.payload_start)
                total += sec.payload_size - size_u(count)
        return total
    return entries(after) - entries(before)


def _pair(n_nops, n_extra):
    """Two members of a new type, `n_extra` constants that differ and `n_nops`
    one-byte instructions in common: each nop moves the balance by one byte."""
    def body(seed):
        consts = "".join(f"(local.set 1 (i32.add (local.get 1) (i32.const {seed * 100 + j})))"
                         for j in range(n_extra))
        return f"(local i32) {consts} {'(nop)' * n_nops} (i32.add (local.get 1) (local.get 0))"
    return wat(f"""(module
      (func (export "a") (param i32 i32 i64) (result i32) {body(1)})
      (func (export "b") (param i32 i32 i64) (result i32) {body(2)}))""")


@pytest.mark.parametrize("n_extra", [1, 2, 3])
def test_cost_model_is_exact(n_extra):
    """Byte by byte across the break-even point, the pass merges exactly when
    the forced merge makes the type, function and code entries smaller."""
    seen = set()
    for n_nops in range(0, 40):
        data = _pair(n_nops, n_extra)
        m = read_module(data)
        groups = merge_similar._groups(m, set())
        forced = read_module(data)
        merge_similar._apply(forced, merge_similar._plan(m, groups, pays=lambda b, a: True))
        delta = _sections_delta(m, read_module(forced.to_bytes()))
        chosen = merge_similar._plan(m, groups)
        assert bool(chosen) == (delta < 0), (n_nops, delta)
        seen.add(delta)
        res = optimize(data, passes=[NAME])
        assert (_stats(res).get("shared_bodies") == 1) == (delta < 0)
        if chosen:
            assert compare(data, res.data, _calls(data, n_nops, 20)) == 20
    assert {-1, 0, 1} <= seen   # the range crosses the break-even point byte by byte


def test_padded_members_must_pay_once_compacted():
    """On wasm-ld-like padded input the members lose their padding to
    `compact` after this pass, the one shared body only once: a merge that
    pays on the padded bytes but not on the compacted ones is refused, and
    every merge made still pays once everything is compacted."""
    refused = 0
    for n_nops in range(0, 40):
        data = pad_module(_pair(n_nops, 2))
        m = read_module(data)
        groups = merge_similar._groups(m, set())
        forced = read_module(data)
        merge_similar._apply(forced, merge_similar._plan(m, groups, pays=lambda b, a: True))
        compacted = read_module(optimize(forced.to_bytes(), passes=["compact"]).data)
        delta_min = _sections_delta(read_module(optimize(data, passes=["compact"]).data), compacted)
        as_is = merge_similar._plan(m, groups, pays=_as_is_only())
        chosen = merge_similar._plan(m, groups)
        if chosen:
            assert delta_min < 0, n_nops
        refused += bool(as_is) and not chosen
        res = optimize(data)
        if chosen:
            assert _stats(res).get("shared_bodies") == 1
            assert compare(data, res.data, _calls(data, n_nops, 20)) == 20
    assert refused > 0   # some merges pay only on the padded bytes


def _as_is_only():
    """A `pays` for _plan that weighs the bytes as they are and accepts
    whatever the minimal measure (always asked second) says."""
    state = {"second": False}

    def pays(before, after):
        if state["second"]:
            state["second"] = False
            return True
        state["second"] = after < before
        return state["second"]
    return pays


def test_equal_types_at_two_indices_share_one_body():
    """Members whose types are equal but written twice in the type section
    (rustc emits such) get one shared body, and each keeps its own type index
    (call_indirect through either type still passes its check)."""
    def member(name, t, k):
        return (f'(func ${name} (export "{name}") (type {t}) (local i32) (local.set 1 (i32.mul (local.get 0) '
                f'(i32.const {k}))) (i32.add (i32.xor (local.get 1) (i32.const 99999)) (i32.rotl (local.get 1) '
                f'(i32.const 77777))))')
    data = wat(f"""(module (type $a (func (param i32) (result i32))) (type $b (func (param i32) (result i32)))
      (table 4 funcref) (elem (i32.const 0) $m0 $m1 $m2 $m3)
      {member("m0", "$a", 3)} {member("m1", "$b", 5)} {member("m2", "$a", 70000)} {member("m3", "$b", 9)}
      (func (export "via_a") (param i32 i32) (result i32)
        (call_indirect (type $a) (local.get 1) (i32.and (local.get 0) (i32.const 3))))
      (func (export "via_b") (param i32 i32) (result i32)
        (call_indirect (type $b) (local.get 1) (i32.and (local.get 0) (i32.const 3)))))""")
    res = optimize(data, passes=[NAME])
    assert _stats(res).get("shared_bodies") == 1 and _stats(res).get("functions_merged") == 4
    before, after = read_module(data), read_module(res.data)
    assert after.func_types[:len(before.func_types)] == before.func_types
    assert compare(data, res.data, _calls(data, 11, 80)) == 80
    assert optimize(res.data).data == optimize(optimize(res.data).data).data


def test_two_groups_ending_with_the_same_shared_body_share_it():
    """One family takes as a parameter what the other passes as a constant
    (seen in regex-oz-lto): both shared bodies would be the same function of
    the same type; the second group's thunks call the first's."""
    def a(name, k):
        return (f'(func (export "{name}") (param i32 i32 i32) (result i32) (local i32) {"(nop)" * 20} '
                f"(local.set 3 (i32.mul (local.get 0) (local.get 1))) "
                f"(i32.add (i32.xor (local.get 3) (local.get 2)) (i32.const {k})))")

    def b(name, addr, k):
        return (f'(func (export "{name}") (param i32 i32) (result i32) (local i32) {"(nop)" * 20} '
                f"(local.set 2 (i32.mul (local.get 0) (local.get 1))) "
                f"(i32.add (i32.xor (local.get 2) (i32.const {addr})) (i32.const {k})))")
    data = wat(f"(module {a('a0', 100000)} {a('a1', 200000)} {b('b0', 1048576, 7)} {b('b1', 1048580, 9)})")
    res = optimize(data, passes=[NAME])
    st = _stats(res)
    assert st.get("shared_bodies") == 1 and st.get("functions_merged") == 4 and st.get("params_added") == 1
    assert len(read_module(res.data).code) == 5
    assert compare(data, res.data, _calls(data, 12, 80)) == 80
    full = optimize(data)
    assert optimize(full.data).data == full.data


def _generic_and_specialised(generic_export):
    nops = "(nop)" * 20
    spec = "".join(f'(func (export "s{i}") (param i32) (result i32) (local i32) {nops} '
                   f"(local.set 1 (i32.mul (local.get 0) (i32.const {k}))) (i32.add (local.get 1) (i32.const 5)))"
                   for i, k in enumerate((3, 700000)))
    return wat(f"""(module {spec}
      (func $g (export "{generic_export}") (param i32 i32) (result i32) (local i32) {nops}
        (local.set 2 (i32.mul (local.get 0) (local.get 1))) (i32.add (local.get 2) (i32.const 5))))""")


def test_an_existing_function_equal_to_the_shared_body_is_called():
    """Members specialised from a generic function that is still in the module
    (photon has such): their thunks call it, no body is added, and a second
    run finds no twin."""
    data = _generic_and_specialised("g")
    res = optimize(data, passes=[NAME])
    st = _stats(res)
    assert st.get("shared_bodies") == 0 and st.get("functions_merged") == 2
    assert len(read_module(res.data).code) == 3
    assert compare(data, res.data, _calls(data, 13, 60)) == 60
    full = optimize(data)
    assert optimize(full.data).data == full.data


def test_a_protected_function_is_not_called_by_thunks():
    data = _generic_and_specialised("__wbindgen_describe_g")
    res = optimize(data, passes=[NAME])
    assert _stats(res).get("shared_bodies") == 1 and len(read_module(res.data).code) == 4
    assert compare(data, res.data, _calls(data, 14, 60)) == 60


def test_protected_functions_are_never_merged():
    text = MODULE.replace('(func $n0 (export "n0")', '(func $n0 (export "__wbindgen_describe_n0")')
    data = wat(text)
    res = optimize(data, passes=[NAME])
    assert _stats(res).get("functions_merged") == 5   # n1..n3 and the start pair
    assert compare(data, res.data, _calls(data, 4)) > 100


@pytest.mark.parametrize("section", ["linking", "__wasm_bindgen_unstable"])
def test_a_module_with_a_linking_or_wasm_bindgen_section_is_left_alone(section):
    data = wat(MODULE.replace("(module", f'(module (@custom "{section}" "x")', 1))
    assert optimize(data, passes=[NAME]).data == data


# Only i32 parameters, locals and constants: a wrong version still validates.
SAME_TYPES = """
(module
  (import "env" "h" (func $h (param i32) (result i32)))
  (import "env" "g" (global $g i32))
""" + "".join(f"""
  (func (export "s{i}") (param i32 i32) (result i32) (local i32 i32)
    (local.set 2 (i32.add (local.get 3) (i32.mul (local.get 0) (i32.const {k}))))
    (local.set 3 (call $h (i32.add (local.get 1) (i32.const {k * 7 + 1}))))
    (i32.add (i32.xor (local.get 2) (local.get 3))
      (i32.add (global.get $g) (i32.rotl (local.get 2) (i32.const 123456)))))""" for i, k in enumerate((3, 11, 200000))) + ")"


def test_harness_catches_a_thunk_passing_the_wrong_constant(monkeypatch):
    data = wat(SAME_TYPES)
    assert compare(data, optimize(data, passes=[NAME]).data, _calls(data)) > 100
    real = merge_similar._thunk

    def wrong(member, extra, n_params, shared_index):
        # every thunk passes the first member's value of the first parameter
        out = real(member, extra, n_params, shared_index)
        mine = member.minimal_const(extra[0])
        return out.replace(mine, wrong.first.setdefault(shared_index, mine), 1)
    wrong.first = {}
    monkeypatch.setattr(merge_similar, "_thunk", wrong)
    bad = optimize(data, passes=[NAME]).data
    validate(bad)
    assert differs(data, bad, _calls(data))


def test_harness_catches_locals_not_moved_past_the_new_params(monkeypatch):
    data = wat(SAME_TYPES)
    real = merge_similar._shared_body

    def unshifted(template, slots, m, n_params):
        saved = template.local_refs()
        template.locals_ = [(s, e, imm - m) for s, e, imm in saved]
        try:
            return real(template, slots, m, n_params)
        finally:
            template.locals_ = saved
    monkeypatch.setattr(merge_similar, "_shared_body", unshifted)
    bad = optimize(data, passes=[NAME]).data
    validate(bad)
    assert differs(data, bad, _calls(data))


def _random_module(rng):
    n_imp = rng.randint(0, 3)
    imports = "".join(f'(import "env" "i{k}" (func (param i32) (result i32)))' for k in range(n_imp))
    imports += '(import "env" "g" (global $g i32))' if rng.random() < 0.5 else "(global $g i32 (i32.const 5))"
    funcs = []
    shapes = [rng.randint(2, 6) for _ in range(3)]
    for i in range(rng.randint(6, 20)):
        width = rng.choice(shapes)
        ops = []
        for j in range(width):
            c = rng.choice((j, rng.randint(-70000, 70000)))
            op = ("i32.add", "i32.xor", "i32.mul")[j % 3]
            ops.append(f"(local.set 1 ({op} (local.get 1) (i32.const {c})))")
        if n_imp and i % 2:
            ops.append(f"(local.set 1 (call {rng.randrange(n_imp)} (local.get 1)))")
        funcs.append(f'(func $f{i} (export "f{i}") (param i32) (result i32) (local i32) '
                     f'(local.set 1 (local.get 0)) {"".join(ops)} '
                     f"(i32.add (local.get 1) (global.get $g)))")
    return wat(f"(module {imports} {''.join(funcs)})")


@pytest.mark.parametrize("seed", range(10))
def test_random_near_duplicates(seed):
    rng = random.Random(seed)
    data = _random_module(rng)
    res = optimize(data)
    validate(res.data)
    assert len(res.data) <= len(data)
    assert compare(data, res.data, _calls(data, seed, 60)) == 60
    assert optimize(res.data).data == res.data


RAW_DIR = os.environ.get("LOOM_RAWCORPUS_DIR", os.path.expanduser("~/.cache/loom-post-rawcorpus"))
# Raw cargo modules where the pass merges (bench/rawcorpus; built by its recipe).
RAW = ["regex-oz-lto", "unicode-seg-o3", "sha2-oz", "miniz-os", "serde-json-oz", "nom-o3-lto"]


@pytest.mark.parametrize("name", RAW)
def test_raw_cargo_modules_behave_the_same(name):
    path = os.path.join(RAW_DIR, name + ".wasm")
    if not os.path.exists(path):
        pytest.skip(f"{path} not built (python3 bench/rawcorpus/build.py)")
    with open(path, "rb") as f:
        data = f.read()
    res = optimize(data)
    assert _stats(res).get("functions_merged") > 0
    validate(res.data)
    exports = executable_exports(data, res)
    rng = random.Random(name)
    calls = random_calls(data, rng, min(90, 3 * len(exports)))
    assert compare(data, res.data, calls) >= 1
    for export, _kinds in exports:
        compare(data, res.data, random_calls(data, rng, 2, exports={export}))


def test_shapes_hold_the_decoded_instructions_not_copies():
    """Every candidate has a shape until the groups are known (the run's
    peak memory): its constants are the decoded body's own instruction tuples,
    and the group key is the body with just their immediates cut out."""
    data = _pair(3, 2)
    m = read_module(data)
    (_sig, members), = merge_similar._groups(m, set())
    for shape in members:
        instrs = shape.decoded.instrs
        assert shape.consts and all(any(c is ins for ins in instrs) for c in shape.consts)
        assert [c[0].name for c in shape.consts] == ["i32.const"] * 2
        cut = b"".join(shape.key(None)[1])
        assert len(cut) == len(shape.body) - sum(c[3] - c[2] - 1 for c in shape.consts)


def _all_shapes_groups(module):
    """The groups as keyed over every function (what _groups did before it
    shaped only the candidates): [(signature, [position])]."""
    from loom_post.passes.bodies import Bodies
    bodies, by_key = Bodies(), {}
    for pos in range(len(module.code)):
        shape = merge_similar._Shape(module, pos, bodies)
        if shape.consts:
            sig = module.func_type(module.func_index(pos))
            by_key.setdefault(shape.key(sig), []).append(pos)
    return [(key[0], members) for key, members in by_key.items() if len(members) > 1]


ALIKE = """(module
  (func $a (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $b (param i32) (result i32) (i32.add (local.get 0) (i32.const 1000000)))
  (func $c (param i32) (result i32) (local i64) (i32.add (local.get 0) (i32.const 2)))
  (func $d (param i32) (result i32) (i32.sub (local.get 0) (i32.const 3)))
  (func $e (param i64) (result i64) (i64.add (local.get 0) (i64.const 1)))
  (func $f (param i32) (result i32) (i32.add (i32.add (local.get 0) (i32.const 1)) (i32.const 1))))"""


def test_only_functions_alike_in_signature_count_and_locals_are_shaped(monkeypatch):
    """Constants are cut out only of functions that share their signature,
    instruction count and locals with another (equal keys imply all three);
    the groups are exactly, and in the same order, those keyed over every
    function: constants of other widths (a longer body), padded LEB128s,
    random near-duplicates."""
    data = wat(ALIKE)
    m = read_module(data)
    shaped = []
    real = merge_similar._Shape

    def counting(module, pos, bodies):
        shaped.append(pos)
        return real(module, pos, bodies)
    monkeypatch.setattr(merge_similar, "_Shape", counting)
    groups = merge_similar._groups(m, set())
    assert shaped == [0, 1, 3]   # not $c (locals), $e (signature), $f (count)
    monkeypatch.setattr(merge_similar, "_Shape", real)
    assert [(sig, [s.pos for s in ms]) for sig, ms in groups] == \
        [(((0x7F,), (0x7F,)), [0, 1])] == _all_shapes_groups(m)
    modules = [data, wat(MODULE)] + [_random_module(random.Random(s)) for s in range(20)]
    for data in modules + [pad_module(d) for d in modules]:
        m = read_module(data)
        got = [(sig, [s.pos for s in ms]) for sig, ms in merge_similar._groups(m, set())]
        assert got == _all_shapes_groups(m)
