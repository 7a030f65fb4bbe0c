"""Red-team regressions for the CSE pass: tricky control-flow, kill, stack-shape
and accounting shapes that were checked by hand to be handled correctly.

Each case is run through optimize() and checked for:
  - the pass firing (or not firing) as the shape demands,
  - the output validating and never growing (each changed function strictly
    smaller),
  - identical behaviour in wasmtime on edge-value and random calls,
  - idempotence (a second optimize() changes nothing),
  - every new local having exactly one local.tee, no local.set and >= 1 local.get.
"""

import random

import pytest
import wasmtime

from loom_post.wasm.module import read_module
from loom_post.wasm.instructions import decode_body
from loom_post.passes.cached_run import optimize
from loom_post.passes.validate import engine_config

from differential import compare, random_calls, validate

E = "(i32.add (local.get $p) (i32.const 100000))"   # 8 bytes, reads $p
GE = "(i32.add (global.get $g) (i32.const 100000))"  # reads a mutable global
LD = "(i32.load offset=40000 (local.get $a))"        # a load with a big offset

HDR = """(module
  (memory (export "mem") 1)
  (global $g (export "g") (mut i32) (i32.const 5))
  (tag $t (param i32))
  (type $sig (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $thrower $setg)
  (data (i32.const 40000) "\\01\\02\\03\\84\\05\\06\\07\\88\\09\\0a\\0b\\8c\\0d\\0e\\0f\\90")
  (func $thrower (param $x i32) (result i32)
    (if (i32.and (local.get $x) (i32.const 1)) (then (throw $t (local.get $x))))
    (local.get $x))
  (func $setg (param $x i32) (result i32)
    (global.set $g (local.get $x))
    (i32.store offset=40000 (i32.const 0) (local.get $x))
    (i32.const 0))
"""

EDGE_ARGS = [(0, 0), (1, 1), (2, 2), (3, 3), (-1, -1), (0x7FFFFFFF, 5), (-0x80000000, 4),
             (100, 0), (0, 7), (255, 6), (7, 255)]


def _bodies(data):
    m = read_module(data)
    out = []
    for pos, entry in enumerate(m.code):
        body = decode_body(m.data, entry.body_start, entry.end)
        nparams = len(m.func_type(m.func_index(pos))[0])
        out.append((body, nparams, entry.end - entry.start))
    return out


def run_case(text, fires=True, n_random=40, seed=0, args=EDGE_ARGS):
    data = wasmtime.wat2wasm(text)
    res = optimize(data)
    out = res.data
    validate(out)
    if fires:
        assert res.passes["cse"].get("deduplicated") > 0, "the pass did not fire on this shape"
    else:
        assert res.passes["cse"].get("deduplicated") == 0
    assert res.code_bytes_after <= res.code_bytes_before
    assert optimize(out).data == out, "a second optimize() changed the output"
    for (b0, np0, s0), (b1, np1, s1) in zip(_bodies(data), _bodies(out)):
        assert s1 <= s0
        if b1.instrs != b0.instrs or b1.locals != b0.locals:
            assert s1 < s0, "a changed function did not shrink"
        first_new = np0 + sum(c for c, _ in b0.locals)
        last_new = np1 + sum(c for c, _ in b1.locals)
        for local in range(first_new, last_new):
            ops = [op.name for op, imm, _s, _e in b1.instrs
                   if imm == local and op.name in ("local.tee", "local.get", "local.set")]
            assert ops.count("local.tee") == 1 and "local.set" not in ops
            assert ops.count("local.get") >= 1
    calls = [("f", a) for a in args] + random_calls(data, random.Random(seed), n_random,
                                                    exports=["f"])
    assert compare(data, out, calls) == len(calls)
    return res


def func(body, params="(param $p i32) (param $c i32)", locals_="(local $r i32)"):
    return HDR + f'(func (export "f") {params} (result i32) {locals_}\n{body}))'


