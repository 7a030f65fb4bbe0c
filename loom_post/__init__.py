"""loom-post: a size gate and cost-gated CSE optimizer for WebAssembly builds."""

__version__ = "0.1.0"
