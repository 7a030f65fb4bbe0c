"""Functions that differ only in constants share one body.

What it does
    Defined functions with the same signature (equal types at two type
    indices count as one), the same locals and the same body
    except for the values of some `i32/i64/f32/f64.const` instructions form a
    group. The group's body is written once, as a new function appended at the
    end of the module (the "shared body"): its type is the group's type with one
    extra parameter per constant that differs between members (constants
    whose values agree in every member share one parameter), each such
    constant becomes a `local.get` of its parameter, and every local index past
    the original parameters moves up by the number of extra parameters. Each
    member keeps its index and becomes a thunk: it pushes its own parameters,
    then its own values of the differing constants, and calls the shared body.
    Constants equal in every member stay in the shared body. When a function
    of the module (or an earlier group's shared body) already is that shared
    body, byte for byte and with that signature, the thunks call it and
    nothing is added. No index of an
    existing function changes, so no reference (calls, tables, exports, start,
    names) is rewritten: only the type section (a new type when no equal one
    exists), the function section and the code section grow or change.

Why it is safe
    A thunk computes exactly what its function computed: the shared body is
    that function's body with each differing constant read from a parameter
    that holds that very value (parameters carry their bits unchanged, NaN
    payloads included), and with locals renumbered consistently; its declared
    locals start at zero as before. Stack types are unchanged (a `local.get` of
    an i32 parameter pushes an i32 where `i32.const` did). The function keeps
    its index, type and identity, so tables, `call_indirect` checks and exports
    see no difference. Never touched: wasm-bindgen's describe functions and
    their callees (the pipeline's `protected`), modules with GC types, and
    modules carrying sections this pass does not keep in step (`linking`,
    `reloc.*`, `metadata.code.*`: see funcindex.understood), and modules that
    still carry wasm-bindgen's own custom section (`__wasm_bindgen_unstable`:
    rustc's output before wasm-bindgen ran), whose reading of the module by
    wasm-bindgen was not checked on thunks, as for renumber-functions. What changes
    beyond bytes: a call to a member is one call deeper (a deeply recursive
    program reaches the engine's stack limit one frame sooner per level), and
    its local names in the `name` section past its parameters describe locals
    the thunk no longer has (the shared body has no name).

What it costs
    Every body is decoded once, into the run's store of decoded bodies
    (passes/bodies.py: the function phase finds it there). Only functions
    that share their signature, instruction count and locals with another
    (a tenth of the instructions on the large corpus modules) are read to
    find their constants and grouped by their bytes with the constant
    immediates left out (a dict lookup each). A
    group is merged only when the bytes it saves are strictly positive,
    counted exactly: the members' code entries (size prefixes included) against
    the thunks' entries, the shared body's entry, its function-section entry
    (its type index) and the new type's bytes when no equal type exists yet
    (the first group needing a type pays for it). It is counted twice, on
    the bytes as they are and on the members and shared body written with
    minimal LEB128s (what `compact`, which runs after this pass, makes of
    them: on wasm-ld's padded output the members shrink more than the one
    shared body); a merge must pay in both. Thunks are written minimally.
    What this count leaves out
    (a section size or count crossing a LEB128 boundary) the pipeline's
    whole-module gate weighs: the pass is kept only when the module got
    strictly smaller and its code section did not grow.
"""

from loom_post.passes import facts, funcindex
from loom_post.passes.base import ModulePass
from loom_post.passes.bodies import Bodies
from loom_post.wasm import opcodes
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.instructions import encode_body, encode_imm, encode_valtype, read_valtype
from loom_post.wasm.leb128 import encode_u, read_u32, size_u
from loom_post.wasm.sections import encode_function_section