# --- 1. the `cut`: branches to outer blocks before / after the first occurrence --------
CUT_CASES = {
    # br_table to three depths right after E: E reaches every block end
    "br_table_after_first": f"""
      (block $A (block $B (block $C
          (local.set $r {E})
          (br_table $C $B $A (local.get $c)))
        (local.set $r (i32.mul (local.get $r) {E})))
      (local.set $r (i32.xor (local.get $r) {E})))
    (i32.add (local.get $r) {E})""",
    # a br_if carrying E as its value: E is computed before the branch
    "br_if_value_is_first": f"""
    (local.set $r (block $B (result i32)
       (drop (br_if $B {E} (local.get $c)))
       (local.set $c (i32.const 1))
       {E}))
    (i32.add (local.get $r) {E})""",
    # block whose fall-through ends in `br` to itself after a kill and recompute
    "fallthrough_is_a_branch": f"""
    (block $B
      (local.set $r {E})
      (br_if $B (local.get $c))
      (local.set $p (i32.const 9))
      (local.set $r {E})
      (br $B))
    (i32.add (local.get $r) {E})""",
    # br_on_null to an outer block after E, no kill: E is available after it
    "br_on_null_after_first": f"""
    (if (i32.and (local.get $c) (i32.const 1)) (then (local.set $fr (ref.func $k))))
    (block $B
      (local.set $r {E})
      (drop (br_on_null $B (local.get $fr)))
      (local.set $c (i32.const 1))
      (local.set $r (i32.add (local.get $r) {E})))
    (i32.add (local.get $r) {E})""",
}


@pytest.mark.parametrize("name", sorted(CUT_CASES))
def test_cut_shapes(name):
    extra = ""
    locals_ = "(local $r i32)"
    if "br_on_null" in name:
        extra = """(type $ft (func (param i32) (result i32)))
  (func $k (type $ft) (i32.mul (local.get 0) (i32.const 3)))
  (elem declare func $k)
"""
        locals_ = "(local $r i32) (local $fr (ref null $ft))"
    run_case(func(CUT_CASES[name], locals_=locals_).replace(HDR, HDR + extra))


def test_branch_before_first_occurrence_blocks_reuse_after_block():
    """Every block is left by a br_table before E is computed: E must not be reused
    after the block ends (only the constant 100000 may be)."""
    text = func(f"""
      (block $A (block $B (block $C (br_table $C $B $A (local.get $c)))
          (local.set $r {E}))
        (local.set $r (i32.xor (local.get $r) {E})))
      (i32.add (local.get $r) {E})""")
    res = run_case(text, fires=False)
    assert res.functions_changed == 0


# --- 2. if arms --------------------------------------------------------------------
def test_value_in_if_condition_reused_in_both_arms_and_after():
    run_case(func(f"""
      (if (i32.lt_u {E} (i32.const 100010))
        (then (local.set $r {E}))
        (else (local.set $r (i32.mul {E} (i32.const 3)))))
      (i32.add (local.get $r) {E})"""))


def test_if_arm_with_br_to_outer_block_and_br0():
    """E computed in one arm that leaves by `br $B`, and in an if without else
    that may leave itself with br_if 0: nothing from inside is reused after."""
    text = func(f"""
      (block $B
        (if (local.get $c) (then (local.set $r {E}) (br $B)) (else (local.set $r (i32.const 1))))
        (if (local.get $c) (then (br_if 0 (i32.eq (local.get $p) (i32.const 3)))
                                 (local.set $r (i32.add (local.get $r) {E})))))
      (i32.add (local.get $r) {E})""")
    res = run_case(text, fires=False)
    assert res.functions_changed == 0


# --- 3. loops ------------------------------------------------------------------------
def test_loop_write_in_nested_if_kills_value_from_before_loop():
    run_case(func(f"""
      (local.set $r {E})
      (loop $L
        (local.set $r (i32.add (local.get $r) {E}))
        (block (if (i32.eq (local.get $i) (i32.const 1))
                   (then (local.set $p (i32.add (local.get $p) (i32.const 1))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $L (i32.lt_u (local.get $i) (i32.const 4))))
      (i32.add (local.get $r) {E})""", locals_="(local $r i32) (local $i i32)"))


