"""`loom-post watch`: not yet available (its issue has not landed)."""

from .. import exitcodes
from ..cli import error


def add_parser(sub):
    p = sub.add_parser("watch", help="(not yet available)")
    p.set_defaults(func=run)


def run(args):
    error("'watch' is not yet available")
    return exitcodes.USAGE


def run_argv(argv):
    error("'watch' is not yet available")
    return exitcodes.USAGE