_CONST_TYPES = {"i32.const": 0x7F, "i64.const": 0x7E, "f32.const": 0x7D, "f64.const": 0x7C}
_LOCAL_OPS = ("local.get", "local.set", "local.tee")
# The same operators as rows of the opcode table: a set lookup per instruction.
_CONST_ROWS = frozenset(op for op in opcodes.ALL if op.name in _CONST_TYPES)
_LOCAL_ROWS = frozenset(op for op in opcodes.ALL if op.name in _LOCAL_OPS)
_LOCAL_GET, _CALL, _END = b"\x20", b"\x10", b"\x0b"
_WBINDGEN = "__wasm_bindgen_unstable"
# The JS API's limits (engines refuse more): a shared body must stay loadable.
_MAX_PARAMS, _MAX_LOCALS = 1000, 50000


class MergeSimilarFunctionsPass(ModulePass):
    name, default, counters, summary = facts(__name__)
    shares_bodies = True

    def run_module(self, module, protected, stats, bodies=None):
        if not _supported(module):
            return
        try:
            groups = _groups(module, protected, bodies)
        except DecodeError:
            return
        plan = _plan(module, groups, _existing(module, protected))
        if not plan:
            return
        _apply(module, plan)
        stats.count("shared_bodies", sum(1 for m in plan if m.body is not None))
        stats.count("functions_merged", sum(len(m.thunks) for m in plan))
        stats.count("params_added", sum(len(m.extra) for m in plan if m.body is not None))
        stats.functions_changed = sum(len(m.thunks) for m in plan)


def _supported(module):
    return (module.code and funcindex.understood(module) and None not in module.types
            and any(sec.id == 1 for sec in module.sections)
            and not module.custom_sections(_WBINDGEN))


class _Shape:
    """One function as a candidate: its bytes with the constant immediates
    cut out (the group key), its constant instructions and the spans of local
    indices past the parameters. `consts` holds the decoded body's own
    instruction tuples (op, imm, start, end), not copies: every candidate
    (see _candidates) has a shape until the groups are known, and a new record per
    constant cost a tuple each (memory at the run's peak, and time)."""

    __slots__ = ("pos", "body", "decoded", "n_params", "consts", "locals_")

    def __init__(self, module, pos, bodies):
        entry = module.code[pos]
        self.pos = pos
        self.body = module.data[entry.body_start:entry.end]
        self.decoded = bodies.of_bytes(self.body)  # shared: read, never changed
        self.n_params = len(module.func_type(module.func_index(pos))[0])
        rows = _CONST_ROWS
        self.consts = [ins for ins in self.decoded.instrs if ins[0] in rows]
        self.locals_ = None

    def local_refs(self):
        """Spans and indices of the local indices past the parameters (only
        a group's template needs them: computed on first use)."""
        if self.locals_ is None:
            rows, n_params = _LOCAL_ROWS, self.n_params
            self.locals_ = [(s + 1, e, imm) for info, imm, s, e in self.decoded.instrs
                            if info in rows and imm >= n_params]
        return self.locals_

    def key(self, signature):
        chunks, last = [], 0
        for ins in self.consts:
            chunks.append(self.body[last:ins[2] + 1])
            last = ins[3]
        chunks.append(self.body[last:])
        return signature, tuple(chunks)

    def value(self, j):
        ins = self.consts[j]
        return self.body[ins[2]:ins[3]]  # opcode and immediate, as written

    def minimal_const(self, j):
        info, imm = self.consts[j][:2]
        return info.opcode_bytes + encode_imm(info, imm)

    def minimal_size(self):
        """Bytes of this body written with minimal LEB128s (what `compact`
        makes of it)."""
        if self.decoded.minimal:
            return len(self.body)
        return len(encode_body(self.decoded.locals, self.decoded.instrs))


def _groups(module, protected, bodies=None):
    """[(signature, [_Shape])] of the groups of more than one member.
    `bodies`: the run's store of decoded bodies (None: a store of its own)."""
    bodies = Bodies() if bodies is None else bodies
    by_key = {}
    for pos in _candidates(module, protected, bodies):
        index = module.func_index(pos)
        shape = _Shape(module, pos, bodies)
        if shape.consts:
            # by signature, not type index: equal types at two indices (rustc
            # emits them) would otherwise get two identical shared bodies
            by_key.setdefault(shape.key(module.func_type(index)), []).append(shape)
    return [(key[0], members) for key, members in by_key.items() if len(members) > 1]


