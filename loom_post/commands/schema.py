"""`loom-post schema`: the JSON Schema of the configuration, for editors.

Generated from the validator's own key tables (loom_post/budget/schema.py);
docs/loom-post.schema.json is this command's output, committed.
"""

import sys

from loom_post import exitcodes
from loom_post.budget.schema import dumps
from loom_post.errors import ConfigError
from loom_post.fileio import write_atomic


def add_parser(sub):
    p = sub.add_parser("schema", help="print the JSON Schema of loom-post.toml (for editors)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write it to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args):
    text = dumps()
    if not args.output:
        sys.stdout.write(text)
        return exitcodes.OK
    try:
        write_atomic(args.output, text.encode("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot write the schema: {e.strerror or e}", path=args.output)
    return exitcodes.OK
