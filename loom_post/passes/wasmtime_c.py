"""wasmtime's validator through the shared library the `wasmtime` package
ships, without importing the package.

Why: importing `wasmtime` costs 45-56 ms (wasmtime._bindings alone declares
about 1000 ctypes functions), 10-15% of wasm-opt's whole time on a mid-size
module, and a cold `optimize` needs only `wasmtime.Module.validate`. This
module loads the same library with ctypes and declares the seven functions
validation needs; validate.py falls back to the package whenever `load`
returns None.

What is relied on, and why it is safe (wasmtime-py 14 to 50, the versions
pyproject allows; checked against wasmtime's C headers, tags v14.0.0 to
v48.0.0 and main, and wasmtime-py's _ffi.py and _config.py at its tags):

- Where the library is: wasmtime/_ffi.py loads
  `<package dir>/<sys.platform>-<machine>/<libname>`, machine x86_64 or
  aarch64, unchanged since 14.0.0. Found here with `importlib.util.find_spec`
  (which does not import the package); any other layout: None.
- The signatures, the same at every tag:
  `wasm_config_t *wasm_config_new(void)`,
  `void wasmtime_config_<feature>_set(wasm_config_t *, bool)` (the
  WASMTIME_CONFIG_PROP macro), `wasm_engine_t
  *wasm_engine_new_with_config(wasm_config_t *)` (takes the config),
  `void wasm_engine_delete(wasm_engine_t *)`, `wasmtime_error_t
  *wasmtime_module_validate(wasm_engine_t *, const uint8_t *, size_t)` (NULL
  when valid), `void wasmtime_error_message(const wasmtime_error_t *,
  wasm_name_t *)`, `void wasm_byte_vec_delete(wasm_byte_vec_t *)`,
  `void wasmtime_error_delete(wasmtime_error_t *)`, and `wasm_byte_vec_t` =
  {size_t size; uint8_t *data} (wasm-c-api's WASM_DECLARE_VEC). A function
  missing from the library: None.
- The same features as the package path: validate.engine_config enables a
  feature only when the package's `Config` has a setter for it, and the
  library can export setters the package does not expose (wasmtime-py 20-45
  ship a library with `wasmtime_config_wasm_gc_set` and
  `..._function_references_set` but no `Config.wasm_gc`). So a feature is set
  only when the package's _config.py both defines it and calls
  `ffi.wasmtime_config_<feature>_set`; a feature it does not mention is
  skipped, as engine_config skips it; a definition without that call, or the
  call without a definition, or a setter the package calls but the library
  lacks (the package would not even import): None.
- The message: the package's WasmtimeError is `wasmtime_error_message` decoded
  as UTF-8; so is `WasmtimeError` here, which keeps the package's class name.
- Ownership: every error is deleted after its message is copied out, every
  message vector after decoding (both in `finally`), the engine by `close`
  (validate.py registers it at exit); the config is owned by the engine.
"""

import ctypes
import importlib.util
import os
import re
import sys

_LIBNAMES = {"linux": "_libwasmtime.so", "android": "_libwasmtime.so",
             "win32": "_wasmtime.dll", "darwin": "_libwasmtime.dylib"}
_MACHINES = {"AMD64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "ARM64": "aarch64",
             "aarch64": "aarch64"}


class WasmtimeError(Exception):
    """The validator's complaint, its text wasmtime's message (named as the
    package names its own: validate._first_line names the class when the
    message is empty)."""


class _ByteVec(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]


def package_dir():
    """The wasmtime package's directory, found without importing it, or None."""
    try:
        spec = importlib.util.find_spec("wasmtime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def library_path(pkg):
    """Where wasmtime/_ffi.py loads the library from (the same rules)."""
    platform_name = "android" if hasattr(sys, "getandroidapilevel") else sys.platform
    if sys.platform == "win32":  # os.uname is POSIX only; platform.machine reads the registry
        import platform
        machine = platform.machine()
    else:
        machine = os.uname().machine
    machine = _MACHINES.get(machine)
    libname = _LIBNAMES.get(platform_name)
    if machine is None or libname is None:
        return None
    return os.path.join(pkg, f"{platform_name}-{machine}", libname)


def package_features(pkg, features):
    """The features the package's Config sets (engine_config's choice), or
    None when its _config.py is not laid out as expected."""
    try:
        with open(os.path.join(pkg, "_config.py"), encoding="utf-8") as f:
            text = f.read()
    except (OSError, ValueError):
        return None
    chosen = []
    for name in features:
        defined = re.search(rf"@setter_property\n    def {name}\(self, enable\b", text) is not None
        calls = f"ffi.wasmtime_config_{name}_set(" in text
        if defined != calls:
            return None
        if defined:
            chosen.append(name)
    return chosen


def _declare(dll, name, restype, *argtypes):
    function = getattr(dll, name)  # AttributeError when the library lacks it
    function.restype = restype
    function.argtypes = argtypes
    return function


class Validator:
    """An engine with `features` on, and wasmtime_module_validate over it."""

    def __init__(self, dll, features):
        p, vec = ctypes.c_void_p, ctypes.POINTER(_ByteVec)
        config_new = _declare(dll, "wasm_config_new", p)
        setters = [_declare(dll, f"wasmtime_config_{name}_set", None, p, ctypes.c_bool)
                   for name in features]
        engine_new = _declare(dll, "wasm_engine_new_with_config", p, p)
        self._engine_delete = _declare(dll, "wasm_engine_delete", None, p)
        self._validate = _declare(dll, "wasmtime_module_validate", p, p, ctypes.c_char_p,
                                  ctypes.c_size_t)
        self._message = _declare(dll, "wasmtime_error_message", None, p, vec)
        self._vec_delete = _declare(dll, "wasm_byte_vec_delete", None, vec)
        self._error_delete = _declare(dll, "wasmtime_error_delete", None, p)
        config = config_new()
        if not config:
            raise OSError("wasm_config_new failed")
        for setter in setters:
            setter(config, True)
        self._engine = engine_new(config)  # owns the config from here on
        if not self._engine:
            raise OSError("wasm_engine_new_with_config failed")

    def validate(self, data):
        """None, or WasmtimeError with wasmtime's message (Module.validate's rules)."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("expected wasm bytes")  # as Module.validate says
        if not self._engine:  # a NULL engine would crash the library
            raise ValueError("already closed")
        error = self._validate(self._engine, bytes(data), len(data))
        if error:
            raise WasmtimeError(self._take_message(error))

    def _take_message(self, error):
        vec = _ByteVec()
        try:
            self._message(error, ctypes.byref(vec))
            try:
                return ctypes.string_at(vec.data, vec.size).decode("utf-8") if vec.size else ""
            finally:
                self._vec_delete(ctypes.byref(vec))
        finally:
            self._error_delete(error)

    def close(self):
        engine, self._engine = self._engine, None
        if engine:
            self._engine_delete(engine)


def load(features):
    """A Validator over the package's library with the package's choice of
    `features` on, or None when anything is not as expected (validate.py then
    imports the package)."""
    pkg = package_dir()
    path = pkg and library_path(pkg)
    if not path or not os.path.isfile(path):
        return None
    chosen = package_features(pkg, features)
    if chosen is None:
        return None
    try:
        return Validator(ctypes.CDLL(path), chosen)
    except (OSError, AttributeError):
        return None
