"""`loom-post cargo ARGS...`: the command-line face of integrations/cargo.py."""

import argparse

from loom_post.integrations.cargo import HELP, USAGE, run_argv


def add_parser(sub):
    p = sub.add_parser("cargo", help="run cargo, then optimize and gate the .wasm files it built",
                       usage=USAGE, description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="cargo's arguments, e.g. build --release --target wasm32-unknown-unknown")
    p.set_defaults(func=run)


def run(args):
    return run_argv(args.args)
