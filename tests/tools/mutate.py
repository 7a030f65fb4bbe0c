"""Mutation check: break one guard at a time and see whether a test notices.

Score: 254/254 mutations caught (the full run, --jobs 2, 2026-12-02, after the
compiled build and its static types; then the red-team's 4 native. entries and
native.action-skips-compile, 5/5, on their own). Before: 244/244 after the
speed and guard follow-ups; 186/186 before them. History: the first list scored 46/66 before
the tests written for it, then 66/66 and 68/68 (pipe.reencoding-reference
survived once and led to a pipeline fix). Each feature of the 2026-12-02 round
added entries and ran them on its own, all caught: merge-similar-functions
(msf., 16/16), result cache and start-up (cache., speed., 12/12; cache.checksum
and speed.lazy-pass-registry were first survivors, fixed by a new test and a
rewritten mutation), routes (routes., 10/10; routes.identity-used first
survived), CI gate (soft., approve., ref., gh., history., 15/15), components
(comp., pcomp., 10/10), configuration mistakes, globs, portability, help and
wording (22/22), names, schema, terminal and HTML (20/20), the guard (guard.,
8/8; with the stripped-input reference and optimize-for on module
passes 18/18) and redundant-zero-sets (zsets., 4/4). Warm runs (issue 16, second
round): warm., cache. and globs., 24/24 (cache.validates-output replaced by
cache.output-digest, cache.entry-key, cache.own-key and cache.key-validator).
The speed and guard follow-ups (same round, merged tree, 236 entries listed):
guard. and bodies. 43/43, bodies., pipe., stk. and warm. 42/42, pipe. and
cache. 20/20; cse. and stk. 38/38 on their branch; then the whole list, 244/244.
Before the tests written for it: 46/66 on the first list. Of the 20 survivors,
5 were equivalent mutations and were replaced (see the comment above
MUTATIONS); 14 are caught by tests added for them and 1 (cse.decl-join-leb) by
an existing test its first selection left out. The compiled build's red-team
(nativert): native.reload, native.rebuild-older-source, native.digest-before-build
and native.manifest-when-skipped, 4/4 caught. The typed decoder and encoder
(typed-codec): codec. 13/13, and bodies.minimal-* and dec.* (which follow
the decoder) 11/11. Warm runs, third round (warm-path):
the warm. entries 24/24 (15 new; warm.lazy-github, warm.registry-private and
warm.opcode-signature survived first and were caught by a check-imports
assertion, a copy of a registry entry and the stack-typing tests), and
lint.near-file and cache.output-digest, rewritten to follow the code, 2/2.
On the merged tree of that round (typed-codec, hot-phase, warm-path;
2026-12-02): cse. 30/30, stk. 8/8, zsets. 6/6, codec. 13/13, warm. 24/24.
One source for the passes' facts and cse's openers (registry-source): reg.
7/7 (warm.registry-facts left out, see below), warm.registry 2/2.
Shared offsets and merge-similar's constants (cold-alloc): alloc. 6/6
(alloc.offsets-limit first survived as an equivalent mutation, the cap being
applied twice, and was rewritten to remove the cap itself).
Warm runs, fourth round (warm-lookup: a hit without the pipeline, per-run
digests): warm. 32/32 (8 new; warm.no-validator-on-hit rewritten to import
the validator, as cached_run.py does not), with guard.cached-reference and
cache.output-digest (their lines moved) 34/34.
On the merged tree of that round (registry-source, cold-alloc, warm-lookup;
2026-12-02 evening): reg. 7/7, alloc. 6/6, warm. 31/31, codec. 13/13,
guard.cached-reference and cache.output-digest 2/2. A hit's counters in the
pass's order (lead): warm.counters-in-order 1/1.
Validation through wasmtime's library without its package (thin-validator):
val. 14/14 (13 new val.thin-*; val.thin-layout-unchecked and
val.thin-missing-symbol first survived, their test's fake packages linking a
library path already patched away; a mutation turning every feature off was
dropped: the engine's creation aborts, which this tool counts as a pytest error).
A hit reading the framing
only and hashing its output once (module-reads): reads. 6/6, with the four
whose lines moved (val.accept-everything, cache.checksum, cache.output-digest,
warm.no-validator-on-hit) 10/10.
The encoder copying a minimal body's own instructions (function-phase):
reuse. 4/4. Merge-similar's candidates and renumber's spans (module-passes):
msf.candidates-*, msf.protected, bodies.* 7/7. The report's gzip measured only
when guarded, optimized for, budgeted or asked (seventh round): gzip. 4/4
(gzip.guarded and gzip.optimize-for first survived: the guard measures gzip
itself whenever it runs, so the tests now include a module with nothing to
rewrite and an `optimize = false` one).

How to run (from the repository root; not part of CI, stdlib only):
    python3 tests/tools/mutate.py                 # every mutation, 2 at a time
    python3 tests/tools/mutate.py --jobs 8        # more at once
    python3 tests/tools/mutate.py --list          # the mutations, numbered
    python3 tests/tools/mutate.py -k cse.         # only mutations whose id contains "cse."
    python3 tests/tools/mutate.py --no-baseline   # skip the unmutated sanity runs

Each mutation is (id, file, exact original text, replacement, tests). The tree is
copied to a temporary directory per worker (the worktree itself is never
modified), the original text must occur exactly once in the file, the mutated
file is written into the copy, the chosen tests run there with a timeout
(PYTHONPATH pointing at the copy, no bytecode cache so no stale .pyc can hide a
same-size edit), and the file is restored before the next mutation. A mutation
is CAUGHT when the tests fail (or time out), SURVIVED when they pass. Before the
mutations, each distinct test selection is run once unmutated and must pass, so
a CAUGHT cannot come from a test that fails anyway.

Exit status: 0 when every mutation is caught, 1 when some survived, 2 when a
mutation does not apply or an unmutated selection fails.
"""

import argparse
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 300

CSE = "loom_post/passes/cse.py"
NATIVE = "loom_post/native.py"
EFF = "loom_post/passes/effects.py"
OPS = "loom_post/wasm/opcodes.py"
PIPE = "loom_post/passes/pipeline.py"
RUN = "loom_post/passes/cached_run.py"
VAL = "loom_post/passes/validate.py"
WC = "loom_post/passes/wasmtime_c.py"
FIO = "loom_post/fileio.py"
LEB = "loom_post/wasm/leb128.py"
MOD = "loom_post/wasm/module.py"
INS = "loom_post/wasm/instructions.py"
CFG = "loom_post/budget/config.py"
UNI = "loom_post/budget/units.py"
GATE = "loom_post/budget/gate.py"
LAYOUT = "loom_post/budget/cargo_layout.py"
LINK = "loom_post/integrations/link.py"
APR = "loom_post/budget/approval.py"
GBASE = "loom_post/budget/gitbase.py"
GH = "loom_post/integrations/github.py"
HIST = "loom_post/report/history.py"
LINT = "loom_post/budget/lint.py"
GLOBS = "loom_post/budget/globs.py"
GUARD = "loom_post/passes/guard.py"
OUTC = "loom_post/report/outcomes.py"
MSF = "loom_post/passes/merge_similar.py"
RC = "loom_post/passes/results_cache.py"
STORE = "loom_post/cache.py"
T_CACHE = "tests/test_cache.py"
T_NATIVE = "tests/test_native.py"
T_WARM = "tests/test_warm.py"
T_THIN = "tests/test_thin_validator.py"
T_READS = "tests/test_module_reads.py"

T_GATE = "tests/test_cse_gate.py"
T_RED = "tests/test_cse_redteam.py"
T_EXE = "tests/test_cse_execution.py"
T_EFF = "tests/test_effects_table.py"
T_CLI = "tests/test_optimize_cli.py"
T_FIO = "tests/test_fileio.py"
T_PIPE = "tests/test_pipeline_guards.py"
T_ROUTES = "tests/test_routes.py"
T_SOFT = "tests/test_soft_limits.py"
T_REF = "tests/test_baseline_ref.py"
T_GH = "tests/test_github_comment.py"
T_HIST = "tests/test_history.py"
COMP = "loom_post/wasm/component.py"
PCOMP = "loom_post/postlink_component.py"
CREW = "loom_post/component_rewrite.py"
T_CFMT = "tests/test_component_format.py"
T_CCMD = "tests/test_component_commands.py"
SYM = "loom_post/symbols.py"
BASE = "loom_post/budget/baseline.py"
FMT = "loom_post/report/formats.py"
SCH = "loom_post/budget/schema.py"
TERM = "loom_post/report/terminal.py"
T_TERM = "tests/test_terminal.py"
TREE = "loom_post/report/treemap.py"
HTML = "loom_post/report/html.py"
T_HTML = "tests/test_html_report.py"
T_NAMES = "tests/test_demangle.py"
T_MIS = "tests/test_config_mistakes.py"
T_COMP = "tests/test_compressed.py"
T_MSF = "tests/test_merge_similar.py"
BOD = "loom_post/passes/bodies.py"
T_BOD = "tests/test_bodies.py"
T_CODEC = "tests/test_codec_inline.py"
STK = "loom_post/wasm/stack_types.py"
T_STK = "tests/test_stack_types.py"


def k(files, expr):
    """Tests: the files, restricted to tests whose names match `expr`."""
    return list(files) + ["-k", expr]