def _candidates(module, protected, bodies):
    """The positions, in order, of the unprotected functions that share their
    signature, instruction count and locals declaration with another one
    (DecodeError when a body does not decode). Equal group keys imply all
    three (the key's first chunk holds the locals and ends on an instruction
    boundary, as does every chunk, so both bodies decode to as many
    instructions), so only these can form a group; cutting out the constants
    of the others (most of the code) was most of this pass's time."""
    seen, where = {}, []
    for pos in range(len(module.code)):
        index = module.func_index(pos)
        if index in protected:
            continue
        decoded = bodies.get(module, pos)   # every body: the function phase reads them next
        start = module.code[pos].body_start
        declared = module.data[start:start + decoded.code_start - decoded.start]
        bucket = (module.func_type(index), len(decoded.instrs), declared)
        seen[bucket] = seen.get(bucket, 0) + 1
        where.append((pos, bucket))
    return [pos for pos, bucket in where if seen[bucket] > 1]


class _Merge:
    """One accepted group: the shared body's type index and bytes, and the
    thunks' new bodies by position."""

    def __init__(self, type_index, new_type, body, thunks, extra):
        self.type_index, self.new_type = type_index, new_type
        self.body, self.thunks, self.extra = body, thunks, extra


def _existing(module, protected):
    """{(encoded signature, body): function index} of the defined functions a
    thunk may call in place of a new shared body (never a protected one)."""
    sigs, out = {}, {}
    for pos, entry in enumerate(module.code):
        index = module.func_index(pos)
        if index in protected:
            continue
        t = module.func_types[index]
        if t not in sigs:
            sigs[t] = _signature(*module.types[t])
        out.setdefault((sigs[t], module.data[entry.body_start:entry.end]), index)
    return out


def _pays(before, after):
    return after < before


def _plan(module, groups, bodies=None, pays=_pays):
    """The groups worth merging (`pays(bytes before, bytes after)`), each
    costed with the function index and type index it would get after the
    groups accepted before it. `bodies`: functions that may serve as a shared
    body, {(encoded signature, body): function index} (see _existing)."""
    next_index = module.num_imported_funcs + len(module.code)
    new_types = []   # encoded signatures appended to the type section
    plan, bodies = [], dict(bodies or {})
    for (params, results), members in groups:
        extra, slots = _differing(members)
        if not extra or len(params) + len(extra) > _MAX_PARAMS:
            continue
        types = tuple(_CONST_TYPES[members[0].consts[j][0].name] for j in extra)
        sig = _signature(params + types, results)
        shared_type, type_cost = _type_for(module, new_types, sig)
        body = _shared_body(members[0], slots, len(extra), len(params))
        if body is None:
            continue
        # The shared body may exist already: a function of the module (the
        # generic one the members were specialised from), or the shared body
        # of a group of another signature (one passes as a constant what the
        # other takes as a parameter). The thunks then call it.
        index = bodies.get((sig, body))
        new = index is None
        thunks = {m.pos: _thunk(m, extra, len(params), next_index if new else index) for m in members}
        fixed = sum(_entry(t) for t in thunks.values())
        shared = shared_min = 0
        if new:
            fixed += size_u(shared_type) + type_cost
            shared = _entry(body)
            # Written minimally (as `compact` leaves them), the members may
            # shrink more than the one shared body: the merge must pay there too.
            shared_min = _entry_len(_shared_minimal(members[0], slots, len(extra), len(params)))
        if not (pays(sum(_entry(m.body) for m in members), fixed + shared) and pays(
                sum(_entry_len(m.minimal_size()) for m in members), fixed + shared_min)):
            continue
        if new and type_cost:
            new_types.append(sig)
        plan.append(_Merge(shared_type, sig if new and type_cost else None, body if new else None,
                           thunks, extra))
        if new:
            bodies[(sig, body)] = next_index
            next_index += 1
    return plan


