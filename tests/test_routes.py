"""Every route gives a module one identity and the same verdict: the wrapper
(`loom-post cargo`), the cargo sub-command, the linker hook, watch and check,
against one configuration and one baseline, in real cargo builds of
tests/data/rust_small. Also: profiles (debug builds untouched by default),
--keep-dwarf on every route, the first run, and the hook's choice of linker.
"""

import json
import os
import shutil
import subprocess
import threading

import pytest

from conftest import ROOT
from test_cargo import SCRIPTS, TRIPLE, build_env, copy_crate, read, script
from loom_post.wasm.module import read_module

pytestmark = pytest.mark.cargo

SMALL = os.path.join(ROOT, "tests", "data", "rust_small")
LINKER_VAR = "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER"
GROWTH = """
#[no_mangle]
pub extern "C" fn grown(x: u32) -> u32 {
    let mut a = x;
    for i in 0..x { a = a.rotate_left(5).wrapping_mul(0x9e37_79b9) ^ (i.wrapping_mul(31)); }
    for i in 0..(x & 7) { a = a.wrapping_add(i.wrapping_mul(a) ^ 0x5a5a_5a5a); }
    a
}
"""
# README's snippet, with the per-module table naming the artifact path.
CONFIG = """paths = ["target/wasm32-unknown-unknown/release/*.wasm"]
max-growth = "0 B"
baseline = "wasm-sizes.json"
max-growth-vs-baseline = "100 kB"

[[module]]
path = "target/*/release/rust_small.wasm"
max-growth-vs-baseline = "0 B"
"""


def release_dir(crate, profile="release", triple=TRIPLE):
    return os.path.join(crate, "target", triple, profile)


def artifact(crate, profile="release", triple=TRIPLE):
    return os.path.join(release_dir(crate, profile, triple), "rust_small.wasm")


def run(args, crate, env, **kw):
    return subprocess.run(args, cwd=crate, env=env, capture_output=True, text=True,
                          timeout=600, **kw)


def cargo_args(*extra, release=True, triple=TRIPLE):
    return ["build", "--target", triple, *(["--release"] if release else []), *extra]


def custom_sections(path):
    return [s.name for s in read_module(read(path)).sections if s.id == 0]


@pytest.fixture
def small(tmp_path, cargo_wasm32):
    cargo, env = cargo_wasm32
    crate = copy_crate(SMALL, tmp_path / "small")
    (tmp_path / "small" / ".git").mkdir()       # the project's root for config discovery
    return crate, cargo, build_env(env)


def clean(crate):
    shutil.rmtree(os.path.join(crate, "target"), ignore_errors=True)


# -------------------------------------------------- one identity on every route


