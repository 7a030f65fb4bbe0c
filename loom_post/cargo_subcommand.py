"""`cargo loom-post`: the cargo sub-command executable (not yet available)."""

import sys

from .cli import not_yet

main = not_yet("cargo-loom-post")

if __name__ == "__main__":
    sys.exit(main())
