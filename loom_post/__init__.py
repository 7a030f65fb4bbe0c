"""loom-post: a size gate and cost-gated CSE optimizer for WebAssembly builds."""

from loom_post import native

__version__ = "0.1.0"

# Before any hot module is imported: their compiled build runs only while it
# matches the sources on disk (native.py).
native.install()
