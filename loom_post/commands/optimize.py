"""`loom-post optimize`: not yet available (its issue has not landed)."""

from .. import exitcodes
from ..cli import error


def add_parser(sub):
    p = sub.add_parser("optimize", help="(not yet available)")
    p.set_defaults(func=run)


def run(args):
    error("'optimize' is not yet available")
    return exitcodes.USAGE


def run_argv(argv):
    error("'optimize' is not yet available")
    return exitcodes.USAGE
