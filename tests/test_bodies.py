"""The run's shared store of decoded bodies (passes/bodies.py): every body is
decoded at most once per run whatever the passes, nobody changes a stored
body, and the forked workers of the function phase use the store too.

Decoding is counted by wrapping `decode_body` wherever loom-post's modules
imported it, so a pass that decodes on its own, past the store, is caught.
"""

import sys

import pytest

from loom_post.passes import bodies as bodies_mod, pipeline
from loom_post.passes.cached_run import optimize
from loom_post.wasm import instructions
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.module import read_module

from wat_util import wat

T = "(param i32) (result i32)"


def _module():
    """Over 128 functions (renumber-functions runs), a group differing only in
    constants (merge-similar-functions merges it), an expression computed
    twice (cse rewrites it) and twins (dedupe-functions merges them)."""
    fill = "".join(f"(func $f{i} {T} (i32.add (i32.mul (local.get 0) (local.get 0)) "
                   f"(i32.const {i * 1000})))" for i in range(140))
    twins = "".join(f"(func $t{i} {T} (i32.sub (local.get 0) (i32.const 77)))" for i in range(2))
    calls = "".join(f"(local.set 0 (call $f{i % 7} (local.get 0)))" for i in range(20))
    return wat(f"""
(module
  {fill}
  {twins}
  (func (export "cse") (param i32 i32) (result i32)
    (i32.add (i32.mul (i32.add (local.get 0) (local.get 1)) (i32.const 3))
             (i32.mul (i32.add (local.get 0) (local.get 1)) (i32.const 3))))
  (func (export "hot") {T} {calls} (i32.add (call $t0 (local.get 0)) (call $t1 (local.get 0))))
)""")


class DecodedTwice(AssertionError):
    pass


@pytest.fixture
def decodes(monkeypatch):
    """[(body bytes, locals copy, instrs copy, Body)] of every decode_body call
    made through any loom-post module; a second decode of the same bytes
    raises DecodedTwice (in a forked worker too: the worker's copy of the list
    holds what the parent decoded before the fork)."""
    seen = []
    real = instructions.decode_body

    def counting(data, start, end):
        key = bytes(data[start:end])
        if any(key == d for d, *_rest in seen):
            raise DecodedTwice(f"{len(key)}-byte body decoded twice")
        body = real(data, start, end)
        seen.append((key, list(body.locals), list(body.instrs), body))
        return body
    for name, mod in list(sys.modules.items()):
        if name.startswith("loom_post") and getattr(mod, "decode_body", None) is real:
            monkeypatch.setattr(mod, "decode_body", counting)
    return seen


def test_every_body_is_decoded_at_most_once_per_run(decodes):
    data = _module()
    res = optimize(data, never_grow=("code",))
    for name in ("dedupe-functions", "merge-similar-functions", "cse", "renumber-functions"):
        assert res.passes[name].functions_changed > 0, name   # every reader ran and changed
    n_bodies = 145
    # merge-similar decoded every body; the function phase and renumber found
    # them again: far fewer decodes than the three readers' 3 x 145
    assert len(decodes) < 2 * n_bodies


def test_renumber_decodes_none_of_the_bodies_the_function_phase_wrote(decodes):
    """The function phase learns each new body's references while encoding
    it; renumber-functions reads them from the store instead of decoding."""
    data = _module()
    res = optimize(data, passes=["cse", "renumber-functions"], never_grow=("code",))
    assert res.passes["cse"].functions_changed == 1
    assert res.passes["renumber-functions"].functions_changed > 0
    m = read_module(data)
    distinct = {m.data[e.body_start:e.end] for e in m.code}
    assert len(decodes) == len(distinct)   # the function phase's, no more


def test_stored_bodies_are_never_changed_in_place(decodes):
    optimize(_module(), never_grow=("code",))
    for _data, locals_, instrs, body in decodes:
        assert body.locals == locals_ and body.instrs == instrs


def test_the_workers_use_the_store_and_give_the_same_output(decodes, monkeypatch):
    data = _module()
    one = optimize(data, jobs=1, never_grow=("code",)).data
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_CODE", 0)   # fork workers even for this module
    del decodes[:]
    calls = []
    real = pipeline._run_parallel
    monkeypatch.setattr(pipeline, "_run_parallel", lambda *a: calls.append(1) or real(*a))
    # a worker decoding a body the parent decoded before the fork raises DecodedTwice
    assert optimize(data, jobs=2, never_grow=("code",)).data == one
    assert calls


