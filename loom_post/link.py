"""`loom-post-link`: the post-link linker hook (not yet available)."""

import sys

from .cli import not_yet

main = not_yet("loom-post-link")

if __name__ == "__main__":
    sys.exit(main())
