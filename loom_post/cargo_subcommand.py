"""`cargo loom-post ARGS...`: the cargo sub-command executable, `cargo-loom-post`.

cargo finds `cargo-loom-post` on PATH and runs it with `loom-post` as the first
argument and its own path in `$CARGO`; this drops that argument and is then
exactly `loom-post cargo ARGS...` (which calls cargo back through `$CARGO`).
`cargo loom-post --version` and `--help` are loom-post's own (not cargo's).
"""

import sys

from loom_post import cli


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["loom-post"]:
        argv = argv[1:]
    return cli.main(["cargo"] + argv)


if __name__ == "__main__":
    sys.exit(main())