def _differing(members):
    """The new parameters and where they are read. A constant whose value is
    not the same in every member needs a parameter; constants that have equal
    values in every member share one. Returns (the first position of each
    parameter's constant, [(position, parameter number)])."""
    first = members[0]
    extra, slots, param_of = [], [], {}
    for j in range(len(first.consts)):
        if all(m.value(j) == first.value(j) for m in members[1:]):
            continue
        values = tuple(m.minimal_const(j) for m in members)
        if values not in param_of:
            param_of[values] = len(extra)
            extra.append(j)
        slots.append((j, param_of[values]))
    return extra, slots


def _signature(params, results):
    vec = lambda types: encode_u(len(types)) + b"".join(encode_valtype(t) for t in types)  # noqa: E731
    return b"\x60" + vec(params) + vec(results)


def _type_for(module, new_types, sig):
    """(type index, bytes a new type entry costs: 0 when an equal one exists)."""
    for i, t in enumerate(module.types):
        if _signature(*t) == sig:
            return i, 0
    if sig in new_types:
        return len(module.types) + new_types.index(sig), 0
    return len(module.types) + len(new_types), len(sig)


def _shared_body(template, slots, m, n_params):
    """The template's body with the differing constants read from the `m` new
    parameters and the declared locals moved past them; None when it would
    exceed the engines' local limit."""
    edits = [(template.consts[j][2], template.consts[j][3], _LOCAL_GET + encode_u(n_params + k))
             for j, k in slots]
    edits += [(s, e, encode_u(imm + m)) for s, e, imm in template.local_refs()]
    declared = _declared(template.body)
    if n_params + m + declared > _MAX_LOCALS:
        return None
    edits.sort()
    parts, last = [], 0
    for s, e, new in edits:
        parts.append(template.body[last:s])
        parts.append(new)
        last = e
    parts.append(template.body[last:])
    return b"".join(parts)


def _declared(body):
    count, pos = read_u32(body, 0)
    total = 0
    for _ in range(count):
        n, pos = read_u32(body, pos)
        total += n
        _vt, pos = read_valtype(body, pos)
    return total


def _shared_minimal(template, slots, m, n_params):
    """Bytes of the shared body written with minimal LEB128s: the template's
    minimal size, each differing constant replaced by a `local.get` of its
    parameter, each local index past the parameters moved up."""
    size = template.minimal_size()
    for j, k in slots:
        size += 1 + size_u(n_params + k) - len(template.minimal_const(j))
    for _s, _e, imm in template.local_refs():
        size += size_u(imm + m) - size_u(imm)
    return size


def _thunk(member, extra, n_params, shared_index):
    """Written minimally, so `compact` finds nothing left in it."""
    gets = b"".join(_LOCAL_GET + encode_u(i) for i in range(n_params))
    consts = b"".join(member.minimal_const(j) for j in extra)
    return b"\x00" + gets + consts + _CALL + encode_u(shared_index) + _END


def _entry(body):
    return _entry_len(len(body))


def _entry_len(size):
    return size_u(size) + size


def _apply(module, plan):
    data = module.data
    new_bodies = {}
    for merge in plan:
        new_bodies.update(merge.thunks)
    shared = [m for m in plan if m.body is not None]
    parts = [encode_u(len(module.code) + len(shared))]
    for pos, entry in enumerate(module.code):
        body = new_bodies.get(pos)
        parts.append(data[entry.start:entry.end] if body is None else encode_u(len(body)) + body)
    parts += [encode_u(len(m.body)) + m.body for m in shared]
    types = [m.new_type for m in plan if m.new_type is not None]
    for sec in module.sections:
        if sec.id == 1 and types:
            count, pos = read_u32(data, sec.payload_start)
            module.set_payload(sec, encode_u(count + len(types)) + data[pos:sec.end] + b"".join(types))
        elif sec.id == 3:
            defined = module.func_types[module.num_imported_funcs:]
            module.set_payload(sec, encode_function_section(defined + [m.type_index for m in shared]))
    module.set_code_payload(b"".join(parts))


PASS = MergeSimilarFunctionsPass()
