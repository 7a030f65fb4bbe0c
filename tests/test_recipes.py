"""The wasm-pack and trunk recipes of docs/recipes.md, on the file that ships.

A real cargo build of a crate named `my-app` (cargo writes my_app.wasm), then the
layout each tool leaves: wasm-pack's `pkg/my_app_bg.wasm` (after wasm-bindgen and
wasm-opt) and trunk's `dist/my-app-<hash>_bg.wasm`. The wasm-bindgen CLI, wasm-pack
and trunk are not installed here (nor packaged by Debian), so the cargo output
stands in for wasm-bindgen's `_bg.wasm`; wasm-opt is the real binaryen one, and
the file trees are real. The gate is what is tested: it acts on the shipped names.
"""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from cli_util import run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RUST_SMALL = os.path.join(HERE, "data", "rust_small")
EXTRA_FN = """
#[no_mangle]
pub extern "C" fn added_later(x: u32, y: u32) -> u32 {
    let mut a = x;
    let mut i = 0;
    while i < y { a = a.rotate_left(5) ^ i.wrapping_mul(0x9E37_79B9); i += 1; }
    a
}
"""


@pytest.fixture
def crate(tmp_path, cargo_wasm32):
    """(build(), project dir): build() runs cargo and returns the .wasm bytes."""
    cargo, env = cargo_wasm32
    proj = tmp_path / "my-app"
    shutil.copytree(RUST_SMALL, proj)
    toml = (proj / "Cargo.toml").read_text().replace('name = "rust_small"', 'name = "my-app"')
    (proj / "Cargo.toml").write_text(toml)
    (proj / "Cargo.lock").write_text((proj / "Cargo.lock").read_text()
                                     .replace('name = "rust_small"', 'name = "my-app"'))
    (proj / ".git").mkdir()

    def build():
        r = subprocess.run([cargo, "build", "--release", "--offline", "--target",
                            "wasm32-unknown-unknown"], cwd=proj, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return (proj / "target/wasm32-unknown-unknown/release/my_app.wasm").read_bytes()
    return build, proj


def wasm_pack_layout(proj, wasm, wasm_opt):
    """pkg/ as `wasm-pack build --release` leaves it."""
    pkg = proj / "pkg"
    pkg.mkdir(exist_ok=True)
    bg = pkg / "my_app_bg.wasm"
    bg.write_bytes(wasm)                         # wasm-bindgen's output (stand-in)
    subprocess.run([wasm_opt, "-Os", str(bg), "-o", str(bg)], check=True, timeout=120)
    (pkg / "my_app.js").write_text("export default function init() {}\n")
    (pkg / "my_app_bg.wasm.d.ts").write_text("export const memory: WebAssembly.Memory;\n")
    (pkg / "package.json").write_text(json.dumps({"name": "my-app", "files": ["my_app_bg.wasm"]}))
    return bg


def trunk_layout(proj, wasm):
    """dist/ as `trunk build --release` leaves it: names carry a content hash."""
    dist = proj / "dist"
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir()
    h = hashlib.sha256(wasm).hexdigest()[:16]
    bg = dist / f"my-app-{h}_bg.wasm"
    bg.write_bytes(wasm)
    (dist / f"my-app-{h}.js").write_text("export default function init() {}\n")
    (dist / "index.html").write_text(f'<script type="module">import init from '
                                     f'"./my-app-{h}.js"; init("./my-app-{h}_bg.wasm");'
                                     f'</script>\n')
    return bg


def test_wasm_pack_recipe_gates_the_shipped_file(crate, wasm_opt, capsys, monkeypatch):
    build, proj = crate
    bg = wasm_pack_layout(proj, build(), wasm_opt)
    monkeypatch.chdir(proj)
    (proj / "loom-post.toml").write_text(
        'strict = true\npaths = ["pkg/*_bg.wasm"]\nbaseline = "wasm-sizes.json"\n'
        'max-growth-vs-baseline = "0 B"\n')
    shipped = bg.read_bytes()
    assert run(capsys, "baseline", "--no-brotli")[0] == 0   # once, on the first build
    code, out, err = run(capsys, "optimize")    # after wasm-opt: loom-post runs last
    assert code == 0, err
    assert out.startswith("pkg/my_app_bg.wasm: code ")
    assert len(bg.read_bytes()) <= len(shipped)  # never-grow on the file that ships
    assert run(capsys, "baseline", "--no-brotli")[0] == 0
    assert list(json.loads((proj / "wasm-sizes.json").read_text())["modules"]) == \
        ["pkg/my_app_bg.wasm"]
    code, out, err = run(capsys, "check", "--no-brotli")
    assert code == 0 and err == "" and "pkg/my_app_bg.wasm" in out
    # A new export grows the shipped module: the gate fails on pkg/, by name.
    with open(proj / "src" / "lib.rs", "a") as f:
        f.write(EXTRA_FN)
    wasm_pack_layout(proj, build(), wasm_opt)
    code, out, _ = run(capsys, "check", "--no-brotli")
    assert code == 1
    assert "pkg/my_app_bg.wasm: code section" in out and "FAIL" in out.upper()
    # wasm-opt dropped the name section, so the new function is named by index.
    assert "functions that grew most since the baseline" in out and "(new)" in out


def test_wasm_pack_near_miss_names_the_bg_file(crate, wasm_opt, capsys, monkeypatch):
    build, proj = crate
    wasm_pack_layout(proj, build(), wasm_opt)
    monkeypatch.chdir(proj)
    (proj / "loom-post.toml").write_text('paths = ["pkg/my-app_bg.wasm"]\n')
    code, _, err = run(capsys, "check")
    assert code == 2
    assert 'did you mean "pkg/my_app_bg.wasm"?' in err


def test_trunk_recipe_follows_the_module_across_hashes(crate, capsys, monkeypatch):
    build, proj = crate
    first = trunk_layout(proj, build())
    monkeypatch.chdir(proj)
    (proj / "loom-post.toml").write_text(
        'strict = true\npaths = ["dist/*_bg.wasm"]\nbaseline = "wasm-sizes.json"\n'
        'baseline-ignore-hash = true\nmax-growth-vs-baseline = "0 B"\n')
    assert run(capsys, "baseline", "--no-brotli")[0] == 0   # once, on the first build
    assert run(capsys, "optimize")[0] == 0
    assert run(capsys, "baseline", "--no-brotli")[0] == 0
    assert list(json.loads((proj / "wasm-sizes.json").read_text())["modules"]) == \
        ["dist/my-app_bg.wasm"]
    with open(proj / "src" / "lib.rs", "a") as f:
        f.write(EXTRA_FN)
    second = trunk_layout(proj, build())
    assert first.name != second.name and not first.exists()
    code, out, err = run(capsys, "check", "--no-brotli")
    assert code == 1, out + err
    assert second.name in out and "since the baseline" in out
    assert "added_later" in out
