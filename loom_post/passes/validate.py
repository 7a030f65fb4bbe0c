"""Validation of an optimizer output before it may replace its input.

The output is parsed again from its bytes by the same reader that reads inputs.
Then, when the `wasmtime` package is installed and its validator accepts the
input, the output must pass that validator too (every function, all features).
Otherwise (no wasmtime, or a feature the engine lacks), every rewritten function
body is decoded and type-checked instruction by instruction with
stack_types.check_function.
"""

from loom_post.wasm.module import read_module
from loom_post.errors import OutputInvalid
from loom_post.wasm.errors import DecodeError


def validate_output(data, changed=(), original=None):
    try:
        module = read_module(data)
    except DecodeError as e:
        raise OutputInvalid(f"optimized output does not parse: {e}")
    if original is not None and _engine_validate(data, original):
        return module  # a real engine validated every function
    from loom_post.wasm.instructions import decode_body
    from loom_post.wasm.stack_types import StackTypeError, check_function
    for pos in changed:
        entry = module.code[pos]
        try:
            body = decode_body(module.data, entry.body_start, entry.end)
            check_function(module, pos, body)
        except (DecodeError, StackTypeError) as e:
            raise OutputInvalid(f"optimized function {module.func_index(pos)} is invalid: {e}")
    return module


def engine_config(wasmtime):
    """A wasmtime Config with every proposal this wasmtime build knows turned on
    (Rust outputs use SIMD, threads, bulk memory, reference types, ...)."""
    config = wasmtime.Config()
    for feature in ("wasm_simd", "wasm_bulk_memory", "wasm_reference_types",
                    "wasm_multi_value", "wasm_threads", "shared_memory", "wasm_tail_call",
                    "wasm_relaxed_simd", "wasm_multi_memory", "wasm_memory64",
                    "wasm_function_references", "wasm_gc", "wasm_exceptions"):
        try:
            setattr(config, feature, True)
        except Exception:  # a proposal this wasmtime build does not have
            pass
    return config


def _engine_validate(data, original):
    """If a real engine accepts the input, it must accept the output too.
    True when the engine validated the output, False when it could not judge."""
    try:
        import wasmtime
    except ImportError:
        return False
    engine = wasmtime.Engine(engine_config(wasmtime))
    try:
        wasmtime.Module.validate(engine, original)
    except Exception:
        return False  # the engine does not take the input either (a feature it lacks)
    try:
        wasmtime.Module.validate(engine, data)
    except Exception as e:
        text = str(e).strip()
        message = text.splitlines()[0] if text else type(e).__name__
        raise OutputInvalid(f"optimized output fails validation: {message}")
    return True
