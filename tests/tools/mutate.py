"""Mutation check: break one guard at a time and see whether a test notices.

Score: 68/68 mutations caught, plus 8/8 for the result cache (-k cache.) and 4/4 for
start-up and -j (-k speed.; speed.lazy-pass-registry was first written so that it
survived, and was replaced by one that moves the import back to the top);
2026-12-02: cache.checksum first survived, caught since a test flips a payload bit).
Earlier: the full run caught 67/68; the one
survivor, pipe.reencoding-reference, led to a pipeline fix and is caught since).
Earlier list: 66/66.
Before the tests written for it: 46/66 on the first list. Of the 20 survivors,
5 were equivalent mutations and were replaced (see the comment above
MUTATIONS); 14 are caught by tests added for them and 1 (cse.decl-join-leb) by
an existing test its first selection left out.

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
EFF = "loom_post/passes/effects.py"
OPS = "loom_post/wasm/opcodes.py"
PIPE = "loom_post/passes/pipeline.py"
VAL = "loom_post/passes/validate.py"
FIO = "loom_post/fileio.py"
LEB = "loom_post/wasm/leb128.py"
MOD = "loom_post/wasm/module.py"
INS = "loom_post/wasm/instructions.py"
CFG = "loom_post/budget/config.py"
UNI = "loom_post/budget/units.py"
GATE = "loom_post/budget/gate.py"
RC = "loom_post/passes/results_cache.py"
STORE = "loom_post/cache.py"
T_CACHE = "tests/test_cache.py"

T_GATE = "tests/test_cse_gate.py"
T_RED = "tests/test_cse_redteam.py"
T_EXE = "tests/test_cse_execution.py"
T_EFF = "tests/test_effects_table.py"
T_CLI = "tests/test_optimize_cli.py"
T_FIO = "tests/test_fileio.py"
T_PIPE = "tests/test_pipeline_guards.py"


def k(files, expr):
    """Tests: the files, restricted to tests whose names match `expr`."""
    return list(files) + ["-k", expr]


# Left out as equivalent (no observable difference; each was tried):
# - cse `_MIN_COST = 3` -> 2: a 2-byte expression never beats a 2-byte local.get
#   (`current > ref` already refuses it); 3 -> 4 is kept instead.
# - cse `if current > ref` -> `>=`: a reuse saving 0 bytes changes no size.
# - cse `not self.reachable` in record(): dead code is never typed (its effects
#   are None), so record() never runs there; the flag is tested at scope ends.
# - cse's swallow protection (`live[a] - k <= 0` -> False): in every shape tried
#   the swallowed group keeps a live reuse inside the swallowing group's first
#   occurrence (greedy order takes the larger group first otherwise); no corpus
#   module's output changes without it.
# - effects `and "_sat" not in name`: no saturating operator contains ".trunc_f".
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
    ("cse.kill-local-set", CSE, "self.drop(self.by_local.pop(imm, ()))",
     "self.by_local.get(imm, ())", [T_RED, T_EXE]),
    ("cse.kill-global-set", CSE, "self.drop(self.by_global.pop(imm, ()))",
     "self.by_global.get(imm, ())", k([T_RED, T_EXE], "global or fm4")),
    ("cse.store-kills-loads", CSE,
     "elif effect in E.WRITES_MEMORY:\n            self.drop_loads()",
     "elif effect in E.WRITES_MEMORY:\n            pass", k([T_RED, T_EXE], "load")),
    ("cse.call-kills-loads", CSE,
     "elif effect is O.CALL:\n            self.drop_loads()",
     "elif effect is O.CALL:\n            pass", k([T_RED, T_EXE], "load or call")),
    ("cse.call-kills-globals", CSE,
     "            self.drop_loads()\n            self.drop_globals()\n            if op.name",
     "            self.drop_loads()\n            if op.name", k([T_RED, T_EXE], "global")),
    ("cse.loop-drops-locals", CSE, "for x in expr[3]:\n            best", "for x in ():\n            best",
     k([T_RED, T_EXE], "loop")),
    ("cse.loop-drops-globals", CSE, "for x in expr[4]:\n                best",
     "for x in ():\n                best", k([T_RED, T_EXE], "loop")),
    ("cse.loop-drops-loads", CSE, "if expr[5]:\n            best = min(best, _next(self.memory, pos))",
     "if False:\n            best = min(best, _next(self.memory, pos))", k([T_RED, T_EXE], "loop or load")),
    ("cse.loop-summary-memory", CSE, "elif effect in E.WRITES_MEMORY:\n                self.memory.append(i)",
     "elif effect in E.WRITES_MEMORY:\n                pass", k([T_RED, T_EXE], "loop or load")),
    ("cse.loop-kills-nothing", CSE, "end = self.writes.loop_end.get(i, _NEVER)", "end = -1",
     k([T_RED, T_EXE], "loop")),
    ("cse.scope-end-keeps-all", CSE, "while len(added) > start and added[-1][1] >= cut:",
     "while False:", [T_RED, T_EXE]),
    ("cse.if-arm-forgets", CSE, "cut = 0  # an if arm, or a try body or handler",
     "cut = _ALL  # an if arm, or a try body or handler", [T_RED, T_EXE]),
    ("cse.else-forgets-then", CSE, "self.leave(self.scopes[-1], 0)",
     "self.leave(self.scopes[-1], _ALL)", [T_RED, T_EXE]),
    ("cse.block-cut-first-branch", CSE,
     'if target.cut is None and target.kind != "loop":', "if False:", [T_RED, T_EXE]),
    ("cse.try-table-catch-branches", CSE, "for _kind, _tag, label in imm[1]:",
     "for _kind, _tag, label in ():", [T_RED, T_EXE]),
    ("cse.br-unreachable", CSE, 'if name == "br":', 'if name == "br_nope":',
     k([T_RED], "unreachable or never_falls or left_by")),
    ("cse.reachable-loop-end", CSE, "cut = _ALL if self.reachable else 0", "cut = _ALL",
     k([T_RED], "unreachable or never_falls or left_by")),
    ("cse.reachable-block-end", CSE, "else (_ALL if self.reachable else 0)", "else _ALL",
     k([T_RED], "unreachable or never_falls or left_by")),
    ("cse.shared-memory-loads", CSE, "if nxt != i or (is_load and imm[1] in self.shared):",
     "if nxt != i:", k([T_GATE, T_EXE], "shared")),
    ("cse.non-nullable-local", CSE, "or (vtype.__class__ is tuple and vtype[0] == 0x64)):",
     "or False):", k([T_EXE, T_RED], "nullable or select")),
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
    ("gate.limit-inclusive", GATE, 'self.status = "pass" if actual <= limit else "fail"',
     'self.status = "pass" if actual < limit else "fail"',
     k(["tests/test_check.py"], "limit or max_code_size")),
    ("gate.max-growth-applies", GATE,
     "        if sizes_before is not None and growth is not None:",
     "        if False:", ["tests/test_optimize_budget.py"]),
    # -- the result cache: key components, damaged entries, validation, LRU ----
    ("cache.key-sources", RC, "parts += [os.path.join(sub, name), f.read()]",
     "parts += [os.path.join(sub, name)]", [T_CACHE]),
    ("cache.key-never-grow", RC,
     "json.dumps([list(pass_names), sorted(never_grow), bool(keep_dwarf)])",
     "json.dumps([list(pass_names), bool(keep_dwarf)])", [T_CACHE]),
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
     "if not raw.startswith(MAGIC) or hashlib.sha256(payload).digest() != raw[len(MAGIC):_HEAD]:",
     "if not raw.startswith(MAGIC):", [T_CACHE]),
    ("cache.lru-touch", STORE, "os.utime(path)  # a hit is a use", "pass  # a hit is a use",
     [T_CACHE]),
    ("cache.validates-output", PIPE,
     "        new_module = validate_output(out)\n    except OutputInvalid:",
     "        new_module = read_module(out)\n    except OutputInvalid:", [T_CACHE]),
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
