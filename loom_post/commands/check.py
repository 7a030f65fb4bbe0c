"""`loom-post check`: measure modules against their size budgets without rewriting them.

The CI gate: exit 0 when every module is within its budgets, 1 when any budget is
exceeded, 2 for bad usage or configuration, 3 when a module could not be read (the
others are still measured and reported). `max-growth` (and its file, gzip and
brotli siblings) compares the optimizer's output with its input, and `check` runs
no optimizer, so only the caps (`max-code-size`, `max-gzip-size`, ...) and the
`*-vs-baseline` budgets apply here. Every size is measured and reported: code,
file, gzip -9 and brotli q11 (`--no-brotli` skips the slow one).

Nothing built yet (no PATH given, and the `paths` globs match no file, as in a
fresh clone): the `missing` key decides. "warn" (the default) says so in one
line on stderr and exits 0, "error" exits 2 with that line, "ignore" exits 0
silently.

For CI (docs/ci.md): `--baseline-ref REF` compares with the baseline committed at
the merge-base of REF and HEAD, `--approve` / LOOM_POST_APPROVE let named modules
grow, `--write FORMAT:PATH` writes more reports from the same measurements and
`--github-comment` publishes the Markdown one (never changing the exit code).
"""

from __future__ import annotations

import sys

from loom_post import exitcodes
from loom_post.cache import measure_sizes, open_store
from loom_post.budget.config import load_config, require_paths, resolve_paths
from loom_post.budget.lint import add_strict, fresh_clone, review
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.fileio import load_module, read_bytes
from loom_post.postlink_component import is_component, verdicts as component_verdicts
from loom_post.budget.gate import evaluate, require_baselines
from loom_post.commands import ci_reports
from loom_post.report.formats import FORMATS, render
from loom_post.report.terminal import Progress, emit_report, note
from loom_post.sizes import MEASURES, Sizes


def add_parser(sub):
    p = sub.add_parser("check", help="measure modules against their size budgets (no rewriting)")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="modules to check (default: the configured `paths` globs)")
    p.add_argument("--format", choices=tuple(FORMATS), default="text",
                   help="text (default), json, markdown (a table for a PR comment or "
                        "step summary) or github (workflow annotations)")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    p.add_argument("--top", type=int, default=5, metavar="N",
                   help="how many of the functions that grew most to name (default 5)")
    add_no_brotli(p)
    add_ci_options(p)
    add_strict(p)
    p.set_defaults(func=run)


def add_ci_options(p):
    p.add_argument("--baseline-ref", metavar="REF",
                   help="compare with the baseline file as committed at `git merge-base "
                        "REF HEAD` (e.g. origin/main), not the one in the work tree")
    p.add_argument("--approve", action="append", default=[], metavar="GLOB",
                   help="modules allowed to grow since the baseline this time (repeatable; "
                        "also LOOM_POST_APPROVE=\"glob,glob\")")
    p.add_argument("--github-comment", action="store_true",
                   help="also append the Markdown report to $GITHUB_STEP_SUMMARY and post it "
                        "as a pull-request comment, updated in place on later runs")
    p.add_argument("--write", action="append", default=[], metavar="FORMAT:PATH",
                   help="also write the report in FORMAT (text, json, markdown, github) "
                        "to PATH (repeatable)")


def add_no_brotli(p):
    p.add_argument("--no-brotli", action="store_true",
                   help="do not measure brotli q11 sizes (~5 s per MB) unless a brotli "
                        "budget needs them")


def measure(paths, config, brotli=True, progress=None):
    """(verdicts, errors): a gate.Verdict per readable module, (path, message) per other.
    Every size is measured (brotli only if `brotli` or a budget needs it).
    `progress`: a terminal.Progress told of each module."""
    verdicts, errors = [], []
    store = open_store(config)  # compressed sizes of bytes measured before
    for path in paths:
        if progress:
            progress.step(path)
        try:
            data = read_bytes(path, config.max_input_size)
            if is_component(data):
                verdicts.extend(component_verdicts(path, data, config, brotli))
                continue
            data, module = load_module(path, data)
        except InputError as e:
            errors.append((e.path or path, e.message if e.path else str(e)))
            continue
        sizes = measure_sizes(Sizes(data, module.code_size),
                              MEASURES if brotli else MEASURES[:3], store)
        verdicts.append(evaluate(path, module, config, sizes=sizes))
        if progress:
            progress.finished(path)
    if progress:
        progress.clear()
    if store is not None:
        store.evict()
    return verdicts, errors


def nothing_built_text(config):
    return (f"no module built yet: the paths globs ({', '.join(config.paths)}) match no "
            f"file in {config.root}; build first, e.g. "
            f"`cargo build --release --target wasm32-unknown-unknown`")


def nothing_built(config):
    """check's outcome when nothing is built yet, as the `missing` key says (globs
    that match nothing while other .wasm files exist are a mistake: exit 2)."""
    if config.missing == "error":
        raise ConfigError(nothing_built_text(config) + ' (missing = "error")')
    if config.missing == "warn":
        print(f"loom-post: warning: {nothing_built_text(config)}; nothing was checked "
              f'(missing = "error" fails instead, "ignore" stays quiet)', file=sys.stderr)
    return exitcodes.OK


def run(args, out=None):
    out = out or sys.stdout
    if args.top < 0:
        raise ConfigError("--top takes a number >= 0")
    writes = ci_reports.parse_writes(args.write)
    config = load_config(args.config)
    config.baseline_ref = args.baseline_ref
    ci_reports.require_baseline_for_ref(config, args.baseline_ref)
    paths = resolve_paths(config, args.paths)
    nothing = fresh_clone(config, args.paths, paths)
    review(config, args.paths, strict=args.strict, globs=not nothing, paths=paths)
    if nothing:
        return nothing_built(config)
    paths = require_paths(config, args.paths, paths)
    require_baselines(config, paths)
    note(args, f"configuration: {config.describe()}; {len(paths)} module(s)")
    verdicts, errors = measure(paths, config, brotli=not args.no_brotli,
                               progress=Progress(args, len(paths), "measuring"))
    ci_reports.apply_approvals(verdicts, args.approve)
    text = render(args.format, verdicts, errors, top=args.top)
    failed = bool(errors) or any(v.status == "fail" for v in verdicts)
    if args.format == "text":
        emit_report(text, args, failed, out)
    else:
        out.write(text)
        out.flush()
    ci_reports.write_reports(writes, verdicts, errors, args.top)
    if args.github_comment:
        from loom_post.integrations.github import publish  # urllib: only when posting
        publish(render("markdown", verdicts, errors, top=args.top))
    for path, message in errors:
        print_error(f"{path}: {message}")
    if errors:
        return exitcodes.BAD_INPUT
    if any(v.status == "fail" for v in verdicts):
        return exitcodes.OVER_BUDGET
    return exitcodes.OK