# Left out as equivalent (no observable difference; each was tried):
# - cse `_MIN_COST = 3` -> 2: a 2-byte expression never beats a 2-byte local.get
#   (`current > ref` already refuses it); 3 -> 4 is kept instead.
# - cse `if current > ref` -> `>=`: a reuse saving 0 bytes changes no size.
# - cse `not self.reachable` where the scan records: dead code is never typed (its effects
#   are None), so nothing is recorded there; the flag is tested at scope ends.
# - cse's swallow protection (`live[a] - k <= 0` -> False): in every shape tried
#   the swallowed group keeps a live reuse inside the swallowing group's first
#   occurrence (greedy order takes the larger group first otherwise); no corpus
#   module's output changes without it.
# - effects `and "_sat" not in name`: no saturating operator contains ".trunc_f".
# - warm.registry-facts (one counter added in the registry): each pass reads its
#   facts there, so the change is the pass's own; reg.facts-* break the one source.
# The decoder's "runs past the end" checks have later checks behind them (the
# input is refused either way); the mutations are caught by the error message.

# (id, file, original, replacement, pytest arguments)
MUTATIONS = [
    # -- CSE cost gate: each term ---------------------------------------------
    ("cse.ref-size", CSE, "ref = size_u(sel.next_local) + 1", "ref = 2",
     k([T_GATE, T_EXE], "128 or index_past")),
    ("cse.decl-join-leb", CSE, "return size_u(count + 1) - size_u(count), True",
     "return 0, True", k([T_GATE], "crossing or borderline or joins")),
    ("cse.decl-new-group", CSE, "return (1 + len(encode_valtype(vtype))",
     "return (0 + len(encode_valtype(vtype))", k([T_GATE, T_EXE], "group")),
    ("cse.decl-group-count-leb", CSE,
     "+ size_u(len(groups) + 1) - size_u(len(groups))), False", "+ 0), False",
     k([T_GATE, T_RED], "past_127 or leb_boundary")),
    ("cse.saving-le-0", CSE, "if saving <= 0:", "if saving < 0:", [T_GATE]),
    ("cse.swallowed-savings", CSE, "current = cost - sum(self.shrink[s:e + 1])",
     "current = cost", [T_GATE]),
    ("cse.min-cost", CSE, "_MIN_COST = 3", "_MIN_COST = 4",
     k([T_GATE, T_EXE], "constants or three_byte")),
    # -- availability ------------------------------------------------------------
    ("cse.kill-local-set", CSE, "local_writes[ins[1]] = i", "local_writes[ins[1]] = -1",
     [T_RED, T_EXE]),
    ("cse.kill-global-set", CSE, "self.global_writes[imm] = i", "self.global_writes[imm] = -1",
     k([T_RED, T_EXE], "global or fm4")),
    ("cse.store-kills-loads", CSE,
     "if kind == _MEMW:\n            self.last_memory = i",
     "if kind == _MEMW:\n            pass", k([T_RED, T_EXE], "load")),
    ("cse.call-kills-loads", CSE, "self.last_call = self.last_memory = i", "self.last_call = i",
     k([T_RED, T_EXE], "load or call")),
    ("cse.call-kills-globals", CSE, "self.last_call = self.last_memory = i", "self.last_memory = i",
     k([T_RED, T_EXE], "global")),
    ("cse.valid-checks-locals", CSE, "if self.local_writes.get(x, -1) > pos:",
     "if self.local_writes.get(x, -1) > i:", [T_RED, T_EXE]),
    ("cse.loop-drops-locals", CSE, "for x in expr[3]:\n            best", "for x in ():\n            best",
     k([T_RED, T_EXE], "loop")),
    ("cse.loop-drops-globals", CSE, "for x in expr[4]:\n                best",
     "for x in ():\n                best", k([T_RED, T_EXE], "loop")),
    ("cse.loop-drops-loads", CSE, "if expr[5]:\n            best = min(best, _next(self.memory, pos))",
     "if False:\n            best = min(best, _next(self.memory, pos))", k([T_RED, T_EXE], "loop or load")),
    ("cse.loop-summary-memory", CSE, "elif kind == _MEMW:\n                self.memory.append(i)",
     "elif kind == _MEMW:\n                pass", k([T_RED, T_EXE], "loop or load")),
    ("cse.loop-kills-nothing", CSE, "end = self.writes.loop_end.get(head, _NEVER)", "end = -1",
     k([T_RED, T_EXE], "loop")),
    ("cse.loop-latest-end", CSE, "head = loops[bisect_right(loops, pos)]", "head = loops[-1]",
     k([T_RED], "loop")),
    ("cse.loop-forgets-closed", CSE, "del self.loops[self.open_loops:]",
     "self.loops[:0] = []", k([T_RED], "loop")),
    ("cse.scope-end-keeps-all", CSE, "while len(added) > start and added[-1][1] > cut:",
     "while False:", [T_RED, T_EXE]),
    ("cse.if-arm-forgets", CSE, "cut = 0  # an if arm, or a try body or handler",
     "cut = _ALL  # an if arm, or a try body or handler", [T_RED, T_EXE]),
    ("cse.else-forgets-then", CSE, "self.leave(self.scopes[-1], 0)",
     "self.leave(self.scopes[-1], _ALL)", [T_RED, T_EXE]),
    ("cse.block-cut-first-branch", CSE,
     'if target.cut is None and target.kind != _LOOP:', "if False:", [T_RED, T_EXE]),
    ("cse.try-table-catch-branches", CSE, "for _kind, _tag, label in imm[1]:",
     "for _kind, _tag, label in ():", [T_RED, T_EXE]),
    ("cse.br-unreachable", CSE, "if kind == _BR:\n", "if kind == _NOP:\n",
     k([T_RED], "unreachable or never_falls or left_by")),
    ("cse.reachable-loop-end", CSE, "cut = _ALL if self.reachable else 0", "cut = _ALL",
     k([T_RED], "unreachable or never_falls or left_by")),
    ("cse.reachable-block-end", CSE, "else (_ALL if self.reachable else 0)", "else _ALL",
     k([T_RED], "unreachable or never_falls or left_by")),
    ("cse.shared-memory-loads", CSE,
     "if a is None or a[1] != i or (kind == _LOAD and imm[1] in shared):",
     "if a is None or a[1] != i:", k([T_GATE, T_EXE], "shared")),
    ("cse.non-nullable-local", CSE, "if type(vtype) is tuple and vtype[0] == 0x64:",
     "if False:", k([T_EXE, T_RED], "nullable or select")),
    # -- stack typing: the fast paths of the main loop -----------------------------
    ("stk.unary-base", STK, "elif shape == _UNARY and len(stack) > height and stack[-1] == row[1]:",
     "elif shape == _UNARY and stack and stack[-1] == row[1]:", [T_STK]),
    ("stk.two-base", STK,
     "if len(stack) - height > 1 and stack[-1] == row[1] and stack[-2] == row[2]:",
     "if len(stack) > 1 and stack[-1] == row[1] and stack[-2] == row[2]:", [T_STK]),
    ("stk.two-second-operand", STK,
     "and stack[-1] == row[1] and stack[-2] == row[2]:\n                    del stack[-2:]",
     "and stack[-1] == row[1]:\n                    del stack[-2:]", [T_STK]),
    ("stk.two-pops-both", STK, "del stack[-2:]\n                    if row[3]",
     "del stack[-1:]\n                    if row[3]", [T_STK]),
    ("stk.store-pushes-nothing", STK,
     "if row[3] is not None:\n                        stack.append(row[3])",
     "if True:\n                        stack.append(row[3])", [T_STK]),
    ("stk.set-type", STK, "and stack[-1] == local_types[ins[1]]:", "and True:", [T_STK]),
    ("stk.set-base", STK, "and len(stack) > height and stack[-1] == local_types[ins[1]]:",
     "and stack and stack[-1] == local_types[ins[1]]:", [T_STK]),
    ("stk.tee-keeps", STK, "if info is local_set:\n                del stack[-1]",
     "if True:\n                del stack[-1]", [T_STK]),
    # -- the effect table and analysis -------------------------------------------
    ("ops.memory-size-pure", OPS, '(None, 0x3F, "memory.size", U32, ":i", OTHER)',
     '(None, 0x3F, "memory.size", U32, ":i", PURE)', [T_EFF, T_PIPE]),
    ("ops.load-pure", OPS, 'rows.append((None, 0x28 + k, name, MEMARG, "i:" + t, LOAD))',
     'rows.append((None, 0x28 + k, name, MEMARG, "i:" + t, PURE))', [T_EFF]),
    ("ops.memory-grow-other", OPS, '(None, 0x40, "memory.grow", U32, "i:i", MEMORY)',
     '(None, 0x40, "memory.grow", U32, "i:i", OTHER)', [T_EFF]),
    ("ops.call-other", OPS, '(None, 0x10, "call", U32, None, CALL)',
     '(None, 0x10, "call", U32, None, OTHER)', [T_EFF]),
    ("ops.atomic-load-as-load", OPS,
     'rows.append((FE, 0x10 + k, f"{ty}.atomic.load{w}{suffix}", MEMARG, "i:" + t, ATOMIC))',
     'rows.append((FE, 0x10 + k, f"{ty}.atomic.load{w}{suffix}", MEMARG, "i:" + t, LOAD))',
     [T_EFF]),
    ("eff.atomics-write-memory", EFF, "WRITES_MEMORY = frozenset((O.STORE, O.MEMORY, O.ATOMIC))",
     "WRITES_MEMORY = frozenset((O.STORE, O.MEMORY))", [T_EFF]),
    ("eff.float-trunc-traps", EFF, '_TRAPPING_PURE = (".div_", ".rem_", ".trunc_f")',
     '_TRAPPING_PURE = (".div_", ".rem_")', [T_EFF]),
    ("eff.memory-size-reads", EFF, 'reads_memory=name == "memory.size",', "", [T_EFF]),
    # -- the pipeline ---------------------------------------------------------------
    ("pipe.strictly-smaller", PIPE, "if not sizes or sizes[-1] >= old_entry:",
     "if not sizes or sizes[-1] > old_entry:", k([T_GATE], "strictly")),
    ("pipe.memory64-skip", PIPE, "if module.memory64():", "if False:", [T_PIPE]),
    ("pipe.wbindgen-names", PIPE, 'if n.startswith("__wbindgen_describe")]',
     'if n.startswith("__wbindgen_describe_nothing")]', k([T_GATE, T_EXE], "wbindgen")),
    ("pipe.wbindgen-callees", PIPE, 'if op.name in ("call", "return_call"))',
     "if op.name in ())", k([T_GATE, T_EXE], "wbindgen")),
    ("pipe.dwarf-dropped", PIPE,
     "if (result.functions_changed or result.code_offsets_changed) and not keep_dwarf:",
     "if False:", k([T_CLI], "dwarf")),
    ("pipe.dwarf-kept-on-request", PIPE,
     "if (result.functions_changed or result.code_offsets_changed) and not keep_dwarf:",
     "if (result.functions_changed or result.code_offsets_changed):", k([T_CLI], "dwarf")),
    ("pipe.reencoding-accounting", PIPE, "result.bytes_saved_by_reencoding += new_body[1]",
     "result.bytes_saved_by_reencoding += 0", [T_CLI, T_PIPE]),
    ("pipe.reencoding-reference", PIPE, "reencoding = old_entry - sizes[0]",
     "reencoding = old_entry - sizes[-1]", [T_CLI, T_PIPE]),
    # -- validation -----------------------------------------------------------------
    ("val.accept-everything", VAL,
     "def validate_output(data):\n",
     "def validate_output(data):\n    return read_module(data)\n",
     k([T_CLI, T_PIPE], "invalid")),
    ("val.output-unchecked", VAL, "    try:\n        validate(data)\n    except Exception as e:\n        raise OutputInvalid",
     "    try:\n        pass\n    except Exception as e:\n        raise OutputInvalid", k([T_CLI, T_PIPE], "invalid")),
    ("val.input-unchecked", VAL, "    try:\n        validate(data)\n    except Exception as e:\n        message",
     "    try:\n        pass\n    except Exception as e:\n        message",
     ["tests/test_validation_rule.py"]),
    # validation through wasmtime's library without its package (wasmtime_c.py)
    ("val.thin-error-ignored", WC, "        if error:\n            raise WasmtimeError(",
     "        if False:\n            raise WasmtimeError(", [T_THIN]),
    ("val.thin-setter-skipped", WC, "        for setter in setters:",
     "        for setter in setters[:-2]:", [T_THIN]),
    ("val.thin-error-not-freed", WC, "            self._error_delete(error)", "            pass",
     k([T_THIN], "freed")),
    ("val.thin-message-not-freed", WC, "                self._vec_delete(ctypes.byref(vec))",
     "                pass", k([T_THIN], "freed")),
    ("val.thin-engine-not-freed", WC, "            self._engine_delete(engine)", "            pass",
     k([T_THIN], "freed")),
    ("val.thin-layout-unchecked", WC, "        if defined != calls:\n            return None",
     "        if False:\n            return None", k([T_THIN], "falls_back")),
    ("val.thin-every-feature", WC, "        if defined:\n            chosen.append(name)",
     "        if True:\n            chosen.append(name)", k([T_THIN], "features")),
    ("val.thin-missing-symbol", WC, "    except (OSError, AttributeError):\n        return None",
     "    except OSError:\n        return None", k([T_THIN], "falls_back")),
    ("val.thin-not-bytes", WC, "        if not isinstance(data, (bytes, bytearray)):",
     "        if False:", k([T_THIN], "not_bytes")),
    ("val.thin-no-fallback", VAL, "    return _library or _package_validator()",
     "    return _library or None", k([T_THIN], "say_what")),
    ("val.thin-never-used", VAL, "        _library = _library_validator() or False",
     "        _library = False", k([T_THIN, T_WARM], "cold_run or imports_neither")),
    # -- files ---------------------------------------------------------------------------
    ("fio.lock-not-locking", "loom_post/locks.py", "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
     "fcntl.flock(fd, fcntl.LOCK_UN)", [T_FIO]),
    ("fio.mode-preserved", FIO, "    os.fchmod(fd, mode)  # after chown", "    pass  # after chown",
     [T_FIO]),
    ("fio.hard-links-repointed", FIO, "        for other in links:", "        for other in ():",
     k([T_CLI, T_FIO], "link")),
    ("cmd.require-baselines-first", "loom_post/commands/optimize.py",
     "    require_baselines(config, paths)  # before any module is rewritten", "    pass",
     ["tests/test_optimize_budget.py"]),
    ("cargo.passthrough", "loom_post/integrations/cargo.py",
     "if msg is None or user_wants_json:", "if user_wants_json:",
     k(["tests/test_cargo.py"], "program_output or compile_error")),
    # -- format layer ---------------------------------------------------------------
    ("leb.max-bytes", LEB, "max_bytes = (bits + 6) // 7", "max_bytes = (bits + 13) // 7",
     ["tests/test_leb128.py"]),
    ("leb.unsigned-padding", LEB, "elif extra:", "elif False:", ["tests/test_leb128.py"]),
    ("leb.signed-padding", LEB, "if extra != want:", "if False:", ["tests/test_leb128.py"]),
    ("leb.size-u-boundary", LEB, "while value >= 0x80:", "while value > 0x80:",
     ["tests/test_leb128.py"]),
    ("leb.encode-s-minimal", LEB,
     "(value == -1 and byte & 0x40):\n            out.append(byte)\n",
     "(value == -1 and byte & 0x40):\n            out.append(byte | 0x80)\n"
     "            out.append(0x7F if value < 0 else 0)\n", ["tests/test_leb128.py"]),
    ("leb.encode-u-minimal", LEB, "    if value < 0x80:\n        return bytes((value,))\n    out",
     "    if value < 0x80:\n        return bytes((value | 0x80, 0))\n    out",
     ["tests/test_leb128.py"]),
    ("dec.section-past-end", MOD, "if end > n:", "if end > n + 64:",
     ["tests/test_malformed.py"]),
    ("dec.body-past-end", MOD, "if body_end > end:", "if body_end > end + 64:",
     k(["tests/test_malformed.py"], "past")),
    ("dec.instr-past-end", INS, "if pos > end:\n                raise DecodeError(f\"{info.name}",
     "if pos > end + 64:\n                raise DecodeError(f\"{info.name}",
     k(["tests/test_malformed.py"], "past")),
    # -- configuration, units, gate ------------------------------------------------------
    ("cfg.unknown-top-key", CFG, "if key not in TOP_KEYS:", "if False:",
     ["tests/test_config.py"]),
    ("cfg.unknown-module-key", CFG, "if key not in MODULE_KEYS:", "if False:",
     ["tests/test_config.py"]),
    ("units.kB-decimal", UNI, '"kB": 1000, "KiB": 1024,', '"kB": 1024, "KiB": 1024,',
     ["tests/test_config.py"]),
    ("units.whole-bytes", UNI, "if amount != amount.to_integral_value():", "if False:",
     ["tests/test_config.py"]),
    ("units.percent-rounds-down", UNI, "to_integral_value(ROUND_FLOOR))",
     'to_integral_value("ROUND_CEILING"))', ["tests/test_config.py"]),
    ("units.negative-size", UNI, "if value < 0:\n            raise UnitError(\"a size cannot",
     "if False:\n            raise UnitError(\"a size cannot", ["tests/test_config.py"]),
    ("gate.limit-inclusive", GATE, "if self.actual <= self.limit or self.below_min_change:",
     "if self.actual < self.limit or self.below_min_change:",
     k(["tests/test_check.py"], "limit or max_code_size")),
    # -- configuration mistakes, globs, portability ---------------------------------------
    ("cfg.did-you-mean", CFG, 'hint = f" (did you mean `{close[0]}`?)" if close else ""',
     'hint = ""', [T_MIS]),
    ("cfg.near-tool-table", CFG, "    return [k for k in tool if k != TOOL_KEY",
     "    return [] and [k for k in tool if k != TOOL_KEY", [T_MIS]),
    ("cfg.paths-excludes", CFG, "if real in seen or matcher.excluded(config.module_key(match)):",
     "if real in seen:", [T_MIS]),
    ("cfg.ignore-hash", CFG, "return strip_hash(key) if self.baseline_ignore_hash else key",
     "return key", [T_MIS]),
    ("cfg.strict-key", CFG, 'setattr(config, key.replace("-", "_"), self.boolean(label, value))',
     "pass", [T_MIS]),
    ("lint.strict-fatal", LINT, "if found and (strict or config.strict):", "if False:", [T_MIS]),
    ("lint.no-config", LINT, "if not given and config.path is None:\n        found.append",
     "if False:\n        found.append", [T_MIS]),
    ("lint.paths-glob", LINT, "        if glob_files(config.root, pattern):\n            continue",
     "        if True:\n            continue", [T_MIS]),
    ("lint.cargo-underscore", LINT, 'out.append("[-_]" if c in "-_" and not in_class else c)',
     "out.append(c)", [T_MIS]),
    ("lint.module-rule", LINT, "if not keys or any(rule.matcher.matches(k) for k in keys):",
     "if True:", [T_MIS]),
    ("lint.near-file", LINT, '(stem in ("loom-post", "loompost") and ext in _NEAR_EXTS)',
     "False", [T_MIS]),
    ("lint.outside-project", LINT, "        for marker in (CONFIG_NAME, \"Cargo.toml\"):",
     "        for marker in ():", [T_MIS]),
    ("lint.shadowed-table", LINT, "if config.path == os.path.join(d, CONFIG_NAME) and",
     "if False and", [T_MIS]),
    ("lint.search-stop", LINT, '    if os.path.isfile(os.path.join(last, PYPROJECT)):\n        stop',
     '    if False:\n        stop', [T_MIS]),
    ("globs.excludes", GLOBS, "        return not self._hit(self.excludes, key)",
     "        return True", [T_MIS]),
    ("globs.braces", GLOBS, "return wglob, wglob.GLOBSTAR | wglob.BRACE",
     "return wglob, wglob.GLOBSTAR",
     [T_MIS]),
    ("globs.bad-class", GLOBS, "    _check_classes(pattern)\n", "\n",
     k(["tests/test_confinement.py"], "bad_glob")),
    ("locks.fcntl-optional", "loom_post/locks.py",
     "try:\n    import fcntl\nexcept ImportError:  # Windows\n    fcntl = None\n",
     "import fcntl\n", ["tests/test_portability.py"]),
    ("cli.sub-command-usage", "loom_post/cli.py",
     "owner = parser if extra[0] in before else parser.commands[args.command]", "owner = parser",
     ["tests/test_help.py"]),
    ("words.singular", "loom_post/words.py", "            words[i] = w[:-1]\n",
     "            pass\n", ["tests/test_help.py"]),
    ("report.functions-changed-plural", "loom_post/report/outcomes.py",
     """parts = [f"{plural(r.functions_changed, 'function')} changed"]""",
     """parts = [f"{r.functions_changed} functions changed"]""", ["tests/test_help.py"]),
    ("gate.bytes-plural", GATE, "verb = f\"grew by {plural(grew, 'byte')}\"",
     "verb = f\"grew by {grew} bytes\"", ["tests/test_help.py"]),
    ("gate.max-growth-applies", GATE,
     "        if sizes_before is not None and growth is not None:",
     "        if False:", ["tests/test_optimize_budget.py"]),
    # -- routes: one identity, profiles, first run, entry points ------------------------
    ("routes.deps-identity", LAYOUT, 'if parent == "deps":', "if False:",
     k([T_ROUTES], "artifact_path or uplifted_names")),
    ("routes.identity-used", "loom_post/postlink.py",
     "settings = config.settings_for(outcome.path)", "settings = config.settings_for(path)",
     k([T_ROUTES], "by_artifact_path")),
    ("routes.profiles-filter", LAYOUT,
     "return found is None or found in {profile_dir(p) for p in profiles}", "return True",
     k([T_ROUTES], "debug_builds")),
    ("routes.target-dir-env", LAYOUT, 'configured = environ.get("CARGO_TARGET_DIR")',
     "configured = None", k([T_ROUTES], "cargo_target_dir")),
    ("routes.keep-dwarf-key", "loom_post/postlink.py",
     "keep_dwarf = keep_dwarf or config.keep_dwarf", "keep_dwarf = keep_dwarf",
     k([T_ROUTES], "keep_dwarf_on_every_route")),
    ("routes.first-run-baseline", GATE, "if wanted and not base.exists and missing_ok:",
     "if False:", k([T_ROUTES], "first_run")),
    ("routes.missing-error", "loom_post/commands/check.py", 'if config.missing == "error":',
     "if False:", k(["tests/test_check.py"], "nothing_built")),
    ("routes.link-own-version", LINK, 'if argv in (["--version"], ["-V"]):', "if False:",
     k([T_ROUTES], "entry_points")),
    ("routes.link-args-sysroot", LINK, "return os.sep.join(parts[:-4]) or os.sep",
     "return None", k([T_ROUTES], "sysroot")),
    ("routes.watch-reload", "loom_post/integrations/watcher.py",
     "                self._reselect()\n", "", k([T_ROUTES], "reloads")),
    # -- soft limits, approvals, baseline-ref, PR comment, history ---------------------
    ("soft.warn-never-fails", GATE, 'if self.soft:\n            return "warn"',
     'if False:\n            return "warn"', [T_SOFT]),
    ("soft.warn-keys-read", CFG,
     "BUDGET_KEYS.update((k, measure_keys.attr(k)) for k in measure_keys.SOFT_KEYS)\n", "",
     k([T_SOFT], "table or units")),
    ("soft.min-change-applied", GATE,
     "result.below_min_change = verdict.below_min_change(measure)",
     "result.below_min_change = False", k([T_SOFT], "min_change")),
    ("soft.min-change-strict", GATE, "< allowance(self.min_change, base)",
     "<= allowance(self.min_change, base)", k([T_SOFT], "min_change")),
    ("approve.growth-only", APR, "if b.kind in BASELINE_KEYS:", "if True:",
     k([T_SOFT], "approv")),
    ("approve.status", GATE, 'return "approved" if self.approved else "fail"',
     'return "fail"', k([T_SOFT], "approv")),
    ("approve.env", APR, r'items += re.split(r"[,\n]", environ.get(ENV, ""))', "items += []",
     k([T_SOFT], "approv")),
    ("ref.merge-base", GBASE, 'out = _git(["merge-base", ref, "HEAD"], top, what)',
     'out = _git(["rev-parse", ref], top, what)', [T_REF]),
    ("ref.show-at-commit", GBASE, 'return _git(["show", f"{sha}:{rel}"], top, what)',
     'return open(os.path.join(top, rel), "rb").read()', [T_REF]),
    ("ref.diff-reads-git", "loom_post/commands/diff_ref.py", "    config.baseline_ref = ref\n",
     "", k([T_REF], "diff")),
    ("gh.update-in-place", GH, "    if existing is None:\n", "    if True:\n",
     k([T_GH], "updates")),
    ("gh.pagination", GH, "return doc, (link.group(1) if link else None)", "return doc, None",
     k([T_GH], "updates")),
    ("gh.never-fails-the-gate", GH, "    except NotPosted as e:\n        err.write",
     "    except ZeroDivisionError as e:\n        err.write", k([T_GH], "read_only")),
    ("gh.summary-always", GH, "        write_step_summary(markdown, environ)\n",
     "        pass\n", k([T_GH], "summary or read_only")),
    ("history.changes-only", HIST, "if not s.points or s.points[-1][1] != sizes:", "if True:",
     k([T_HIST], "json")),
    # -- components: the format layer and the rules before a rewrite ----------
    ("comp.layer-checked", COMP, "    if data[6:8] != COMPONENT_LAYER:", "    if False:",
     k([T_CFMT], "malformed")),
    ("comp.section-past-end", COMP, "        if pos + size > n:", "        if pos + size > n + 1:",
     k([T_CFMT], "malformed or prefix")),
    ("comp.unchanged-copied", COMP, "                parts.append(self.data[sec.start:sec.end])",
     "                parts.append(self.data[sec.start:sec.end - 1])",
     k([T_CFMT], "written_back")),
    ("comp.size-reencoded", COMP,
     "            parts.append(bytes([sec.id]) + encode_u(len(payload)) + payload)",
     "            parts.append(bytes([sec.id]) + encode_u(len(payload) + 1) + payload)",
     k([T_CFMT], "written_back")),
    ("comp.core-header", COMP, "        raise DecodeError(\"core module section does not hold",
     "        return  # DecodeError(\"core module section does not hold",
     k([T_CFMT], "malformed")),
    ("pcomp.input-validated", CREW, "        _check_input(path, data, validator)",
     "        pass", k([T_CCMD], "invalid_component")),
    ("pcomp.output-validated", CREW, "        validate(new)\n    except ComponentInvalid",
     "        len(new)\n    except ComponentInvalid", k([T_CCMD], "failing_validation")),
    ("pcomp.no-validator-no-rewrite", CREW, "    if not settings.optimize or not can_rewrite:",
     "    if not settings.optimize:", k([T_CCMD], "no_component_validator")),
    ("pcomp.whole-guard", CREW,
     "if measure != \"code\" and after.get(measure) > before.get(measure):",
     "if measure != \"code\" and after.get(measure) < before.get(measure):",
     k([T_CCMD], "whole_file_guard")),
    ("pcomp.module-names", PCOMP, "    if not name or counts.get(name, 0) > 1:",
     "    if True:", k([T_CCMD], "check_gates")),
    # -- names: demangling, matching across rebuilds, Markdown ------------------------
    ("names.match-ignores-hash", BASE, 'groups.setdefault(stable_key(_DUPLICATE.sub("", k)), [])',
     'groups.setdefault(k, [])', k([T_NAMES], "matching or rebuild")),
    ("names.generic-pairs-by-size", BASE, "            if same:\n", "            if False:\n",
     k([T_NAMES], "matching")),
    ("names.legacy-hash-dropped", SYM, "if parts and _HASH_RE.match(parts[-1]):", "if False:",
     k([T_NAMES], "legacy")),
    ("names.llvm-suffix-dropped", SYM, 'bare = _LLVM_SUFFIX.sub("", name)', "bare = name",
     k([T_NAMES], "legacy or v0")),
    ("names.v0-closure", SYM, '{kind}{\':\' + name if name else \'\'}#{dis}',
     '{kind}:{name}#{dis}', k([T_NAMES], "v0")),
    ("names.export-fallback", BASE, 'if kind == "func" and index not in names:', "if False:",
     k([T_NAMES], "export")),
    ("schema.closed-tables", SCH, '        "additionalProperties": False,\n        "properties": top,',
     '        "additionalProperties": True,\n        "properties": top,', ["tests/test_schema.py"]),
    ("schema.units-from-table", SCH, 'SIZE_PATTERN = rf"^\\s*{_NUMBER}\\s*{_UNIT}?\\s*$"',
     'SIZE_PATTERN = rf"^\\s*{_NUMBER}\\s*[A-Za-z%]*\\s*$"', ["tests/test_schema.py"]),
    ("schema.baseline-dependency", SCH, '"dependencies": {k: ["baseline"]', '"x": {k: ["baseline"]',
     ["tests/test_schema.py"]),
    ("term.no-color", TERM, 'if env.get("NO_COLOR"):', "if False:", [T_TERM]),
    ("term.force-color-zero", TERM, 'return force.lower() not in ("0", "false")', "return True",
     [T_TERM]),
    ("term.pipe-no-colour", TERM, "return stream.isatty()", "return True", [T_TERM]),
    ("term.quiet", TERM, "if quiet(args) and not failed:", "if False:", [T_TERM]),
    ("term.progress-tty-only", TERM, "self.enabled = tty and not quiet(args)",
     "self.enabled = not quiet(args)", [T_TERM]),
    ("term.progress-delay", TERM, "time.monotonic() - self.start < self.delay", "False",
     [T_TERM]),
    ("html.escape-names", TREE, "<title>{escape(label)}: {size} B</title>",
     "<title>{label}: {size} B</title>", [T_HTML]),
    ("html.treemap-tiles", TREE, "        if w >= h:\n            x, w = x + thick, w - thick",
     "        if w < h:\n            x, w = x + thick, w - thick", k([T_HTML], "squarify")),
    ("html.script-runs", HTML, "document.body.setAttribute('data-rectangles'",
     "document.body.setAttribute('data-nothing'", k([T_HTML], "chromium")),
    ("html.diff-since-baseline", HTML, "changes = compare_functions(v.baseline_functions, functions)",
     "changes = compare_functions({}, functions)", k([T_HTML], "complete")),
    ("names.markdown-escape", FMT, "_MD_ENTITIES.get(ch) or", "None or",
     k([T_NAMES], "markdown")),
    # -- the never-grow guard: exact final decision, deferral, optimize-for -------
    ("guard.confirm-exact", GUARD,
     '        self.pending = False\n        return self._measure(out, "brotli") <= self.limit("brotli")',
     "        self.pending = False\n        return True",
     k([T_COMP], "deferred or starts_over")),
    ("guard.careful-rerun", PIPE, "if guard is not None and not guard.confirm(",
     "if False and not guard.confirm(", k([T_COMP], "starts_over")),
    ("guard.gzip-checked", GUARD,
     'or self._measure(out, "gzip") <= self.limit("gzip")', "or True",
     k([T_COMP], "grows_gzip or optimize_for")),
    ("guard.brotli-deferred", GUARD,
     'self.deferred = deferred and "brotli" in self.measures', "self.deferred = False and True",
     k([T_COMP], "deferred")),
    ("guard.measured-once", GUARD, "        if measure not in sizes:\n",
     "        if True:\n", k([T_COMP], "once")),
    ("guard.optimize-for-code-first", GUARD, '        if guard.prefer == "code":\n            return keep',
     "        if True:\n            return keep", k([T_COMP], "optimize_for")),
    ("guard.optimize-for-not-worse-than-none", GUARD,
     "if best is None or best[0] > guard.preferred(build([])):", "if best is None:",
     k([T_COMP], "optimize_for")),
    ("guard.optimize-for-smallest", GUARD, "if best is None or score < best[0]:",
     "if best is None or score > best[0]:", k([T_COMP], "optimize_for")),
    ("guard.optimize-for-module-pass", PIPE, 'return guard.prefer == "code" or (guard.preferred(out)',
     "return True or (guard.preferred(out)", k([T_COMP], "module_pass")),
    # -- the guard's reference: the input without its stale DWARF ---------------------
    ("guard.reference-stripped", PIPE, "reference=stripped if use else None)", "reference=None)",
     k([T_COMP], "stripped or dwarf")),
    ("guard.reference-keep-dwarf", PIPE, "stripped = _candidate(module, True, keep_dwarf)",
     "stripped = _candidate(module, True, False)", k([T_COMP], "keep_dwarf")),
    ("guard.reference-dwarf-min", PIPE, "use = len(data) - len(stripped) >= guard_mod.DWARF_MIN",
     "use = len(data) - len(stripped) >= 0", k([T_COMP], "little_dwarf")),
    ("guard.limit-input-too", GUARD, "return min(self.before[measure], self.reference_sizes[measure])",
     "return self.reference_sizes[measure]", k([T_COMP], "limits")),
    ("guard.brotli-of-reference", GUARD, "_Background(brotli_size, self.reference)",
     "_Background(brotli_size, self.data)", k([T_COMP], "limits or stripped")),
    ("guard.none-kept-is-the-reference", PIPE,
     "return _candidate(module, True, keep_dwarf)   # none kept: the reference",
     "return _candidate(module, bool(keep) or bool(fixed), keep_dwarf)",
     k([T_COMP], "compares_with_the_stripped")),
    ("guard.cached-reference", RUN, "for m, size in result.guard_reference.items():",
     "for m, size in {}.items():", k([T_COMP], "cached")),
    ("guard.report-labelled", OUTC, 'before, of = r.guard_reference[m], f" ({STRIPPED})"',
     'before, of = r.guard_reference[m], ""', k([T_COMP], "reports_say")),
    ("guard.report-json-reference", OUTC, "    if r.guard_reference:   # what the guard",
     "    if False:   # what the guard", k([T_COMP], "reports_say")),
    # -- the guard's middle step (compact alone) and its per-step brotli cap ------------
    ("guard.compact-middle-step", PIPE,
     "compacted = _compacted(module, [pos for pos in replaced if pos not in full], reencoder,\n",
     "compacted = {} and (None,\n", k([T_COMP], "compact_alone")),
    ("guard.compact-only-with-compact", PIPE, "    if not positions or reencoder is None:",
     "    if not positions:", k([T_COMP], "compact_alone")),
    ("guard.compact-confirmed", PIPE, "        if pos in compact:\n            module.replace_body(",
     "        if pos in compacted:\n            module.replace_body(",
     k([T_COMP], "compact_alone or grows_gzip")),
    ("guard.compact-credited", PIPE, "    result.passes[reencoder].add(stats)",
     "    pass", k([T_COMP], "compact_alone")),
    ("guard.retry-full-over-compact", PIPE, "    if compact:\n        full, compact = _retry_full(",
     "    if False:\n        full, compact = _retry_full(", k([T_COMP], "second_run")),
    ("guard.retry-until-none", PIPE, "        if not more:\n            break\n        full = full | more",
     "        break\n        full = full | more", k([T_COMP], "second_run")),
    ("guard.brotli-cap-per-step", GUARD, "guard.brotli_runs - runs >= BROTLI_ATTEMPTS",
     "guard.brotli_runs >= BROTLI_ATTEMPTS", k([T_COMP], "careful_steps")),
    ("guard.not-worth-per-step", GUARD, "guard.not_worth, runs = False, guard.brotli_runs",
     "runs = guard.brotli_runs", k([T_COMP], "careful_steps")),
    # -- merge-similar-functions ---------------------------------------------------------
    ("msf.pays", MSF, "return after < before", "return after <= before + 1", k([T_MSF], "not raw")),
    ("msf.type-cost", MSF, "fixed += size_u(shared_type) + type_cost", "fixed += size_u(shared_type)",
     k([T_MSF], "not raw")),
    ("msf.function-entry-cost", MSF, "fixed += size_u(shared_type) + type_cost", "fixed += type_cost",
     k([T_MSF], "not raw")),
    ("msf.thunk-cost", MSF, "fixed = sum(_entry(t) for t in thunks.values())",
     "fixed = sum(len(t) for t in thunks.values())", k([T_MSF], "not raw")),
    ("msf.locals-shifted", MSF, "edits += [(s, e, encode_u(imm + m))", "edits += [(s, e, encode_u(imm))",
     k([T_MSF], "not raw")),
    ("msf.first-local", MSF, "if info in rows and imm >= n_params]",
     "if info in rows and imm > n_params]", k([T_MSF], "not raw")),
    ("msf.differing-all", MSF, "if all(m.value(j) == first.value(j) for m in members[1:]):",
     "if any(m.value(j) == first.value(j) for m in members[1:]):", k([T_MSF], "not raw")),
    ("msf.equal-constants-share", MSF, "if values not in param_of:", "if True:", k([T_MSF], "not raw")),
    ("msf.minimal-measure", MSF, "sum(_entry_len(m.minimal_size()) for m in members), fixed + shared_min)",
     "sum(_entry_len(m.minimal_size()) for m in members) + 10 ** 9, fixed + shared_min)",
     k([T_MSF], "not raw")),
    ("msf.protected", MSF, "        if index in protected:\n            continue\n        decoded",
     "        if False:\n            continue\n        decoded", k([T_MSF], "protected")),
    ("msf.understood", MSF, "return (module.code and funcindex.understood(module)",
     "return (module.code", k([T_MSF], "linking")),
    ("msf.wasm-bindgen-input", MSF, "and not module.custom_sections(_WBINDGEN))", ")",
     k([T_MSF], "wasm_bindgen")),
    ("msf.shared-body-reused", MSF, "index = bodies.get((sig, body))", "index = None",
     k([T_MSF], "not raw")),
    ("msf.existing-function-reused", MSF, "plan = _plan(module, groups, _existing(module, protected))",
     "plan = _plan(module, groups)", k([T_MSF], "not raw")),
    ("msf.existing-not-protected", MSF, "        if index in protected:\n            continue\n        t = ",
     "        if False:\n            continue\n        t = ", k([T_MSF], "not raw")),
    ("msf.type-reused", MSF, "        if _signature(*t) == sig:\n            return i, 0",
     "        if False:\n            return i, 0", k([T_MSF], "reused")),
    # only functions alike in signature, instruction count and locals are shaped
    # (module-passes)
    ("msf.candidates-only", MSF, "return [pos for pos, bucket in where if seen[bucket] > 1]",
     "return [pos for pos, _bucket in where]", k([T_MSF], "alike")),
    ("msf.candidates-pairs", MSF, "return [pos for pos, bucket in where if seen[bucket] > 1]",
     "return [pos for pos, bucket in where if seen[bucket] > 2]", k([T_MSF], "alike")),
    ("msf.candidates-implied-only", MSF,
     "declared = module.data[start:start + decoded.code_start - decoded.start]",
     "declared = module.data[start:module.code[pos].end]", k([T_MSF], "alike")),
    # -- the run's shared store of decoded bodies: each body decoded once -------
    ("bodies.keyed-lookup", BOD, "found = self._by_bytes.get(data)", "found = None",
     [T_BOD]),
    ("bodies.function-phase", PIPE, "body = bodies.of_bytes(data)",
     "body = Bodies().of_bytes(data)", [T_BOD]),
    ("bodies.workers-share", PIPE, "initargs=((module, passes, contexts, bodies),",
     "initargs=((module, passes, contexts, Bodies()),", [T_BOD]),
    ("bodies.module-pass", PIPE, "p.run_module(work, protected, stats, bodies)",
     "p.run_module(work, protected, stats, None)", [T_BOD]),
    ("bodies.msf-reads-store", MSF, "bodies = Bodies() if bodies is None else bodies",
     "bodies = Bodies()", [T_BOD]),
    ("bodies.renumber-reads-store", "loom_post/passes/renumber.py",
     "funcindex.spans(module, pos, bodies) for", "funcindex.spans(module, pos) for",
     [T_BOD]),
    ("bodies.new-references-noted", PIPE, "bodies.note_references(new_body[0], new_body[2])",
     "pass", [T_BOD]),
    ("bodies.known-references-read", "loom_post/passes/funcindex.py",
     "found = None if bodies is None else bodies.known_references(data)", "found = None",
     [T_BOD]),
    ("bodies.minimal-u32", INS, "if minimal and data[pos - 1] == 0:  # a u32 ending", "if False:",
     [T_BOD]),
    ("bodies.minimal-s32-negative", INS, "if (last == 0 and not sign) or (last == 0x7F and sign):",
     "if last == 0 and not sign:", [T_BOD]),
    ("bodies.minimal-memarg", INS,
     "if minimal and pos - begin != 2 and pos - begin != len(_encode_memarg(imm)):",
     "if False:", [T_BOD]),
    ("bodies.minimal-prefix", INS, "if minimal and pos - start != len(info.opcode_bytes):", "if False:",
     [T_BOD]),
    ("bodies.minimal-blocktype", INS,
     "if minimal and pos - begin != len(_encode_blocktype(imm)):", "if False:", [T_BOD]),
    ("bodies.minimal-other-kinds", INS,
     "if minimal and kind in _LEB_KINDS and pos - begin != len(encode_imm(info, imm)):", "if False:",
     [T_BOD]),
    ("bodies.minimal-locals", INS,
     "minimal = minimal and code_start - start == len(encode_locals(groups))",
     "minimal = minimal", [T_BOD]),
    # the decoder's and encoder's inline two-byte LEB128 paths (typed-codec)
    ("codec.u32-two-bytes", INS, "elif pos + 1 < n and data[pos + 1] < 0x80:  # two bytes: any u14",
     "elif pos + 1 < n:  # two bytes: any u14", [T_BOD, T_CODEC]),
    ("codec.u32-two-bytes-bound", INS, "elif pos + 1 < n and data[pos + 1] < 0x80:  # two bytes: any u14",
     "elif pos + 1 <= n and data[pos + 1] < 0x80:  # two bytes: any u14", [T_BOD, T_CODEC]),
    ("codec.u32-two-bytes-padded", INS, "if minimal and imm < 0x80:  # a second byte 0x00",
     "if False:", [T_BOD, T_CODEC]),
    ("codec.s32-two-bytes", INS, "elif pos + 1 < n and data[pos + 1] < 0x80:  # two bytes: any s14",
     "elif pos + 1 < n:  # two bytes: any s14", [T_BOD, T_CODEC]),
    ("codec.s32-two-bytes-sign", INS, "imm -= 0x4000", "imm -= 0", [T_BOD, T_CODEC]),
    ("codec.s32-two-bytes-padded", INS,
     "if minimal and (last == 0 and not b & 0x40 or last == 0x7F and b & 0x40):",
     "if minimal and last == 0 and not b & 0x40:", [T_BOD, T_CODEC]),
    ("codec.memarg-offset-two-bytes", INS, "if pos + 1 < len(data) and data[pos + 1] < 0x80:",
     "if pos + 1 <= len(data) and data[pos + 1] < 0x80:", [T_BOD, T_CODEC]),
    ("codec.encode-u-two-bytes", INS, "elif imm < 0x4000:", "elif imm < 0x8000:", [T_CODEC]),
    ("codec.encode-s-two-bytes", INS, "-0x2000 <= imm < 0x2000:", "-0x2000 <= imm < 0x4000:",
     [T_CODEC]),
    ("codec.encode-memarg-memory", INS, "imm[0] < 0x80 and not imm[1] and imm[2] < 0x4000:",
     "imm[0] < 0x80 and imm[2] < 0x4000:", [T_CODEC]),
    ("codec.encode-memarg-two-bytes", INS, "imm[0] < 0x80 and not imm[1] and imm[2] < 0x4000:",
     "imm[0] < 0x80 and not imm[1] and imm[2] < 0x8000:", [T_CODEC]),
    ("codec.encode-blocktype", INS, "elif kind == 7 and (imm is None or type(imm) is int):",
     "elif kind == 7 and (imm is None or type(imm) is not str):", [T_CODEC]),
    ("codec.encode-marks", INS, "marks.append((at, len(out), imm))", "marks.append((at, at + 1, imm))",
     [T_CODEC]),
    # a rewrite of a minimal body copies the original's own tuples (function-phase)
    ("reuse.identity", INS, "if j < n and orig[j] is ins:", "if j < n and orig[j][2] == ins[2]:",
     [T_CODEC]),
    ("reuse.flush-resets", INS, "        run_start = run_end = 0\n        fresh.append(ins)",
     "        fresh.append(ins)", [T_CODEC]),
    ("reuse.fresh-first", INS, "if fresh:           # written first", "if False:  # written first",
     [T_CODEC]),
    ("reuse.copied-marks", INS, "if firsts[data[s]] and ins[0] in marked:", "if False:", [T_CODEC]),
    ("reuse.mark-offset", INS, "len(out) + (s - run_start) + len(ins[0].opcode_bytes),",
     "len(out) + (s - run_start),", [T_CODEC]),
    # shared offsets and constants held by reference (cold-alloc)
    ("alloc.offsets-bound", INS, "after = offsets[pos] if pos < shared else pos",
     "after = offsets[pos]", [T_CODEC]),
    ("alloc.offsets-cover-end", INS, "min(end + 1, _SHARED_OFFSETS)", "min(end, _SHARED_OFFSETS)",
     [T_CODEC]),
    ("alloc.offsets-final-end", INS, "append((info, None, at, offsets[pos] if pos < shared else pos))",
     "append((info, None, at, pos))", [T_CODEC]),
    ("alloc.offsets-bodies-only", INS, "offsets = _OFFSETS    # grown by decode_body only",
     "offsets = _offsets(end)", [T_CODEC]),
    ("alloc.offsets-limit", INS, "range(have, min(end + 1, _SHARED_OFFSETS))", "range(have, end + 1)",
     [T_CODEC]),
    ("alloc.msf-consts-shared", MSF, "self.consts = [ins for ins in",
     "self.consts = [tuple(list(ins)) for ins in", k([T_MSF], "shapes_hold")),
    ("bodies.minimal-trusted-only", PIPE, "same = (data, None) if body.minimal else None",
     "same = (data, None)", ["tests/test_compact.py"]),
    ("bodies.dedupe-reads-store", "loom_post/passes/dedupe.py",
     "funcindex.references(module, pos, bodies) for", "funcindex.references(module, pos) for",
     [T_BOD]),
    # -- the result cache: key components, damaged entries, validation, LRU ----
    ("cache.key-sources", RC, "parts += [os.path.join(sub, name), f.read()]",
     "parts += [os.path.join(sub, name)]", [T_CACHE]),
    ("cache.key-never-grow", RC,
     "json.dumps([list(pass_names), sorted(never_grow), bool(keep_dwarf),",
     "json.dumps([list(pass_names), bool(keep_dwarf),", [T_CACHE]),
    ("cache.key-optimize-for", RC, "bool(keep_dwarf),\n                              optimize_for]",
     "bool(keep_dwarf)]", [T_CACHE]),
    ("cache.key-context-memories", RC,
     "module.globals, module.memories, module.tables, module.tags",
     "module.globals, module.tables, module.tags", [T_CACHE]),
    ("cache.key-function-type", RC,
     "h = hashlib.sha256(repr(module.func_type(module.func_index(pos))).encode())",
     "h = hashlib.sha256()", [T_CACHE]),
    ("cache.key-context-in-pack", RC,
     '"functions", ",".join(pass_names), module_context(module))',
     '"functions", ",".join(pass_names))', [T_CACHE]),
    ("cache.checksum", STORE,
     "if not raw.startswith(MAGIC) or _sha256(payload, digests) != raw[len(MAGIC):_HEAD]:",
     "if not raw.startswith(MAGIC):", [T_CACHE]),
    ("cache.lru-touch", STORE, "os.utime(path)  # a hit is a use", "pass  # a hit is a use",
     [T_CACHE]),
    ("cache.output-digest", RC,
     'if out is None or self.digests.sha256(out).hex() != out_digest:',
     "if out is None:", [T_CACHE]),
    ("cache.entry-key", RC, 'if not isinstance(figures, dict) or figures.get("key") != key:',
     "if not isinstance(figures, dict):", [T_CACHE]),
    ("cache.own-key", RC, 'return self.store.get("own", key) == key.encode()',
     'return self.store.get("own", key) is not None', [T_CACHE]),
    ("cache.key-validator", RC, "digest(version or code_version(), validator_version(),",
     "digest(version or code_version(),", [T_CACHE]),
    # -- warm runs: what a hit skips, and the sizes cache ---------------------------
    ("warm.figures-restored", RUN, '"dwarf_dropped", "notes", "functions_reverted",',
     '"dwarf_dropped", "notes",', [T_WARM]),
    ("warm.counters-in-order", RUN,
     "stats.counters.update((str(k), int(v)) for k, v in counters.items())",
     "stats.counters = {str(k): int(v) for k, v in counters.items()}", [T_WARM]),
    ("warm.no-validator-on-hit", RUN, "new_module = read_module(out, lazy=True)",
     "from loom_post.passes.validate import validate_output\n"
     "        new_module = validate_output(out)", [T_WARM]),
    # Reading modules no more than needed (issue 16, module-reads)
    ("reads.hit-eager-output", RUN, "new_module = read_module(out, lazy=True)",
     "new_module = read_module(out)", [T_WARM, T_READS]),
    ("reads.hit-eager-input", "loom_post/postlink.py",
     "lazy=settings.optimize and store is not None)", "lazy=False)", [T_WARM, T_READS]),
    ("reads.miss-unparsed", RUN,
     "_parsed(module), chosen, keep_dwarf, jobs, never_grow,\n                                   optimize_for, rc)",
     "module, chosen, keep_dwarf, jobs, never_grow,\n                                   optimize_for, rc)",
     [T_READS, "tests/test_malformed.py"]),
    ("reads.lazy-parses-now", MOD, "    if lazy:\n        for _sec", "    if False:\n        for _sec",
     [T_READS]),
    ("reads.decoder-imported", MOD, "decode_instrs = read_valtype = None\n",
     "from loom_post.wasm.instructions import decode_instrs, read_valtype\n", [T_WARM]),
    ("reads.output-digests", RC, 'self.store.get("output", out_digest, self.digests)',
     'self.store.get("output", out_digest)', [T_WARM]),
    ("warm.lazy-github", "loom_post/commands/check.py",
     "from loom_post.cache import measure_sizes, open_store\n",
     "from loom_post.cache import measure_sizes, open_store\n"
     "from loom_post.integrations.github import publish  # noqa\n", [T_WARM]),
    ("warm.lazy-wcmatch", GLOBS, "import os\nimport re\n",
     "import os\nimport re\nimport wcmatch.glob  # noqa\n", [T_WARM]),
    ("warm.lazy-component-rewrite", "loom_post/postlink.py", "from loom_post import exitcodes\n",
     "from loom_post import exitcodes\nimport loom_post.component_rewrite  # noqa\n", [T_WARM]),
    ("warm.no-secrets", "loom_post/tempfiles.py", "import re\nimport time\n",
     "import re\nimport secrets  # noqa\nimport time\n", [T_WARM]),
    ("warm.check-uses-sizes", "loom_post/commands/check.py", "store = open_store(config)  #",
     "store = None  #", [T_WARM]),
    ("warm.sizes-key-compressors", STORE, 'zlib.ZLIB_RUNTIME_VERSION, installed("brotli"),',
     "", [T_WARM]),
    ("warm.sizes-entry-typed", STORE, "if isinstance(known.get(m), int):", "if m in known:",
     [T_WARM]),
    # -- warm runs, third round: what a hit imports, hashes and collects ------------
    ("warm.lazy-pass-modules", "loom_post/passes/__init__.py", "import importlib\n",
     "import importlib\nfrom loom_post.passes import cse  # noqa\n", [T_WARM]),
    ("warm.registry-keeps", "loom_post/passes/__init__.py", "self.__dict__[attr] = value",
     "pass", ["tests/test_passes_registry.py"]),
    ("warm.registry-private", "loom_post/passes/__init__.py", 'if attr.startswith("_"):',
     "if False:", ["tests/test_passes_registry.py"]),
    ("warm.lazy-check", "loom_post/commands/optimize.py", "from loom_post.errors import ConfigError\n",
     "from loom_post.errors import ConfigError\nimport loom_post.commands.check  # noqa\n",
     [T_WARM]),
    ("warm.lazy-difflib", CFG, "import copy\nimport os\n", "import copy\nimport difflib  # noqa\nimport os\n",
     [T_WARM]),
    ("warm.lazy-decimal", UNI, "import re\n", "import decimal  # noqa\nimport re\n", [T_WARM]),
    ("warm.lazy-baseline", GATE, "from loom_post.budget.measures import",
     "import loom_post.budget.baseline  # noqa\nfrom loom_post.budget.measures import", [T_WARM]),
    ("warm.similar-bound", CFG, "if 2 * min(len(a), len(b)) < cutoff * (len(a) + len(b)):",
     "if 2 * min(len(a), len(b)) < (cutoff + 0.05) * (len(a) + len(b)):", [T_MIS]),
    ("warm.near-file-is-a-file", LINT, "if near and os.path.isfile(os.path.join(d, name)):",
     "if near:", [T_MIS]),
    ("warm.digest-bytes-only", STORE, "if type(data) is bytes:", "if True:", [T_CACHE]),
    # -- warm runs, fourth round: a hit without the pipeline; per-run digests --------
    ("warm.hit-without-pipeline", RUN, "from loom_post.passes import resolve, results_cache\n",
     "from loom_post.passes import resolve, results_cache\n"
     "from loom_post.passes.pipeline import run  # noqa\n", [T_WARM]),
    ("warm.stats-without-stack-typing", RC, "from loom_post.passes.result import PassStats\n",
     "from loom_post.passes.base import PassStats\n", [T_WARM]),
    ("warm.never-grow-without-guard", "loom_post/commands/optimize.py",
     "    from loom_post.sizes import guarded_measures, parse_measures\n",
     "    from loom_post.sizes import guarded_measures, parse_measures\n"
     "    import loom_post.passes.guard  # noqa\n", [T_WARM]),
    ("warm.digests-per-run", "loom_post/postlink.py", "digests = Digests()   # this run's",
     'digests = optimize_one.__dict__.setdefault("d", Digests())  #', [T_WARM]),
    ("warm.digests-to-sizes", "loom_post/postlink.py", "first_run, store, digests)",
     "first_run, store)", [T_WARM]),
    ("warm.digests-to-results-cache", RUN, "optimize_for=optimize_for, digests=digests)",
     "optimize_for=optimize_for)", [T_WARM]),
    ("warm.digests-results-cache-uses", RC,
     "self.digests = digests if digests is not None else Digests()",
     "self.digests = Digests()", [T_WARM]),
    ("warm.digests-remember", STORE, "            self._known[id(data)] = (data, d)\n",
     "            pass\n", [T_CACHE, T_WARM]),
    ("warm.freeze", "loom_post/cli.py", "        gc.freeze()\n", "", [T_WARM]),
    ("warm.freeze-program-only", "loom_post/cli.py", "if not program or not gc.isenabled():",
     "if not gc.isenabled():", [T_WARM]),
    ("warm.engine-released", VAL, "        atexit.register(_release_engine)\n", "", [T_WARM]),
    ("warm.opcode-signature", OPS, "pops = tuple(map(VALTYPE_OF_LETTER.__getitem__, params))",
     "pops = tuple(map(VALTYPE_OF_LETTER.__getitem__, results))", ["tests/test_stack_types.py"]),
    # -- start-up and -j --------------------------------------------------------
    ("speed.lazy-commands", "loom_post/cli.py", "parser = build_parser(argv[0] if argv else None)",
     "parser = build_parser()", ["tests/test_speed.py"]),
    ("speed.lazy-pass-registry", CFG, "from loom_post.errors import ConfigError\n",
     "from loom_post.errors import ConfigError\nfrom loom_post.passes import resolve  # noqa\n",
     ["tests/test_speed.py"]),
    ("speed.lazy-toml", CFG, "def _tomllib():", "import tomllib\n\n\ndef _tomllib():",
     ["tests/test_speed.py"]),
    ("speed.jobs-load", "loom_post/postlink.py", "return max(1, min(cpus, round(cpus - load)))",
     "return max(1, cpus)", ["tests/test_speed.py"]),
    # -- one source: a pass's facts are the registry's, cse's openers effects' ----
    ("reg.facts-zero-sets", "loom_post/passes/zero_sets.py", "= facts(__name__)\n",
     '= facts(__name__)\n    counters = ("sets_removed",)\n', ["tests/test_passes_registry.py"]),
    ("reg.facts-renumber", "loom_post/passes/renumber.py", "= facts(__name__)\n",
     '= facts(__name__)\n    summary = "give the most referenced functions the shortest indices"\n',
     ["tests/test_passes_registry.py"]),
    ("reg.facts-compact", "loom_post/passes/compact.py", "= facts(__name__)\n",
     "= facts(__name__)\n    default = True\n", ["tests/test_passes_registry.py"]),
    ("reg.facts-cse", CSE, "= facts(__name__)\n", '= facts(__name__)\n    name = "cse"\n',
     ["tests/test_passes_registry.py"]),
    ("reg.facts-lookup", "loom_post/passes/__init__.py", "_FACTS = {entry[0]: entry[1:]",
     "_FACTS = {entry[0]: entry[1:3] + (entry[3][:1], entry[4])",
     ["tests/test_passes_registry.py"]),
    ("reg.openers-checked", CSE, "if _OPENER_KINDS.keys() != E.OPENERS:", "if False:",
     k([T_EFF], "openers")),
    ("reg.openers-cse-only", CSE, '"try_table": _TRY_TABLE}', '"try_table": _TRY_TABLE, "else": _ARM}',
     k([T_EFF], "openers")),
    # -- redundant-zero-sets ---------------------------------------------------------
    ("zsets.params-kept", "loom_post/passes/zero_sets.py", "x >= num_params and", "x >= 0 and",
     ["tests/test_zero_sets.py"]),
    ("zsets.earlier-write", "loom_post/passes/zero_sets.py", "and x not in written", "",
     ["tests/test_zero_sets.py"]),
    ("zsets.loops", "loom_post/passes/zero_sets.py", "and not in_loops and", "and",
     ["tests/test_zero_sets.py"]),
    ("zsets.zero-only", "loom_post/passes/zero_sets.py", "and instrs[i - 1][1] == 0 and", "and",
     ["tests/test_zero_sets.py"]),
    ("zsets.after-a-constant", "loom_post/passes/zero_sets.py",
     "kind == _SET and prev == _ZERO_CONST and", "kind == _SET and", ["tests/test_zero_sets.py"]),
    ("zsets.tee-is-a-write", "loom_post/passes/zero_sets.py", '"local.tee": _TEE,',
     '"local.tee": _SET,', ["tests/test_zero_sets.py"]),
    # -- the compiled build: loaded only while it matches its sources ---------
    ("native.digest", NATIVE, "if entry.get(\"sha256\") != source_digest(pkg_dir, name):",
     "if False:", [T_NATIVE]),
    ("native.pxd-in-digest", NATIVE, 'for p in (base + ".py", base + ".pxd")',
     'for p in (base + ".py",)', [T_NATIVE]),
    ("native.own-tag", NATIVE, "EXTENSION_SUFFIXES[0])", "EXTENSION_SUFFIXES[-1])", [T_NATIVE]),
    ("native.pure-switch", NATIVE, 'return environ.get(PURE_ENV, "") not in ("", "0")',
     "return False", [T_NATIVE]),
    ("native.fallback-recorded", NATIVE, 'self.loaded[spec.name] = "python"', "pass", [T_NATIVE]),
    ("native.stale-named", NATIVE, 'if state["stale"]:\n        line +=',
     'if False:\n        line +=', [T_NATIVE]),
    ("native.action-skips-compile", "hooks/github-action/action.yml",
     'LOOM_POST_NO_COMPILE: "1"', 'LOOM_POST_NO_COMPILE: ""',
     k(["tests/test_ci_template.py"], "real_install")),
    # red-team (nativert): a reload, and setup.py's rebuilds after edits
    ("native.reload", NATIVE,
     "self.active = importlib.machinery.ExtensionFileLoader(name, ext_path)\n\n"
     "    def create_module(self, spec):\n        try:\n",
     "self.active = None\n\n    def create_module(self, spec):\n        try:\n"
     "            self.active = importlib.machinery.ExtensionFileLoader(spec.name, spec.origin)\n",
     [T_NATIVE]),
    ("native.rebuild-older-source", "setup.py", "os.remove(c_file)", "pass",
     ["tests/test_native_setup.py"]),
    ("native.digest-before-build", "setup.py", '"sha256": self.digests[name]',
     '"sha256": NATIVE["source_digest"](os.path.join(ROOT, "loom_post"), name)',
     ["tests/test_native_setup.py"]),
    ("native.manifest-when-skipped", "setup.py",
     "        self._write_manifests()\n\n    def _compile(self):",
     "        if self.built:\n            self._write_manifests()\n\n    def _compile(self):",
     ["tests/test_native_setup.py"]),
    # The compiled build (issue 16, cytype): a wrong static type in a .pxd
    # changes what the compiled module computes; a run-time import of Cython
    # breaks the pure-Python package where Cython is missing.
    ("cy.pxd-type", "loom_post/passes/cse.pxd", "expr=tuple, a=tuple",
     "expr=list, a=tuple", ["tests/test_compiled.py"]),
    ("cy.stack-pxd-row", "loom_post/wasm/stack_types.pxd", "row=tuple", "row=list",
     ["tests/test_compiled.py"]),
    ("cy.stack-pxd-type", "loom_post/wasm/stack_types.pxd", "dead_depth=Py_ssize_t",
     "dead_depth=bint", ["tests/test_compiled.py"]),
    ("cy.no-runtime-cython", CSE, "from bisect import bisect_right\n",
     "from bisect import bisect_right\nimport cython  # noqa: F401\n",
     ["tests/test_compiled.py"]),
    # gzip is measured for the report only when guarded, optimized for, budgeted or asked (seventh round)
    ("gzip.guarded", "loom_post/postlink.py", 'if "gzip" in (guarded or ()) or optimize_for == "gzip":',
     'if optimize_for == "gzip":', ["tests/test_compressed.py"]),
    ("gzip.optimize-for", "loom_post/postlink.py", 'if "gzip" in (guarded or ()) or optimize_for == "gzip":',
     'if "gzip" in (guarded or ()):', ["tests/test_compressed.py"]),
    ("gzip.asked", "loom_post/postlink.py", "wanted = set(asked)", "wanted = set()",
     ["tests/test_compressed.py"]),
    ("gzip.always", "loom_post/postlink.py", 'wanted = {"code", "file"} | set(measures)',
     'wanted = {"code", "file", "gzip"} | set(measures)', ["tests/test_compressed.py"]),
]