def test_same_growth_fails_on_every_route(small):
    crate, cargo, env = small
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write(CONFIG)
    loom = script("loom-post")

    # First run: no baseline yet. The build is reported, the baseline is named.
    first = run([loom, "cargo", *cargo_args()], crate, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "target/wasm32-unknown-unknown/release/rust_small.wasm: code" in first.stdout
    assert "wasm-sizes.json does not exist yet" in first.stdout
    assert "`loom-post baseline` records it" in first.stdout
    recorded = run([loom, "baseline"], crate, env)
    assert recorded.returncode == 0, recorded.stderr
    keys = list(json.load(open(os.path.join(crate, "wasm-sizes.json")))["modules"])
    assert keys == ["target/wasm32-unknown-unknown/release/rust_small.wasm"]

    # Unchanged sources pass on the hook: the per-module 0 B allowance is met.
    clean(crate)
    same = run([cargo, *cargo_args()], crate, dict(env, **{LINKER_VAR: script("loom-post-link")}))
    assert same.returncode == 0, same.stderr

    with open(os.path.join(crate, "src", "lib.rs"), "a") as f:
        f.write(GROWTH)
    verdicts = {}
    clean(crate)
    verdicts["wrapper"] = run([loom, "cargo", *cargo_args()], crate, env)
    clean(crate)
    verdicts["subcommand"] = run([cargo, "loom-post", *cargo_args()], crate, env)
    clean(crate)
    verdicts["hook"] = run([cargo, *cargo_args()], crate,
                           dict(env, **{LINKER_VAR: script("loom-post-link")}))
    clean(crate)
    assert run([cargo, *cargo_args()], crate, env).returncode == 0     # plain build
    verdicts["check"] = run([loom, "check", "--no-brotli"], crate, env)
    for route, proc in verdicts.items():
        text = proc.stdout + proc.stderr
        expected = 101 if route == "hook" else 1
        assert proc.returncode == expected, (route, text)
        assert "max-growth-vs-baseline" in text, (route, text)
        assert "limit +0 B" in text, (route, text)      # the [[module]] table's allowance
        assert "grown" in text, (route, text)           # the function that grew is named
        # known by its artifact path on every route, the hook's deps/ file included
        assert "target/wasm32-unknown-unknown/release/rust_small.wasm" in text, (route, text)

    # watch, with the real watchdog, on a plain build of the grown crate.
    from test_watch import Watching
    clean(crate)
    w = Watching(crate)
    try:
        assert run([cargo, *cargo_args()], crate, env).returncode == 0
        line = w.out.wait_for(lambda l: l.startswith("FAIL") and "rust_small.wasm" in l,
                              what="FAIL line")
        assert "max-growth-vs-baseline" in line
    finally:
        w.stop()


def test_hook_knows_the_module_by_its_artifact_path(small):
    """A [[module]] cap on target/*/release/<name>.wasm applies to the deps/ file
    the linker writes (52 B over a 0 B allowance passed the hook before)."""
    crate, cargo, env = small
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('[[module]]\npath = "target/*/release/rust_small.wasm"\n'
                'max-code-size = "100 B"\n')
    proc = run([cargo, *cargo_args()], crate, dict(env, **{LINKER_VAR: script("loom-post-link")}))
    assert proc.returncode == 101, proc.stderr
    assert "target/wasm32-unknown-unknown/release/rust_small.wasm: code" in proc.stderr
    assert "over budget: max-code-size: limit 100 B" in proc.stderr


def test_hook_applies_per_module_switches_by_artifact_path(small):
    """`optimize = false` for the artifact path: the hook measures, never rewrites."""
    crate, cargo, env = small
    assert run([cargo, *cargo_args()], crate, env).returncode == 0
    plain = read(artifact(crate))
    clean(crate)
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('[[module]]\npath = "target/*/release/rust_small.wasm"\noptimize = false\n')
    hook_env = dict(env, **{LINKER_VAR: script("loom-post-link")})
    assert run([cargo, *cargo_args()], crate, hook_env).returncode == 0
    assert read(artifact(crate)) == plain
    clean(crate)
    os.remove(os.path.join(crate, "loom-post.toml"))       # control: the hook does rewrite
    assert run([cargo, *cargo_args()], crate, hook_env).returncode == 0
    assert len(read(artifact(crate))) < len(plain)


def test_uplifted_names():
    from loom_post.budget.cargo_layout import profile_of, uplifted
    d = os.path.join("t", TRIPLE, "release")
    assert uplifted(os.path.join(d, "deps", "my_crate.wasm")) == os.path.join(d, "my_crate.wasm")
    assert uplifted(os.path.join(d, "deps", "my_app-0123456789abcdef.wasm"),
                    bin_name="my-app") == os.path.join(d, "my-app.wasm")
    assert uplifted(os.path.join(d, "deps", "my_app-0123456789abcdef.wasm")) == \
        os.path.join(d, "my_app.wasm")
    assert uplifted(os.path.join(d, "examples", "demo-0123456789abcdef.wasm")) == \
        os.path.join(d, "examples", "demo.wasm")
    assert uplifted(os.path.join(d, "app.wasm")) == os.path.join(d, "app.wasm")
    assert uplifted("pkg/app_bg.wasm") == "pkg/app_bg.wasm"
    assert profile_of(os.path.join(d, "deps", "x.wasm")) == "release"
    assert profile_of(os.path.join("t", "wasm32-wasip1", "debug", "x.wasm")) == "debug"
    assert profile_of("pkg/app_bg.wasm") is None


def test_uplifted_bin_name_found_through_the_hard_link(tmp_path):
    from loom_post.budget.cargo_layout import uplifted
    d = tmp_path / TRIPLE / "release"
    (d / "deps").mkdir(parents=True)
    deps = d / "deps" / "my_app-0123456789abcdef.wasm"
    deps.write_bytes(b"\0asm\1\0\0\0")
    os.link(deps, d / "my-app.wasm")
    assert uplifted(str(deps)) == str(d / "my-app.wasm")


# --------------------------------------------------------------------- profiles


def test_debug_builds_are_left_alone_by_default(small):
    crate, cargo, env = small
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('max-code-size = "100 B"\n')
    assert run([cargo, *cargo_args(release=False)], crate, env).returncode == 0
    plain = read(artifact(crate, "debug"))
    assert ".debug_info" in custom_sections(artifact(crate, "debug"))
    clean(crate)
    hooked = run([cargo, *cargo_args(release=False)], crate,
                 dict(env, **{LINKER_VAR: script("loom-post-link")}))
    assert hooked.returncode == 0, hooked.stderr
    assert read(artifact(crate, "debug")) == plain
    wrapped = run([script("loom-post"), "cargo", *cargo_args(release=False)], crate, env)
    assert wrapped.returncode == 0, wrapped.stderr
    assert "rust_small.wasm: left as built (debug build" in wrapped.stderr
    assert read(artifact(crate, "debug")) == plain

    # Opted in: the same debug build is optimized and gated on both routes.
    with open(os.path.join(crate, "loom-post.toml"), "a") as f:
        f.write('profiles = ["release", "dev"]\nnever-grow = ["code"]\n')
    wrapped = run([script("loom-post"), "cargo", *cargo_args(release=False)], crate, env)
    assert wrapped.returncode == 1 and "over budget: max-code-size" in wrapped.stdout
    assert "--loom-keep-dwarf keeps it" in wrapped.stdout
    clean(crate)
    hooked = run([cargo, *cargo_args(release=False)], crate,
                 dict(env, **{LINKER_VAR: script("loom-post-link")}))
    assert hooked.returncode == 101 and "over budget: max-code-size" in hooked.stderr
    assert "LOOM_POST_KEEP_DWARF=1 (or keep-dwarf = true in loom-post.toml) keeps it" \
        in hooked.stderr


def test_keep_dwarf_on_every_route(small):
    crate, cargo, env = small
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('profiles = ["dev"]\nnever-grow = ["code"]\n')    # brotli of 2 MB is slow
    hook_env = dict(env, **{LINKER_VAR: script("loom-post-link")})
    assert run([cargo, *cargo_args(release=False)], crate, hook_env).returncode == 0
    assert ".debug_info" not in custom_sections(artifact(crate, "debug"))
    clean(crate)
    assert run([cargo, *cargo_args(release=False)], crate,
               dict(hook_env, LOOM_POST_KEEP_DWARF="1")).returncode == 0
    assert ".debug_info" in custom_sections(artifact(crate, "debug"))
    clean(crate)
    kept = run([script("loom-post"), "cargo", "--loom-keep-dwarf", *cargo_args(release=False)],
               crate, env)
    assert kept.returncode == 0, kept.stderr
    assert ".debug_info" in custom_sections(artifact(crate, "debug"))
    assert "dropped stale DWARF" not in kept.stdout
    clean(crate)
    with open(os.path.join(crate, "loom-post.toml"), "a") as f:
        f.write("keep-dwarf = true\n")
    assert run([cargo, *cargo_args(release=False)], crate, hook_env).returncode == 0
    assert ".debug_info" in custom_sections(artifact(crate, "debug"))


def test_watch_keeps_dwarf_when_asked_and_leaves_debug_builds_alone(small):
    from test_watch import Lines
    from loom_post.budget.config import load_config
    from loom_post.commands.watch import run_watch
    crate, cargo, env = small
    assert run([cargo, *cargo_args(release=False)], crate, env).returncode == 0
    debug = artifact(crate, "debug")
    plain = read(debug)

    def watch_once(config_text, keep_dwarf):
        with open(os.path.join(crate, "loom-post.toml"), "w") as f:
            f.write(config_text)
        out, stop = Lines(), threading.Event()
        config = load_config(cwd=crate)
        t = threading.Thread(target=run_watch, args=([os.path.join(crate, "target")], config),
                             kwargs=dict(out=out, err=out, stop_event=stop, debounce=0.1,
                                         keep_dwarf=keep_dwarf), daemon=True)
        t.start()
        try:
            return out.wait_for(lambda l: "rust_small.wasm" in l and (
                ": code" in l or "left as built" in l), what="a line for the debug module",
                timeout=240)     # a 2 MB debug module, on a loaded machine
        finally:
            stop.set()
            t.join(60)

    line = watch_once("", False)
    assert "left as built (debug build" in line and read(debug) == plain
    line = watch_once('profiles = ["dev"]\nnever-grow = ["code"]\n', True)
    assert ": code" in line and read(debug) != plain
    assert ".debug_info" in custom_sections(debug)


# ------------------------------------------------------------------- first run


def test_first_run_hook_does_not_fail_for_a_missing_baseline(small):
    crate, cargo, env = small
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write(CONFIG)
    proc = run([cargo, *cargo_args()], crate, dict(env, **{LINKER_VAR: script("loom-post-link")}))
    assert proc.returncode == 0, proc.stderr
    assert not os.path.exists(os.path.join(crate, "wasm-sizes.json"))
    # `loom-post baseline` is then the one command that records it.
    assert run([script("loom-post"), "baseline"], crate, env).returncode == 0
    assert os.path.exists(os.path.join(crate, "wasm-sizes.json"))


def test_watch_reports_config_errors_in_one_line_and_reloads(tmp_path):
    """A broken edit is one error line (never `internal error`); a fixed one applies."""
    from test_watch import Lines, _write, module_bytes
    from loom_post.budget.config import load_config
    from loom_post.commands.watch import run_watch
    project = tmp_path / "p"
    release = project / "target" / TRIPLE / "release"
    release.mkdir(parents=True)
    toml = project / "loom-post.toml"
    toml.write_text(CONFIG)                     # its baseline does not exist yet
    out, stop = Lines(), threading.Event()
    t = threading.Thread(target=run_watch, args=([], load_config(cwd=str(project))),
                         kwargs=dict(out=out, err=out, stop_event=stop, debounce=0.1),
                         daemon=True)
    t.start()
    try:
        out.wait_for(lambda l: l.startswith("watching "), what="watching line")
        _write(release / "a.wasm", module_bytes(seed=1))
        out.wait_for(lambda l: "wasm-sizes.json does not exist yet" in l, what="baseline note")
        toml.write_text('max-code-size = "10 lightyears"\n')
        err = out.wait_for(lambda l: "error" in l and "loom-post.toml" in l, what="config error")
        assert "previous configuration stays in force" in err
        toml.write_text('max-code-size = "10 B"\n')
        out.wait_for(lambda l: "configuration reloaded" in l, what="reload")
        _write(release / "b.wasm", module_bytes(seed=2))
        out.wait_for(lambda l: l.startswith("FAIL") and "b.wasm" in l, what="FAIL with new cap")
    finally:
        stop.set()
        t.join(60)
    assert not any("internal error" in l or "Traceback" in l for l in out.snapshot())


def test_watch_with_a_bad_config_exits_2_in_one_line(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "loom-post.toml").write_text("max-code-size = [\n")
    proc = subprocess.run([script("loom-post"), "watch"], cwd=project, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "malformed TOML" in proc.stderr
    assert "internal error" not in proc.stderr


# ------------------------------------------------------------------ entry points


@pytest.mark.parametrize("argv,needle", [
    (["loom-post-link", "--version"], "loom-post 0.1.0"),
    (["loom-post-link", "--help"], "usage: loom-post-link"),
    (["cargo-loom-post", "loom-post", "--version"], "loom-post 0.1.0"),
    (["cargo-loom-post", "loom-post", "--help"], "usage: loom-post cargo"),
])
def test_entry_points_answer_version_and_help_themselves(argv, needle, tmp_path):
    proc = subprocess.run([script(argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert needle in proc.stdout and "rust-lld" not in proc.stderr


def test_cargo_loom_post_version_through_cargo(small):
    crate, cargo, env = small
    proc = run([cargo, "loom-post", "--version"], crate, env)
    assert proc.returncode == 0 and proc.stdout.strip() == "loom-post 0.1.0", proc.stderr


def test_hook_links_with_the_linking_toolchain_not_the_first_rustc_on_path(small, tmp_path):
    """A `rustc` first on PATH that belongs to another toolchain (its sysroot holds
    a rust-lld that fails) must not be the linker the hook runs."""
    crate, cargo, env = small
    fake = tmp_path / "other-toolchain"
    lld = fake / "lib" / "rustlib" / "x86_64-unknown-linux-gnu" / "bin" / "rust-lld"
    lld.parent.mkdir(parents=True)
    lld.write_text("#!/bin/sh\necho wrong toolchain linker >&2\nexit 7\n")
    lld.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "rustc").write_text(f"#!/bin/sh\necho {fake}\n")
    (bindir / "rustc").chmod(0o755)
    hook_env = dict(env, PATH=f"{bindir}{os.pathsep}{env['PATH']}",
                    **{LINKER_VAR: script("loom-post-link")})
    # cargo itself runs the real rustc ($RUSTC); only the hook could pick the fake.
    proc = run([cargo, *cargo_args()], crate, hook_env)
    assert proc.returncode == 0, proc.stderr
    assert "wrong toolchain linker" not in proc.stderr
    read_module(read(artifact(crate)))


def test_linker_sysroot_from_the_library_path_argument():
    from loom_post.integrations.link import _args_sysroot
    args = ["-flavor", "wasm", "-L", "/x/t/wasm32-unknown-unknown/release/deps",
            "-L", "/opt/rust/lib/rustlib/wasm32-unknown-unknown/lib", "-o", "a.wasm"]
    assert _args_sysroot(args) == "/opt/rust"
    assert _args_sysroot(["-L/usr/lib/rustlib/wasm32-wasip1/lib"]) == "/usr"
    assert _args_sysroot(["-o", "a.wasm"]) is None


# ------------------------------------------------------------ the target directory


def test_default_paths_follow_cargo_target_dir(small, tmp_path):
    crate, cargo, env = small
    elsewhere = tmp_path / "elsewhere"
    env = dict(env, CARGO_TARGET_DIR=str(elsewhere))
    assert run([cargo, *cargo_args()], crate, env).returncode == 0
    (tmp_path / "small" / "loom-post.toml").write_text('max-code-size = "100 B"\n')
    proc = run([script("loom-post"), "check", "--no-brotli"], crate, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert str(elsewhere / TRIPLE / "release" / "rust_small.wasm") in proc.stdout \
        or "elsewhere/wasm32-unknown-unknown/release/rust_small.wasm" in proc.stdout


def test_default_paths_follow_build_target_dir(small):
    crate, cargo, env = small
    os.makedirs(os.path.join(crate, ".cargo"))
    with open(os.path.join(crate, ".cargo", "config.toml"), "w") as f:
        f.write('[build]\ntarget-dir = "out"\n')
    assert run([cargo, *cargo_args()], crate, env).returncode == 0
    assert os.path.exists(os.path.join(crate, "out", TRIPLE, "release", "rust_small.wasm"))
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('max-code-size = "100 B"\n')
    proc = run([script("loom-post"), "check", "--no-brotli"], crate, env)
    assert proc.returncode == 1 and "out/wasm32-unknown-unknown/release/rust_small.wasm" \
        in proc.stdout, proc.stdout + proc.stderr


def test_hook_on_the_wasi_target(small):
    """wasm32-wasi (wasm32-wasip1 on newer toolchains): the same hook, the same gate."""
    crate, cargo, env = small
    triple = "wasm32-wasi"
    sysroot = subprocess.run([env["RUSTC"], "--print", "sysroot"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.isdir(os.path.join(sysroot, "lib", "rustlib", triple)):
        pytest.skip(f"the {triple} std is not installed (apt-get install libstd-rust-dev-wasm32)")
    with open(os.path.join(crate, "loom-post.toml"), "w") as f:
        f.write('[[module]]\npath = "target/wasm32-*/release/rust_small.wasm"\n'
                'max-code-size = "100 B"\n')
    var = "CARGO_TARGET_" + triple.upper().replace("-", "_") + "_LINKER"
    proc = run([cargo, *cargo_args(triple=triple)], crate,
               dict(env, **{var: script("loom-post-link")}))
    assert proc.returncode == 101, proc.stderr
    assert f"target/{triple}/release/rust_small.wasm: code" in proc.stderr
    assert "over budget: max-code-size: limit 100 B" in proc.stderr
