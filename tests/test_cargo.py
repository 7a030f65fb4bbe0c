"""`loom-post cargo ...` and `cargo loom-post ...`: real cargo builds for wasm32.

Every build is of a copy of examples/kernel-sched (or tests/data/workspace) in a
temporary directory, with Debian's cargo, whose rustc has the wasm32 std. An
artifact counts as optimized when the report lists it, wasmtime accepts it, its
code section is not larger than the plain build's, and its exported functions
return what the plain build's do over a long random call sequence.

The helpers here are shared with test_link.py.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig

import pytest

from conftest import ROOT, wasm32_cargo
from loom_post.wasm.module import read_module
from loom_post.cli import main
from loom_post.fileio import replace_module, write_atomic

pytestmark = pytest.mark.cargo

TRIPLE = "wasm32-unknown-unknown"
EXAMPLE = os.path.join(ROOT, "examples", "kernel-sched")
WORKSPACE = os.path.join(ROOT, "tests", "data", "workspace")
SCRIPTS = sysconfig.get_path("scripts")
EINVAL, EBUSY, EPERM = -22, -16, -1


# ---------------------------------------------------------------- helpers


def script(name):
    """The installed console script `name` (pip install -e . puts it next to python)."""
    path = shutil.which(name, path=SCRIPTS) or shutil.which(
        name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if not path:
        pytest.skip(f"console script {name} is not installed (pip install -e .)")
    return path


def build_env(env, **extra):
    """`env` (from cargo_wasm32) with loom-post's scripts on PATH and nothing inherited
    that would change a build: no $CARGO, no linker override, no loom-post settings."""
    env = dict(env)
    for key in ("CARGO", "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "LOOM_POST_CONFIG",
                "LOOM_POST_LINKER", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR"):
        env.pop(key, None)
    env["PATH"] = env["PATH"] + os.pathsep + SCRIPTS
    env["CARGO_TERM_COLOR"] = "never"
    env.update(extra)
    return env


def copy_crate(src, dst, hook=False):
    """Copy a crate for building; `hook` keeps its .cargo/config.toml linker hook."""
    ignore = ["target", "*.wasm"] + ([] if hook else [".cargo"])
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*ignore))
    return str(dst)


def artifact(crate, name="kernel_sched", profile="release"):
    return os.path.join(crate, "target", TRIPLE, profile, f"{name}.wasm")


def deps_artifact(crate, name="kernel_sched", profile="release"):
    return os.path.join(crate, "target", TRIPLE, profile, "deps", f"{name}.wasm")


def cargo_build(cargo, env, crate, *extra, check=True):
    proc = subprocess.run([cargo, "build", "--release", "--target", TRIPLE,
                           "--manifest-path", os.path.join(crate, "Cargo.toml"), *extra],
                          env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def wrapper_args(crate, *loom):
    return ["cargo", *loom, "build", "--release", "--target", TRIPLE,
            "--manifest-path", os.path.join(crate, "Cargo.toml")]


def use_env(monkeypatch, env):
    """Make `env` the environment of in-process main() calls."""
    for key in list(os.environ):
        if key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def code_size(data):
    return read_module(data).code_size


def read(path):
    with open(path, "rb") as f:
        return f.read()


def same_file(a, b):
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def add_custom_section(data, name, payload):
    """`data` with one more custom section (a different, equally valid module)."""
    def leb(n):
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)
    body = leb(len(name)) + name.encode() + payload
    return data + b"\x00" + leb(len(body)) + body


_PLAIN = {}


def plain_kernel_sched(tmp_path_factory):
    """The example built by plain cargo without any loom-post route (built once)."""
    if "data" not in _PLAIN:
        found = wasm32_cargo()
        if found is None:
            pytest.skip("no cargo with the wasm32-unknown-unknown target "
                        "(apt-get install rustc cargo libstd-rust-dev-wasm32)")
        cargo, env = found
        crate = copy_crate(EXAMPLE, tmp_path_factory.mktemp("plain") / "kernel-sched")
        cargo_build(cargo, build_env(env), crate)
        _PLAIN["data"] = read(artifact(crate))
    return _PLAIN["data"]


@pytest.fixture(scope="session")
def plain_build(tmp_path_factory):
    return plain_kernel_sched(tmp_path_factory)


# ------------------------------------------------------ running the kernel


def kernel_trace(data, seed, steps=250):
    """Every result of a seeded random sequence of calls, then the scheduler's memory."""
    import wasmtime
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, data), [])
    ex = instance.exports(store)

    def call(name, *args):
        return ex[name](store, *args)

    rng = random.Random(seed)
    call("ks_init", seed)
    sem, scratch = call("ks_sem_ptr"), call("ks_scratch_ptr")
    trace = []
    for _ in range(steps):
        op = rng.randrange(10)
        tid = rng.randrange(18)  # 16 and 17 are out of range: EINVAL
        if op <= 2:
            r = call("ks_event", tid, rng.randrange(9))
        elif op == 3:
            r = call("ks_tick", tid, rng.randrange(12))
        elif op == 4:
            r = call("ks_pick_next")
        elif op == 5:
            r = call("ks_set_prio", tid, rng.randrange(-3, 35))
        elif op == 6:
            r = call("ks_get", tid, rng.randrange(5))
        elif op == 7:
            p = rng.choice([0, sem, scratch])
            r = call("ks_sem_take", p) if rng.random() < 0.5 else \
                call("ks_sem_give", p, rng.randrange(6))
        elif op == 8:
            r = call("ks_census")
        else:
            r = call("ks_checksum")
        trace.append((op, r))
    memory = ex["memory"]
    trace.append(bytes(memory.read(store, 0, memory.data_len(store))))
    return trace