def test_nested_loops_inner_write_and_reuse_after_fallthrough():
    run_case(func(f"""
      (loop $O
        (local.set $r (i32.add (local.get $r) {E}))
        (local.set $j (i32.const 0))
        (loop $I
          (local.set $r (i32.add (local.get $r) {E}))
          (if (i32.eq (local.get $j) (i32.const 1))
              (then (local.set $p (i32.add (local.get $p) (i32.const 1)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $I (i32.lt_u (local.get $j) (i32.const 3))))
        (local.set $r (i32.add (local.get $r) {E}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $O (i32.lt_u (local.get $i) (i32.const 3))))
      (i32.add (local.get $r) {E})""", locals_="(local $r i32) (local $i i32) (local $j i32)"))


def test_loop_left_by_br_if_with_write_after_exit_test():
    """The loop's only exit is a br_if to $B; it writes $p on every iteration after
    it, so E (from before the loop) is not available after $B."""
    text = func(f"""
      (block $B
        (local.set $r {E})
        (loop $L
          (br_if $B (local.get $c))
          (local.set $p (i32.const 4))
          (local.set $c (i32.const 1))
          (br $L))
        (local.set $r (i32.add (local.get $r) {E})))
      (i32.add (local.get $r) {E})""")
    res = run_case(text)
    out = res.data
    # E itself is never reused: each i32.add of $p stays
    m = read_module(out)
    body = decode_body(m.data, m.code[-1].body_start, m.code[-1].end)
    reads_p = [k for k, ins in enumerate(body.instrs)
               if ins[0].name == "local.get" and ins[1] == 0]
    assert len(reads_p) == 3


# --- 4. kills --------------------------------------------------------------------------
def test_loads_killed_by_bulk_memory_atomics_and_call_indirect():
    run_case(func(f"""
      (local.set $a (i32.and (local.get $a) (i32.const 0xff)))
      (local.set $r {LD})
      (local.set $r (i32.add (local.get $r) {LD}))
      (memory.fill (i32.const 40000) (local.get $c) (i32.const 300))
      (local.set $r (i32.add (local.get $r) {LD}))
      (local.set $r (i32.add (local.get $r) {LD}))
      (memory.copy (i32.const 40000) (i32.const 40100) (i32.const 200))
      (local.set $r (i32.add (local.get $r) {LD}))
      (local.set $r (i32.add (local.get $r) {LD}))
      (i32.atomic.store offset=40000 (i32.const 0) (local.get $c))
      (local.set $r (i32.add (local.get $r) {LD}))
      (drop (call_indirect (type $sig) (local.get $c) (i32.and (local.get $c) (i32.const 1))))
      (local.set $r (i32.add (local.get $r) {LD}))
      (drop (memory.grow (i32.const 0)))
      (i32.add (local.get $r) {LD})""", params="(param $a i32) (param $c i32)"))


def test_global_reads_killed_by_call_that_sets_global():
    res = run_case(func(f"""
      (local.set $r {GE})
      (local.set $r (i32.add (local.get $r) {GE}))
      (drop (call $setg (local.get $c)))
      (local.set $r (i32.add (local.get $r) {GE}))
      (i32.add (local.get $r) {GE})"""))
    assert res.passes["cse"].get("deduplicated") == 3  # two pairs of GE (+ the constant), never across the call


def test_local_tee_inside_operands_of_unrelated_expression():
    run_case(func(f"""
      (local.set $r (i32.add {E} (local.tee $p (i32.add (local.get $c) (i32.const 1)))))
      (local.set $r (i32.add {E} (local.get $r)))
      (local.set $r (i32.add (local.get $r) (i32.mul {E} (i32.add (local.tee $p (i32.const 5)) {E}))))
      (i32.add (local.get $r) {E})"""))


