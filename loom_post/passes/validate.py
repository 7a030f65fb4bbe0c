"""The rule: a module is rewritten only when a complete validator accepts both
the input and the output.

The validator is wasmtime's (`wasmtime.Module.validate`, every proposal this
build knows switched on), a runtime dependency: it checks every function and
every section, which a per-function type check cannot (immutable `global.set`,
alignment, `br_table` arity, unknown tables and memories, segment counts...).

- `check_input(data)`: None when the validator accepts the input; a one-line
  note when it cannot judge it (wasmtime missing, or a feature or proposal it
  does not support: the caller measures and gates but does not rewrite); and
  InputInvalid, naming the validator's complaint, when the input is invalid
  (optimize leaves it untouched, exit 3).
- `validate_output(data)`: the output parsed again and accepted by the
  validator, or OutputInvalid (the caller keeps the input).

Telling "unsupported" from "invalid" from a message alone is a judgement: a
message that names a feature or proposal as unsupported, disabled or not
enabled counts as "not supported"; anything else as invalid.
"""

import atexit
import re

from loom_post.errors import InputError, OutputInvalid
from loom_post.wasm.errors import DecodeError
from loom_post.wasm.module import read_module

FEATURES = ("wasm_simd", "wasm_bulk_memory", "wasm_reference_types", "wasm_multi_value",
            "wasm_threads", "shared_memory", "wasm_tail_call", "wasm_relaxed_simd",
            "wasm_multi_memory",
            "wasm_memory64", "wasm_function_references", "wasm_gc", "wasm_exceptions",
            "wasm_custom_page_sizes", "wasm_wide_arithmetic")
_UNSUPPORTED = re.compile(r"\b(not supported|unsupported|not enabled|disabled|"
                          r"requires? .*(proposal|feature)|(proposal|feature) .*"
                          r"(not|required|disabled))\b", re.IGNORECASE)


class InputInvalid(InputError):
    """The validator rejects the input itself: leave it untouched."""


def engine_config(wasmtime):
    """A wasmtime Config with every proposal this wasmtime build knows turned on
    (Rust outputs use SIMD, threads, bulk memory, reference types, ...)."""
    config = wasmtime.Config()
    for feature in FEATURES:
        try:
            setattr(config, feature, True)
        except Exception:  # a proposal this wasmtime build does not have
            pass
    return config


_engine = None


def _validator():
    """wasmtime's validate(bytes), or None when wasmtime is not installed."""
    global _engine
    try:
        import wasmtime
    except ImportError:
        return None
    if _engine is None:
        _engine = wasmtime.Engine(engine_config(wasmtime))
        atexit.register(_release_engine)
    engine = _engine
    return lambda data: wasmtime.Module.validate(engine, data)


def _release_engine():
    """At exit, while wasmtime is still whole: the engine frees itself through
    wasmtime's module globals, which the interpreter's teardown may clear first
    (it does when the CLI has frozen this module out of the collector's reach:
    cli._start_up)."""
    global _engine
    _engine = None


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def check_input(data):
    """None (validated), a note (cannot be judged: do not rewrite), or InputInvalid."""
    validate = _validator()
    if validate is None:
        return ("not rewritten: the validator (the `wasmtime` package, a dependency "
                "of loom-post) is not installed")
    try:
        validate(data)
    except Exception as e:
        message = _first_line(e)
        if _UNSUPPORTED.search(str(e)):
            return f"not rewritten: the validator does not support a feature it uses ({message})"
        raise InputInvalid(f"invalid module: {message} (wasmtime's validator); left untouched")
    return None


def validate_output(data):
    """The output, parsed; OutputInvalid unless the validator accepts it."""
    try:
        module = read_module(data)
    except DecodeError as e:
        raise OutputInvalid(f"optimized output does not parse: {e}")
    validate = _validator()
    if validate is None:  # check_input refused already; never write unvalidated
        raise OutputInvalid("optimized output cannot be validated (wasmtime missing)")
    try:
        validate(data)
    except Exception as e:
        raise OutputInvalid(f"optimized output fails validation: {_first_line(e)}")
    return module