def assert_same_kernel(data, reference, seeds=range(24)):
    """`data` behaves as `reference` does: identical results and memory for every seed."""
    seen = set()
    for seed in seeds:
        expected = kernel_trace(reference, seed)
        assert kernel_trace(data, seed) == expected, f"results differ for seed {seed}"
        seen.update(r for _, r in expected[:-1])
    # The call sequences reach every errno and every state of the machine.
    assert {EINVAL, EBUSY, EPERM, 0, 1, 2, 3, 4, 5} <= seen


def assert_optimized(path, reference, report_entry=None):
    """The artifact at `path` is a valid module, no larger, and behaves as `reference`."""
    import wasmtime
    data = read(path)
    wasmtime.Module.validate(wasmtime.Engine(), data)
    assert code_size(data) <= code_size(reference)
    if report_entry is not None:
        assert report_entry["code_bytes_before"] == code_size(reference)
        assert report_entry["code_bytes_after"] == code_size(data)
    assert_same_kernel(data, reference)
    return data


# ------------------------------------------------------------------ tests


def test_wrapper_optimizes_artifact_and_noop_build_keeps_it(
        tmp_path, cargo_wasm32, plain_build, monkeypatch, capsys):
    cargo, env = cargo_wasm32
    env = build_env(env)
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    use_env(monkeypatch, env)

    assert main(wrapper_args(crate, "--loom-format", "json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "pass"
    [entry] = report["modules"]
    assert entry["path"] == artifact(crate)
    # The example's own loom-post.toml budgets were applied.
    assert {b["kind"] for b in entry["budgets"]} >= {"max-growth", "max-code-size"}
    optimized = assert_optimized(artifact(crate), plain_build, entry)
    assert same_file(artifact(crate), deps_artifact(crate))

    # A plain no-op `cargo build` re-links deps/ to release/: the optimized
    # module must still be what both names show.
    proc = cargo_build(cargo, env, crate)
    assert "Compiling" not in proc.stderr
    assert read(artifact(crate)) == optimized
    assert same_file(artifact(crate), deps_artifact(crate))


def test_wrapper_shrinks_the_example(tmp_path, cargo_wasm32, plain_build, monkeypatch, capsys):
    """The CSE pass finds the example's repeated addresses and constants."""
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    use_env(monkeypatch, build_env(env))
    assert main(wrapper_args(crate, "--loom-format", "json")) == 0
    [entry] = json.loads(capsys.readouterr().out)["modules"]
    assert entry["functions_changed"] > 0 and entry["passes"]["cse"]["deduplicated"] > 0
    assert entry["code_bytes_after"] < entry["code_bytes_before"] == code_size(plain_build)
    assert code_size(read(artifact(crate))) < code_size(plain_build)
    assert read(deps_artifact(crate)) == read(artifact(crate))


def test_replace_module_survives_noop_cargo_build(tmp_path, cargo_wasm32):
    """The hard-link trap is real, and fileio.replace_module avoids it."""
    cargo, env = cargo_wasm32
    env = build_env(env)
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    cargo_build(cargo, env, crate)
    original = read(artifact(crate))

    # A plain temp-file-and-rename: the next no-op build puts the old file back.
    changed = add_custom_section(original, "loom-post-test", b"one")
    write_atomic(artifact(crate), changed)
    cargo_build(cargo, env, crate)
    assert read(artifact(crate)) == original

    # replace_module re-points deps/ as well: the no-op build keeps the new bytes.
    changed = add_custom_section(original, "loom-post-test", b"two")
    replace_module(artifact(crate), changed)
    assert read(deps_artifact(crate)) == changed
    proc = cargo_build(cargo, env, crate)
    assert "Compiling" not in proc.stderr
    assert read(artifact(crate)) == changed
    assert same_file(artifact(crate), deps_artifact(crate))


def test_cargo_subcommand_optimizes(tmp_path, cargo_wasm32, plain_build):
    cargo, env = cargo_wasm32
    script("cargo-loom-post")
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    proc = subprocess.run([cargo, "loom-post", "build", "--release", "--target", TRIPLE,
                           "--manifest-path", os.path.join(crate, "Cargo.toml")],
                          env=build_env(env), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Compiling kernel-sched" in proc.stderr  # cargo's own progress, untouched
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith(artifact(crate))]
    assert "PASS" in line
    assert "{" not in proc.stdout  # cargo's JSON messages were consumed, not printed
    assert_optimized(artifact(crate), plain_build)
    assert same_file(artifact(crate), deps_artifact(crate))


def test_subcommand_help_through_cargo(cargo_wasm32):
    cargo, env = cargo_wasm32
    script("cargo-loom-post")
    proc = subprocess.run([cargo, "loom-post", "--help"], env=build_env(env),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: loom-post cargo" in proc.stdout


@pytest.mark.parametrize("how", ["loom-post.toml", "--loom-config", "LOOM_POST_CONFIG"])
def test_wrapper_budget_breach_exits_1(tmp_path, cargo_wasm32, monkeypatch, capfd, how):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    strict = 'max-code-size = "100 B"\n'
    loom, extra = [], {}
    if how == "loom-post.toml":
        with open(os.path.join(crate, "loom-post.toml"), "w") as f:
            f.write(strict)
    else:
        cfg = tmp_path / "strict.toml"
        cfg.write_text(strict)
        if how == "--loom-config":
            loom = ["--loom-config", str(cfg)]
        else:
            extra = {"LOOM_POST_CONFIG": str(cfg)}
    use_env(monkeypatch, build_env(env, **extra))
    assert main(wrapper_args(crate, *loom)) == 1
    out = capfd.readouterr().out
    assert f"{artifact(crate)}: code" in out and "FAIL" in out
    assert "over budget: max-code-size" in out and "limit 100" in out


def test_wrapper_bad_config_exits_2_before_building(tmp_path, cargo_wasm32, monkeypatch, capfd):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('max-code-size = "lots"\n')
    use_env(monkeypatch, build_env(env))
    assert main(wrapper_args(crate)) == 2
    err = capfd.readouterr().err
    assert "loom-post: error:" in err and "max-code-size" in err
    assert "Traceback" not in err
    assert not os.path.exists(os.path.join(crate, "target"))


def test_compile_error_passes_through(tmp_path, cargo_wasm32, monkeypatch, capfd):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "broken")
    lib = os.path.join(crate, "src", "lib.rs")
    with open(lib, "a") as f:
        f.write('\n#[no_mangle]\npub extern "C" fn ks_broken() -> u32 { "not a number" }\n')
    use_env(monkeypatch, build_env(env))
    assert main(wrapper_args(crate)) == 101
    out, err = capfd.readouterr()
    # rustc's diagnostic, rendered by cargo, as a user would see it without us.
    assert "error[E0308]: mismatched types" in err
    assert "src/lib.rs" in err and '"not a number"' in err
    assert '"reason"' not in err and '"reason"' not in out
    assert ": code " not in out  # nothing was optimized, no summary
    assert not os.path.exists(artifact(crate))


def test_user_json_message_format_is_kept(tmp_path, cargo_wasm32, plain_build, monkeypatch, capfd):
    cargo, env = cargo_wasm32
    crate = copy_crate(EXAMPLE, tmp_path / "ks")
    use_env(monkeypatch, build_env(env))
    assert main(wrapper_args(crate) + ["--message-format=json"]) == 0
    out, err = capfd.readouterr()
    messages = [json.loads(line) for line in out.splitlines()]  # stdout stays pure JSON
    assert any(m.get("reason") == "compiler-artifact" for m in messages)
    assert messages[-1]["reason"] == "build-finished"
    assert f"{artifact(crate)}: code" in err  # the summary went to stderr
    assert_optimized(artifact(crate), plain_build)


def test_workspace_with_two_wasm_crates(tmp_path, cargo_wasm32, monkeypatch, capsys):
    cargo, env = cargo_wasm32
    ws = copy_crate(WORKSPACE, tmp_path / "ws")
    use_env(monkeypatch, build_env(env))
    assert main(wrapper_args(ws, "--loom-format", "json")) == 0
    report = json.loads(capsys.readouterr().out)
    paths = [m["path"] for m in report["modules"]]
    assert sorted(paths) == [artifact(ws, "alpha"), artifact(ws, "beta")]

    import wasmtime
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    alpha = wasmtime.Instance(store, wasmtime.Module(engine, read(artifact(ws, "alpha"))), [])
    beta = wasmtime.Instance(store, wasmtime.Module(engine, read(artifact(ws, "beta"))), [])
    a, b = alpha.exports(store), beta.exports(store)
    k, m32 = 0x12345678, 0xFFFFFFFF
    for x in list(range(0, 3000, 7)) + [2**31 - 1]:
        t = ((x * k) & m32) ^ k
        t = ((((t << 13) | (t >> 19)) & m32) + k) & m32
        want = ((t ^ (t >> 16)) * k) & m32
        assert a["alpha_mix"](store, x) & m32 == want
        assert a["alpha_check"](store, x - 5) == (-22 if x < 5 else -16 if x - 5 > 1000 else 3 * (x - 5))
    slots = [0] * 8
    for i in range(200):
        slot, by = (i * 5) % 10, i * 3
        got = b["beta_bump"](store, slot, by)
        if slot >= 8:
            assert got == -22
        else:
            slots[slot] += by
            assert got == slots[slot]
        assert b["beta_sum"](store) == sum(slots)


def test_missing_cargo_exits_2(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("CARGO", str(tmp_path / "no-such-cargo"))
    assert main(["cargo", "build"]) == 2
    err = capfd.readouterr().err
    assert "loom-post: error: cannot run cargo" in err and "no-such-cargo" in err
    assert "Traceback" not in err

    monkeypatch.delenv("CARGO")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["cargo", "build"]) == 2
    assert "cannot find cargo" in capfd.readouterr().err


def test_cargo_failure_status_passes_through(tmp_path, cargo_wasm32, monkeypatch, capfd):
    """cargo's exit status is ours when cargo fails (here: no such manifest)."""
    cargo, env = cargo_wasm32
    use_env(monkeypatch, build_env(env))
    status = subprocess.run([cargo, "build", "--manifest-path", str(tmp_path / "Cargo.toml")],
                            capture_output=True).returncode
    assert status != 0
    assert main(["cargo", "build", "--manifest-path", str(tmp_path / "Cargo.toml")]) == status


def test_usage_errors(capfd):
    assert main(["cargo"]) == 2
    assert main(["cargo", "--loom-format", "yaml", "build"]) == 2
    assert main(["cargo", "--loom-frobnicate", "build"]) == 2
    err = capfd.readouterr().err
    assert err.count("loom-post: error:") == 3 and "Traceback" not in err
    assert main(["cargo", "--help"]) == 0
    assert "--loom-config FILE" in capfd.readouterr().out


def test_subcommand_strips_its_name(monkeypatch, capfd):
    from loom_post import cargo_subcommand
    assert cargo_subcommand.main(["loom-post", "--help"]) == 0
    assert "usage: loom-post cargo" in capfd.readouterr().out


def test_message_format_handling():
    from loom_post.integrations.cargo_messages import Collector, with_json_messages
    assert with_json_messages(["build", "--", "--message-format=x"]) == (
        ["build", "--message-format=json-render-diagnostics", "--", "--message-format=x"], False)
    assert with_json_messages(["build", "--message-format", "short"]) == (
        ["build", "--message-format=json-diagnostic-short,json-render-diagnostics"], False)
    assert with_json_messages(["build", "--message-format=human"]) == (
        ["build", "--message-format=json-render-diagnostics"], False)
    assert with_json_messages(["build", "--message-format=json"]) == (
        ["build", "--message-format=json"], True)

    c = Collector()
    lines = [
        '{"reason":"compiler-artifact","filenames":["/t/a.wasm","/t/liba.rlib"]}',
        "hello from a build\n",
        '{"reason":"compiler-artifact","filenames":["/t/b.wasm"]}',
        '{"reason":"compiler-artifact","fresh":true,"filenames":["/t/a.wasm"]}',
        '{"reason":"compiler-message","message":{}}',
        "{not json",
        '{"a program": "printing JSON"}',
    ]
    assert [c.feed(ln) is None for ln in lines] == [False, True, False, False, False, True, True]
    assert c.paths == ["/t/a.wasm", "/t/b.wasm"]


def test_loom_options_are_taken_before_dashdash_only(monkeypatch):
    from loom_post.integrations.cargo import manifest_dir, parse
    monkeypatch.delenv("LOOM_POST_CONFIG", raising=False)
    opts = parse(["build", "--loom-config=a.toml", "--release", "--loom-format", "json",
                  "--loom-keep-dwarf", "--", "--loom-config", "b.toml"])
    assert (opts.config, opts.format, opts.keep_dwarf) == ("a.toml", "json", True)
    assert opts.cargo_args == ["build", "--release", "--", "--loom-config", "b.toml"]
    monkeypatch.setenv("LOOM_POST_CONFIG", "env.toml")
    assert parse(["build"]).config == "env.toml"
    assert manifest_dir(["build", "--manifest-path=/x/y/Cargo.toml"]) == "/x/y"
    assert manifest_dir(["run", "--", "--manifest-path", "/x/Cargo.toml"]) is None


def test_program_output_passes_through_cargo_run(tmp_path, cargo_wasm32, monkeypatch, capfd):
    """Lines on cargo's stdout that are no cargo message (a program `cargo run`
    starts, here a host binary) reach our stdout unchanged, in order; only
    cargo's own JSON messages are consumed."""
    cargo, env = cargo_wasm32
    crate = tmp_path / "hello"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "hello"\nversion = "0.1.0"\n'
                                      'edition = "2021"\n\n[workspace]\n')
    (crate / "src" / "main.rs").write_text(
        'fn main() {\n    println!("plain line from the program");\n'
        '    println!("{{\\"looks\\": \\"like json\\"}}");\n}\n')
    use_env(monkeypatch, build_env(env))
    assert main(["cargo", "run", "--manifest-path", str(crate / "Cargo.toml")]) == 0
    out, _err = capfd.readouterr()
    assert out.splitlines()[-2:] == ["plain line from the program", '{"looks": "like json"}']
    assert '"reason"' not in out
