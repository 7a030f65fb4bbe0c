"""`loom-post optimize`: rewrite modules in place with the CSE pass, then gate them.

`optimize_paths` is the one pipeline every integration uses (cargo wrapper,
linker hook, watch): per module, take the lock, read, optimize, validate, replace
atomically, and measure against the budgets.
"""

import json
import os
import sys

from .. import exitcodes
from ..cli import error
from ..config import load_config, require_paths
from ..errors import InputError
from ..fileio import load_module, locked, replace_module, write_atomic
from ..gate import evaluate, grew_most, require_baselines
from ..optimizer import OptimizeResult, optimize
from ..report_units import percent, signed
from ..validate import OutputInvalid
from ..demangle import demangle


def add_parser(sub):
    p = sub.add_parser("optimize", help="optimize modules in place and check their budgets")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="modules to optimize (default: the configured `paths` globs)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the result here (one input only)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    p.add_argument("--keep-dwarf", action="store_true",
                   help="keep .debug_* sections even though changed code makes them stale")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes for large modules (default: one per CPU)")
    p.set_defaults(func=run)


def run(args):
    config = load_config(args.config)
    paths = require_paths(config, args.paths)
    if args.output and len(paths) != 1:
        error("-o/--output takes exactly one input module")
        return exitcodes.USAGE
    if args.output:
        out_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(out_dir):
            error(f"-o/--output: directory {out_dir} does not exist")
            return exitcodes.USAGE
    require_baselines(config, paths)  # before any module is rewritten
    if args.jobs is not None and args.jobs < 1:
        error("--jobs takes a number >= 1")
        return exitcodes.USAGE
    return optimize_paths(paths, config, output=args.output, fmt=args.format,
                          keep_dwarf=args.keep_dwarf, jobs=args.jobs)


class Outcome:
    """What happened to one module."""

    def __init__(self, path):
        self.path = path
        self.error = None
        self.result = None
        self.verdict = None
        self.optimized = True
        self.notes = []

    def to_json(self):
        if self.error:
            return {"path": self.path, "error": self.error}
        r = self.result
        out = {"path": self.path, "code_bytes_before": r.code_bytes_before,
               "code_bytes_after": r.code_bytes_after,
               "functions_changed": r.cse.functions_changed,
               "deduplicated": r.cse.deduplicated,
               "rejected_by_cost_gate": r.cse.rejected_by_cost_gate,
               "not_understood": r.cse.not_understood,
               "bytes_saved": r.code_bytes_before - r.code_bytes_after,
               "bytes_saved_by_reencoding": r.cse.bytes_saved_by_reencoding,
               "dwarf_dropped": r.dwarf_dropped, "optimized": self.optimized,
               "notes": self.notes}
        if self.verdict is not None:
            out["status"] = self.verdict.status
            out["budgets"] = [b.to_json() for b in self.verdict.budgets]
        return out


def default_jobs():
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def optimize_one(path, config, output=None, keep_dwarf=False, jobs=1):
    """Optimize and gate one module. Never raises for a bad input: see Outcome.error."""
    outcome = Outcome(path)
    settings = config.settings_for(path)
    try:
        with locked(path):
            data, module = load_module(path)
            if not settings.optimize:
                outcome.optimized = False
                outcome.result = OptimizeResult.unchanged(data, module)
            else:
                result = optimize(data, module, keep_dwarf=keep_dwarf, jobs=jobs)
                outcome.result = result
                if output:
                    try:
                        write_atomic(output, result.data, like=path)
                    except OSError as e:
                        raise InputError(f"{output}: cannot write: {e.strerror or e}")
                elif result.data is not data:
                    left = replace_module(path, result.data)
                    if left:
                        outcome.notes.append(
                            f"{left} other hard link(s) of {path} still hold the old module")
        outcome.verdict = evaluate(output or path, outcome.result.module, config,
                                   code_bytes_before=outcome.result.code_bytes_before)
    except FileNotFoundError:
        outcome.error = f"{path}: no such file"
    except (InputError, OutputInvalid) as e:
        outcome.error = str(e) if str(e).startswith(path) else f"{path}: {e}"
    except OSError as e:
        outcome.error = f"{path}: {e.strerror or e}"
    return outcome


def optimize_paths(paths, config, output=None, fmt="text", keep_dwarf=False, out=None,
                   jobs=None):
    """Optimize and gate every path, print one report, return the exit code."""
    out = out or sys.stdout
    jobs = default_jobs() if jobs is None else jobs
    outcomes = [optimize_one(p, config, output=output, keep_dwarf=keep_dwarf, jobs=jobs)
                for p in paths]
    status = exit_status(outcomes)
    if fmt == "json":
        doc = {"status": {0: "pass", 1: "fail"}.get(status, "error"),
               "modules": [o.to_json() for o in outcomes]}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        for o in outcomes:
            print_outcome(o, out)
    for o in outcomes:
        if o.error:
            error(o.error)
    return status


def exit_status(outcomes):
    if any(o.error for o in outcomes):
        return exitcodes.BAD_INPUT
    if any(o.verdict is not None and o.verdict.status == "fail" for o in outcomes):
        return exitcodes.OVER_BUDGET
    return exitcodes.OK


def print_outcome(o, out):
    if o.error:
        return
    r = o.result
    before, after = r.code_bytes_before, r.code_bytes_after
    verdict = o.verdict.status.upper() if o.verdict is not None else "PASS"
    what = "measured (optimize = false)" if not o.optimized else (
        f"{r.cse.functions_changed} functions changed, {r.cse.deduplicated} expressions "
        f"deduplicated, {r.cse.rejected_by_cost_gate} rejected by the cost gate")
    out.write(f"{o.path}: code {before} -> {after} bytes ({signed(after - before)}, "
              f"{percent(after, before)}); {what}; {verdict}\n")
    if r.cse.bytes_saved_by_reencoding:
        out.write(f"  of the bytes saved, {r.cse.bytes_saved_by_reencoding} come from re-encoding "
                  f"changed functions with minimal LEB128s\n")
    if r.cse.not_understood:
        out.write(f"  {r.cse.not_understood} functions use instructions loom-post does not "
                  f"understand and were kept as they are\n")
    for note in o.notes:
        out.write(f"  note: {note}\n")
    if r.dwarf_dropped:
        out.write(f"  note: dropped stale DWARF ({', '.join(r.dwarf_dropped)}); "
                  f"--keep-dwarf keeps it\n")
    if o.verdict is not None:
        for b in o.verdict.budgets:
            if b.status == "fail":
                out.write(f"  over budget: {b.kind}: limit {b.limit_text()}, actual "
                          f"{b.actual_text()} ({b.message})\n")
        if o.verdict.status == "fail":
            grown = grew_most(o.verdict, 5)
            if grown:
                out.write("  functions that grew most since the baseline:\n")
                for c in grown:
                    was = "new" if c.old is None else f"{c.old} -> {c.new} bytes"
                    out.write(f"    {signed(c.delta):>8} B  {demangle(c.name)} ({was})\n")