def test_return_call_in_arm():
    text = func(f"""
      (local.set $r {E})
      (if (local.get $c) (then (return_call $tail (i32.add (local.get $r) {E}))))
      (i32.add (local.get $r) {E})""")
    text = text.replace(HDR, HDR + "(func $tail (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))\n")
    run_case(text)


# --- 5. stack shapes ---------------------------------------------------------------------
def test_multivalue_if_with_params_and_values_across_blocks():
    run_case(func(f"""
      {E} {E}
      (if (param i32 i32) (result i32) (local.get $c)
         (then (i32.add) {E} (i32.mul))
         (else (i32.sub)))
      (block (param i32) (result i32 i32) (i32.add {E}) {E})
      (i32.add)"""))


def test_typed_and_untyped_select():
    sel = f"{E} (i32.mul {E} (i32.const 77777)) (local.get $c)"
    run_case(func(f"""
      (local.set $r (select (result i32) {sel}))
      (local.set $r (i32.add (local.get $r) (select {sel})))
      (i32.add (local.get $r) (select (result i32) {sel}))"""))


def test_typed_select_on_references_with_supertype_operand_last():
    """A typed select whose LAST operand already has the annotated type: the new
    local gets a valid type. (With the more specific operand last, see the report.)"""
    text = """(module
      (type $ft (func))
      (func (export "f") (param $c i32) (result i32)
        (local $g funcref) (local $t (ref null $ft))
        (ref.is_null (select (result funcref) (local.get $t) (local.get $g) (local.get $c)))
        (ref.is_null (select (result funcref) (local.get $t) (local.get $g) (local.get $c)))
        (i32.add)))"""
    data = wasmtime.wat2wasm(text)
    res = optimize(data)
    validate(res.data)
    assert res.passes["cse"].get("deduplicated") > 0
    calls = [("f", (c,)) for c in (0, 1, -1)]
    assert compare(data, res.data, calls) == len(calls)


# --- 6. exceptions ------------------------------------------------------------------------
def test_try_table_catch_to_outer_block_after_write_in_body():
    run_case(func(f"""
      (block $B (result i32)
        (local.set $r {E})
        (try_table (catch $t $B)
          (local.set $r (i32.add (local.get $r) {E}))
          (drop (call $thrower (local.get $c)))
          (local.set $p (i32.const 77))
          (local.set $r (i32.add (local.get $r) {E}))
          (drop (call $thrower (i32.shr_u (local.get $c) (i32.const 1)))))
        (local.get $r))
      (i32.add {E})"""))


def test_try_table_global_written_by_callee_before_throw():
    run_case(func(f"""
      (local.set $r {GE})
      (block $B
        (drop (block $C (result i32)
          (try_table (catch $t $C)
            (drop (call $setg (local.get $c)))
            (drop (call $thrower (local.get $c))))
          (br $B)))
        (local.set $r (i32.add (local.get $r) {GE})))
      (i32.add (local.get $r) {GE})"""))


# --- 7. unreachable code ----------------------------------------------------------------
def test_unreachable_code_after_return_and_br():
    run_case(func(f"""
      (local.set $r {E})
      (block $B
        (br_if $B (local.get $c))
        (return {E})
        (local.set $p (i32.const 1))
        (drop {E}))
      (block $D (br $D) (local.set $r {E}) (drop {E}))
      (i32.add (local.get $r) {E})"""))


# --- 9/10. exact accounting: local groups crossing a LEB128 boundary ----------------------
@pytest.mark.parametrize("ngroups", [127, 128])
def test_new_local_group_count_crossing_leb_boundary(ngroups):
    locs = " ".join("(local i64)" if k % 2 == 0 else "(local i32)" for k in range(ngroups))
    text = f"""(module (func (export "f") (param $p i32) (param $c i32) (result i32) {locs}
      {E} {E} i32.add {E} i32.add {E} i32.add))"""
    data = wasmtime.wat2wasm(text)
    res = run_case(text, n_random=10)
    actual = _bodies(data)[0][2] - _bodies(res.data)[0][2]
    assert res.passes["cse"].bytes_saved == actual > 0


