"""`loom-post-link`: the linker hook, in real cargo builds and on its own with rust-lld.

cargo and rustc run it exactly as they would run rust-lld; it must link, then
optimize the `-o` module in place (deps/<name>.wasm, which cargo then hard-links
to <profile>/<name>.wasm), fail the link on a budget breach with the gate's
message, and leave a failing link, and non-.wasm outputs, exactly as they were.
"""

import os
import shutil
import subprocess

import pytest

from loom_post.integrations import link
from test_cargo import (EXAMPLE, TRIPLE, WORKSPACE, artifact, assert_optimized, build_env,
                        cargo_build, code_size, copy_crate, deps_artifact, plain_kernel_sched,
                        read, same_file, script)

pytestmark = pytest.mark.cargo

LINKER_VAR = "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER"


@pytest.fixture(scope="session")
def plain_build(tmp_path_factory):
    return plain_kernel_sched(tmp_path_factory)


def hook_env(env, **extra):
    return build_env(env, **{LINKER_VAR: script("loom-post-link")}, **extra)


def test_hook_optimizes_at_link_time_and_noop_build_keeps_it(tmp_path, cargo_wasm32, plain_build):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    env = hook_env(env)
    cargo_build(cargo, env, crate)

    optimized = assert_optimized(artifact(crate), plain_build)
    assert code_size(optimized) < code_size(plain_build)  # the hook really ran the pass
    assert same_file(artifact(crate), deps_artifact(crate))

    proc = cargo_build(cargo, env, crate)  # no-op: cargo only re-links deps/ -> release/
    assert "Compiling" not in proc.stderr
    assert read(artifact(crate)) == optimized
    assert same_file(artifact(crate), deps_artifact(crate))