def copy_tree(dest):
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache", "target",
                                    "*.egg-info", "build", "dist")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)


def run_tests(tree, args, timeout=TIMEOUT):
    """('pass' | 'fail' | 'timeout', seconds, last lines of output)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = tree
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"] + args
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The whole session: pytest and whatever it started (cargo, wasmtime, ...).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", time.monotonic() - start, ""
    tail = "\n".join(output.strip().splitlines()[-3:])
    # 1: a test failed; 2: collection failed (the mutated code does not import).
    # 4 (usage error) and 5 (no tests collected) mean the selection is wrong.
    status = {0: "pass", 1: "fail", 2: "fail", 5: "empty"}.get(proc.returncode, "error")
    return status, time.monotonic() - start, tail


def apply(tree, mutation):
    """Write the mutated file into `tree`; return the original text to restore."""
    _id, rel, original, replacement, _tests = mutation
    path = os.path.join(tree, rel)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = text.count(original)
    if count != 1:
        raise ValueError(f"{_id}: original text occurs {count} times in {rel}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(original, replacement, 1))
    return text


def restore(tree, mutation, text):
    with open(os.path.join(tree, mutation[1]), "w", encoding="utf-8") as f:
        f.write(text)


def check_applicable(mutations):
    bad = []
    for m in mutations:
        with open(os.path.join(ROOT, m[1]), encoding="utf-8") as f:
            n = f.read().count(m[2])
        if n != 1:
            bad.append(f"{m[0]}: original text occurs {n} times in {m[1]}")
    return bad


def test_args(m, tree=ROOT):
    """The mutation's pytest arguments, without test files that do not exist
    in `tree` (yet): a mutation left with no tests counts as SURVIVED."""
    args = [a for a in m[4] if not a.startswith("tests/")
            or os.path.exists(os.path.join(tree, a))]
    return args if any(a.startswith("tests/") for a in args) else []


def parallel(items, jobs, work):
    """Run work(tree, item) for each item on `jobs` private copies of the tree."""
    results = {}
    todo = queue.Queue()
    for n, item in enumerate(items):
        todo.put((n, item))
    lock = threading.Lock()

    def worker():
        tree = tempfile.mkdtemp(prefix="loom-mutate-")
        try:
            copy_tree(os.path.join(tree, "t"))
            while True:
                try:
                    n, item = todo.get_nowait()
                except queue.Empty:
                    return
                out = work(os.path.join(tree, "t"), item)
                with lock:
                    results[n] = out
        finally:
            shutil.rmtree(tree, ignore_errors=True)

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(jobs, len(items))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[n] for n in range(len(items))]


def main(argv):
    ap = argparse.ArgumentParser(prog="mutate.py", description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="select", action="append",
                    help="only mutations whose id contains this (may be repeated)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--timeout", type=int, default=TIMEOUT)
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.select or any(s in m[0] for s in args.select)]
    if args.list:
        for n, m in enumerate(chosen, 1):
            print(f"{n:3} {m[0]:32} {m[1]}  tests: {' '.join(m[4])}")
        return 0
    bad = check_applicable(chosen)
    if bad:
        print("\n".join(bad))
        return 2
    if not args.no_baseline:
        selections = sorted({tuple(test_args(m)) for m in chosen} - {()})
        outs = parallel(selections, args.jobs, lambda tree, s: run_tests(tree, list(s), args.timeout))
        failing = [(s, o) for s, o in zip(selections, outs) if o[0] != "pass"]
        for s, o in failing:
            print(f"unmutated selection {' '.join(s)}: {o[0]}\n{o[2]}")
        if failing:
            return 2
        print(f"{len(selections)} test selections pass unmutated")

    def one(tree, m):
        selection = test_args(m, tree)
        if not selection:
            return "empty", 0.0, ""
        text = apply(tree, m)
        try:
            out = run_tests(tree, selection, args.timeout)
        finally:
            restore(tree, m, text)
        print(f"  ... {m[0]}: {out[0]} ({out[1]:.0f}s)", file=sys.stderr, flush=True)
        return out

    outs = parallel(chosen, args.jobs, one)
    caught = 0
    for m, (status, secs, tail) in zip(chosen, outs):
        verdict = {"fail": "CAUGHT", "timeout": "CAUGHT (timeout)"}.get(status, "SURVIVED")
        if status in ("empty", "error"):
            verdict = f"SURVIVED ({'no tests selected' if status == 'empty' else 'pytest error'})"
        caught += verdict.startswith("CAUGHT")
        print(f"{verdict:28} {m[0]:32} {secs:6.1f}s")
    print(f"score: {caught}/{len(chosen)} mutations caught")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