def test_typed_select_over_references_keeps_its_written_type():
    # Found by red-teaming: the new local took the second operand's type,
    # (ref null $ft), narrower than the select's written funcref, and the
    # local.tee after the select failed validation.
    data = wasmtime.wat2wasm("""
      (module
        (type $ft (func))
        (func (export "f") (param $c i32) (param $g funcref) (param $t (ref null $ft)) (result i32)
          (ref.is_null (select (result funcref) (local.get $g) (local.get $t) (local.get $c)))
          (ref.is_null (select (result funcref) (local.get $g) (local.get $t) (local.get $c)))
          (i32.add)))""")
    r = optimize(data)
    assert r.passes["cse"].get("deduplicated") == 1
    wasmtime.Module.validate(wasmtime.Engine(engine_config(wasmtime)), r.data)


# --- loops: what the body changes is dropped at the header (back edges) -------------
BOUNDED = "(local.set $c (i32.and (local.get $c) (i32.const 7)))"


def test_loop_global_write_after_the_use_kills_the_value_from_before_the_loop():
    # GE's second-iteration value differs: the global.set comes after the use,
    # so only the loop header's drop (not the set's own kill) protects it.
    run_case(func(f"""
      {BOUNDED}
      (local.set $r {GE})
      (loop $L
        (local.set $r (i32.add (local.get $r) {GE}))
        (global.set $g (i32.add (global.get $g) (i32.const 3)))
        (br_if $L (i32.gt_s (local.tee $c (i32.sub (local.get $c) (i32.const 1))) (i32.const 0))))
      (local.get $r)"""), fires=False)


def test_loop_store_after_the_load_kills_the_load_from_before_the_loop():
    run_case(func(f"""
      {BOUNDED}
      (local.set $r {LD})
      (loop $L
        (local.set $r (i32.add (local.get $r) {LD}))
        (i32.store offset=40000 (local.get $a) (i32.add (local.get $r) (i32.const 1)))
        (br_if $L (i32.gt_s (local.tee $c (i32.sub (local.get $c) (i32.const 1))) (i32.const 0))))
      (local.get $r)""", params="(param $a i32) (param $c i32)"), fires=False,
      args=[(0, 3), (4, 5), (8, 0), (100, 7)])



# The header of the loop that writes is what drops E (its write comes after the
# use); an earlier loop, nested in it and closed before the write, or entered
# and left before it, must not take that role.
@pytest.mark.parametrize("before, inside", [
    ("", "(loop $B (nop))"),        # a closed inner loop entered after the outer one
    ("(loop $A0 (nop))", ""),       # an earlier loop, one after the other
])
def test_the_writing_loops_header_drops_the_value_whatever_loops_came_before(before, inside):
    run_case(func(f"""
      {BOUNDED}
      (local.set $r {E})
      {before}
      (loop $L
        {inside}
        (local.set $r (i32.add (local.get $r) {E}))
        (local.set $p (i32.add (local.get $p) (i32.const 3)))
        (br_if $L (i32.gt_s (local.tee $c (i32.sub (local.get $c) (i32.const 1))) (i32.const 0))))
      (local.get $r)"""), fires=False)

# --- dead code: a scope left only by branches elsewhere makes nothing available ------
def test_code_after_a_loop_that_never_falls_through_is_left_alone():
    run_case(func(f"""
      (block $X
        (loop $L
          (local.set $r {E})
          (br_if $X (i32.const 1))
          (br $L))
        (drop {E}))
      (local.get $r)"""), fires=False)


def test_code_after_a_block_left_by_return_is_left_alone():
    run_case(func(f"""
      (block $B
        (local.set $r {E})
        (return (local.get $r)))
      (i32.add (local.get $r) {E})"""), fires=False)