def test_hook_from_the_examples_cargo_config(tmp_path, cargo_wasm32, plain_build):
    """The example's .cargo/config.toml names `loom-post-link`, found on PATH."""
    cargo, env = cargo_wasm32
    script("loom-post-link")
    crate = copy_crate(EXAMPLE, tmp_path / "ks", hook=True)
    # cargo reads .cargo/config.toml from the directory it runs in.
    proc = subprocess.run([cargo, "build", "--release", "--target", TRIPLE], cwd=crate,
                          env=build_env(env), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    optimized = assert_optimized(artifact(crate), plain_build)
    assert code_size(optimized) < code_size(plain_build)


def test_hook_budget_breach_fails_the_build(tmp_path, cargo_wasm32):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('max-code-size = "100 B"\n')
    proc = cargo_build(cargo, hook_env(env), crate, check=False)
    assert proc.returncode == 101
    assert "error: linking with" in proc.stderr and "loom-post-link" in proc.stderr
    assert "over budget: max-code-size" in proc.stderr and "limit 100" in proc.stderr
    assert "could not compile `kernel-sched`" in proc.stderr
    assert not os.path.exists(artifact(crate))  # cargo published nothing


def test_hook_loom_post_config_env_overrides(tmp_path, cargo_wasm32):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")  # its loom-post.toml passes
    strict = tmp_path / "strict.toml"
    strict.write_text('max-code-size = "1 KiB"\n')
    proc = cargo_build(cargo, hook_env(env, LOOM_POST_CONFIG=str(strict)), crate, check=False)
    assert proc.returncode == 101
    assert "over budget: max-code-size" in proc.stderr and "limit 1024" in proc.stderr


def test_hook_in_a_workspace_reads_the_workspace_config(tmp_path, cargo_wasm32):
    """rustc runs the linker in the workspace root: its loom-post.toml applies,
    [[module]] tables included."""
    cargo, env = cargo_wasm32
    ws = copy_crate(WORKSPACE, tmp_path / "ws")
    with open(os.path.join(ws, "loom-post.toml"), "w") as f:
        f.write('max-code-size = "8 KiB"\n\n[[module]]\npath = "target/*/release/beta.wasm"\n'
                'max-code-size = "20 B"\n')
    proc = cargo_build(cargo, hook_env(env), ws, check=False)
    assert proc.returncode == 101
    assert "could not compile `beta`" in proc.stderr
    assert "could not compile `alpha`" not in proc.stderr
    assert "beta.wasm" in proc.stderr and "limit 20" in proc.stderr


# ------------------------------------------- the hook on its own, with rust-lld


@pytest.fixture
def wasm_object(tmp_path, cargo_wasm32):
    """A real wasm32 object file from rustc, and the link arguments rustc would use."""
    cargo, env = cargo_wasm32
    src = tmp_path / "f.rs"
    src.write_text("#![no_std]\n#[panic_handler]\nfn p(_: &core::panic::PanicInfo) -> ! { loop {} }\n"
                   "#[no_mangle]\npub extern \"C\" fn f(x: u32) -> u32 {\n"
                   "    (x ^ 0x12345678).wrapping_mul(0x12345678) ^ 0x12345678\n}\n")
    obj = tmp_path / "f.o"
    subprocess.run([env["RUSTC"], "--crate-type", "cdylib", "--target", TRIPLE, "-O",
                    "-C", "panic=abort", "--emit", f"obj={obj}", str(src)],
                   env=env, check=True, capture_output=True)
    return str(obj), ["-flavor", "wasm", "--no-entry", "--export", "f", str(obj)], env


def _tiny_budget(tmp_path, monkeypatch, env):
    for key in ("LOOM_POST_LINKER", "LOOM_POST_CONFIG", link.GUARD):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("RUSTC", env["RUSTC"])
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('max-code-size = "1 B"\n')
    monkeypatch.setenv("LOOM_POST_CONFIG", str(cfg))


def test_link_then_gate_wasm_output_only(tmp_path, wasm_object, monkeypatch, capfd):
    obj, args, env = wasm_object
    _tiny_budget(tmp_path, monkeypatch, env)
    out_bin = tmp_path / "f.bin"
    assert link.main(args + ["-o", str(out_bin)]) == 0  # not .wasm: linked, left alone
    assert capfd.readouterr().err == ""
    out_wasm = tmp_path / "f.wasm"
    assert link.main(args + ["-o", str(out_wasm)]) == 1  # .wasm: linked, then gated
    err = capfd.readouterr().err
    assert f"{out_wasm}: code" in err and "over budget: max-code-size" in err
    import wasmtime
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    for path in (out_bin, out_wasm):
        f = wasmtime.Instance(store, wasmtime.Module(engine, read(path)), []).exports(store)["f"]
        for x in (0, 1, 77, 2**31 - 1):
            k = 0x12345678
            assert f(store, x) & 0xFFFFFFFF == (((x ^ k) * k) & 0xFFFFFFFF) ^ k


def test_output_in_a_response_file(tmp_path, wasm_object, monkeypatch, capfd):
    """rustc moves the arguments into an @file when the command line is too long."""
    obj, args, env = wasm_object
    _tiny_budget(tmp_path, monkeypatch, env)
    out = tmp_path / "with space" / "f.wasm"
    out.parent.mkdir()
    rsp = tmp_path / "linker-arguments"
    # rustc keeps `-flavor wasm --rsp-quoting=posix` on the command line.
    prefix, rest = args[:2] + ["--rsp-quoting=posix"], args[2:] + ["-o", str(out)]
    rsp.write_text("".join(a.replace("\\", "\\\\").replace(" ", "\\ ") + "\n" for a in rest))
    assert link.output_path(prefix + [f"@{rsp}"]) == str(out)
    assert link.main(prefix + [f"@{rsp}"]) == 1
    assert "over budget" in capfd.readouterr().err


def test_linker_failure_passes_through_unchanged(tmp_path, cargo_wasm32, monkeypatch, capfd):
    cargo, env = cargo_wasm32
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("RUSTC", env["RUSTC"])
    monkeypatch.delenv("LOOM_POST_LINKER", raising=False)
    args = ["-flavor", "wasm", str(tmp_path / "missing.o"), "-o", str(tmp_path / "x.wasm")]
    direct = subprocess.run([link.find_linker()] + args, capture_output=True, text=True)
    assert direct.returncode != 0
    assert link.main(args) == direct.returncode
    out, err = capfd.readouterr()
    assert err == direct.stderr and out == direct.stdout
    assert not os.path.exists(tmp_path / "x.wasm")


def test_default_linker_is_rust_lld(cargo_wasm32, monkeypatch):
    cargo, env = cargo_wasm32
    monkeypatch.delenv("LOOM_POST_LINKER", raising=False)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("RUSTC", env["RUSTC"])
    found = link.find_linker()
    assert os.path.basename(found) == "rust-lld" and os.access(found, os.X_OK)


def test_loom_post_linker_selects_the_linker(tmp_path, cargo_wasm32, plain_build):
    cargo, env = cargo_wasm32
    wasm_ld = shutil.which("wasm-ld") or shutil.which("wasm-ld-14")
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    proc = cargo_build(cargo, hook_env(env, LOOM_POST_LINKER=str(tmp_path / "no-linker")),
                       crate, check=False)
    assert proc.returncode == 101
    assert "cannot run the linker" in proc.stderr and "no-linker" in proc.stderr
    if wasm_ld:  # a real alternative linker: the build works through it
        shutil.rmtree(os.path.join(crate, "target"))
        cargo_build(cargo, hook_env(env, LOOM_POST_LINKER=wasm_ld), crate)
        assert_optimized(artifact(crate), plain_build)


def test_linker_naming_itself_does_not_recurse(tmp_path):
    hook = script("loom-post-link")
    proc = subprocess.run([hook, "-o", str(tmp_path / "x.wasm")], capture_output=True, text=True,
                          env=dict(os.environ, LOOM_POST_LINKER=hook), timeout=60)
    assert proc.returncode == 2
    assert "LOOM_POST_LINKER runs loom-post-link again" in proc.stderr
    assert "Traceback" not in proc.stderr