def test_a_body_that_does_not_decode_raises_each_time_without_a_second_decode():
    store = bodies_mod.Bodies()
    bad = b"\x00\x41"   # no locals, then i32.const without its immediate and no end
    for _ in range(2):
        with pytest.raises(DecodeError):
            store.of_bytes(bad)
    good = b"\x00\x0b"
    assert store.of_bytes(good) is store.of_bytes(good)
    assert store.decoded == 2


# -- Body.minimal: known while decoding, exact ------------------------------------
# (body bytes, minimal): hand-written bodies on each multi-byte path of the decoder
MINIMAL_CASES = [
    (b"\x00\x41\xc0\x00\x1a\x0b", True),            # i32.const 64 needs its 0x00
    (b"\x00\x41\x7f\x1a\x0b", True),                # i32.const -1
    (b"\x00\x41\xff\x7f\x1a\x0b", False),           # i32.const -1 padded
    (b"\x00\x41\x80\x00\x1a\x0b", False),           # i32.const 0 padded
    (b"\x00\x42\xff\x7f\x1a\x0b", False),           # i64.const -1 padded
    (b"\x00\x10\x80\x00\x0b", False),               # call 0 padded
    (b"\x00\x10\x80\x01\x0b", True),                # call 128
    # three bytes and more: past the decoder's inline two-byte paths
    (b"\x00\x41\xff\xff\x7f\x1a\x0b", False),       # i32.const -1 padded twice
    (b"\x00\x41\x80\x80\x00\x1a\x0b", False),       # i32.const 0 padded twice
    (b"\x00\x41\x80\xc0\x00\x1a\x0b", True),        # i32.const 8192 needs its 0x00
    (b"\x00\x41\x80\x80\x7f\x1a\x0b", True),        # i32.const -16384
    (b"\x00\x10\x80\x80\x00\x0b", False),           # call 0 padded twice
    (b"\x00\x10\x80\x80\x01\x0b", True),            # call 16384
    (b"\x00\x41\x00\x28\x02\x80\x80\x00\x1a\x0b", False),  # i32.load offset 0 padded twice
    (b"\x00\x41\x00\x28\x02\x80\x80\x01\x1a\x0b", True),   # i32.load offset 16384
    (b"\x00\x41\x80\x7f\x1a\x0b", True),            # i32.const -128
    (b"\x00\x41\xc0\x7f\x1a\x0b", False),           # i32.const -64 padded
    (b"\x00\x41\x00\x28\x42\x00\x00\x1a\x0b", False),  # i32.load naming memory 0 explicitly
    (b"\x00\x41\x00\x28\x42\x01\x00\x1a\x0b", True),   # ... memory 1: the flag is needed
    (b"\x00\x41\x00\x28\x02\x80\x00\x1a\x0b", False),  # i32.load offset 0 padded
    (b"\x00\x41\x00\x28\x02\x80\x01\x1a\x0b", True),   # i32.load offset 128
    (b"\x00\x43\x00\x00\x00\x00\xfc\x80\x00\x1a\x0b", False),  # a prefixed sub-opcode padded
    (b"\x00\x43\x00\x00\x00\x00\xfc\x00\x1a\x0b", True),
    (b"\x00\x02\x80\x00\x0b\x0b", False),           # block type index 0 padded
    (b"\x00\x02\x40\x0b\x0b", True),
    (b"\x81\x00\x01\x7f\x0b", False),               # local group count padded
    (b"\x01\x81\x00\x7f\x0b", False),               # local count padded
    (b"\x01\x01\x7f\x0b", True),
    (b"\x00\x41\x00\x0e\x81\x00\x00\x00\x0b", False),  # br_table's count padded
    (b"\x00\x41\x00\x11\x80\x00\x00\x0b", False),      # call_indirect's type index padded
]


@pytest.mark.parametrize("data,minimal", MINIMAL_CASES)
def test_minimal_is_known_exactly_while_decoding(data, minimal):
    body = instructions.decode_body(data, 0, len(data))
    assert body.minimal == minimal
    assert (instructions.encode_body(body.locals, body.instrs) == data) == minimal


def test_minimal_is_exact_on_every_opcode_row_and_padded_modules():
    import wat_util as W
    from padding import pad_module
    datas = [W.assemble(c) for c in W.all_cases()] + [_module()]
    datas += [pad_module(d) for d in datas[-40:]]
    n_false = 0
    for data in datas:
        m = read_module(data)
        for e in m.code:
            body = instructions.decode_body(data, e.body_start, e.end)
            same = instructions.encode_body(body.locals, body.instrs) == data[e.body_start:e.end]
            assert body.minimal == same
            n_false += not same
    assert n_false > 40   # the padded modules' bodies
