"""`loom-post report --html OUT.html`: the sizes, budgets, treemap and baseline
diff of modules as one self-contained page (loom_post/report/html.py).

Measures like `check` and exits like it (0, 1 over budget, 2 usage, 3 an
unreadable module), so a CI step can gate and publish the page at once; the
page is written in every case but bad usage.
"""

from loom_post import exitcodes
from loom_post.budget.baseline import function_sizes
from loom_post.budget.config import load_config, require_paths
from loom_post.budget.gate import evaluate, require_baselines
from loom_post.commands.check import add_no_brotli
from loom_post.errors import ConfigError, InputError, print_error
from loom_post.fileio import load_module, write_atomic
from loom_post.report import html
from loom_post.report.terminal import Progress, note
from loom_post.sizes import MEASURES, Sizes


def add_parser(sub):
    p = sub.add_parser("report", help="write an HTML page with sizes, budgets, a treemap "
                                      "and the diff against the baseline")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="modules to report on (default: the configured `paths` globs)")
    p.add_argument("--html", required=True, metavar="OUT.html",
                   help="write the self-contained page here")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: search upwards)")
    add_no_brotli(p)
    p.set_defaults(func=run)


def collect(paths, config, brotli, progress):
    """([(Verdict, {function: bytes})], [(path, message)])."""
    modules, errors = [], []
    for path in paths:
        progress.step(path)
        try:
            data, module = load_module(path, limit=config.max_input_size)
        except InputError as e:
            errors.append((path, e.message if e.path else str(e)))
            continue
        sizes = Sizes(data, module.code_size).measure(MEASURES if brotli else MEASURES[:3])
        modules.append((evaluate(path, module, config, sizes=sizes), function_sizes(module)))
        progress.finished(path)
    progress.clear()
    return modules, errors


def run(args):
    config = load_config(args.config)
    paths = require_paths(config, args.paths)
    require_baselines(config, paths)
    note(args, f"configuration: {config.describe()}; {len(paths)} module(s)")
    modules, errors = collect(paths, config, not args.no_brotli,
                              Progress(args, len(paths), "measuring"))
    page = html.render(modules, errors)
    try:
        write_atomic(args.html, page.encode("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot write the report: {e.strerror or e}", path=args.html)
    note(args, f"wrote {args.html} ({len(page)} bytes)")
    for path, message in errors:
        print_error(f"{path}: {message}")
    if errors:
        return exitcodes.BAD_INPUT
    if any(v.status == "fail" for v, _f in modules):
        return exitcodes.OVER_BUDGET
    return exitcodes.OK
