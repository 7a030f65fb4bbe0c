"""`loom-post baseline`: the file's layout (stable, sorted, relative paths), updates
that keep other modules' entries, per-module baseline files, and errors."""

import json

import pytest

from loom_post.sizes import brotli_size, gzip_size

wasmtime = pytest.importorskip("wasmtime")

from wat_util import write_nop_module as write  # noqa: E402
from cli_util import run  # noqa: E402


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loom-post.toml").write_text(
        'baseline = "ci/sizes.json"\nmax-growth-vs-baseline = "0 B"\n'
        'paths = ["target/*/release/*.wasm"]\n')
    (tmp_path / "ci").mkdir()
    return tmp_path


def test_baseline_file_layout(project, capsys, monkeypatch):
    rel = "target/wasm32-unknown-unknown/release/app.wasm"
    size = write(project / rel, {"zeta": 3, "alpha": 10})
    write(project / "target/wasm32-unknown-unknown/release/lib.wasm", {"f": 1}, named=False,
          imports=1)
    # run from a subdirectory: keys stay relative to the config file's directory
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")
    code, out, _ = run(capsys, "baseline")
    assert code == 0
    assert "recorded 2 modules (2 new, 0 updated), kept 0 other entries" in out
    text = (project / "ci" / "sizes.json").read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2) + "\n"
    assert doc["version"] == 1
    entry = doc["modules"][rel]
    assert {k: entry[k] for k in ("code_bytes", "functions")} == \
        {"code_bytes": size, "functions": {"alpha": 12, "zeta": 5}}
    data = (project / rel).read_bytes()
    assert entry["file_bytes"] == len(data)
    assert entry["gzip_bytes"] == gzip_size(data) and entry["brotli_bytes"] == brotli_size(data)
    # no name section: keyed by function index, which counts the import
    assert doc["modules"]["target/wasm32-unknown-unknown/release/lib.wasm"]["functions"] == \
        {"func[1]": 3}
    assert list(doc["modules"]) == sorted(doc["modules"])


def test_update_keeps_modules_not_measured(project, capsys):
    write(project / "target/x/release/a.wasm", {"f": 5})
    write(project / "target/x/release/b.wasm", {"f": 5})
    assert run(capsys, "baseline")[0] == 0
    first = json.loads((project / "ci" / "sizes.json").read_text())
    size = write(project / "target/x/release/a.wasm", {"f": 9, "g": 1})
    code, out, _ = run(capsys, "baseline", "target/x/release/a.wasm")
    assert code == 0
    assert "recorded 1 module (0 new, 1 updated), kept 1 other entry" in out
    doc = json.loads((project / "ci" / "sizes.json").read_text())
    assert doc["modules"]["target/x/release/b.wasm"] == first["modules"]["target/x/release/b.wasm"]
    entry = doc["modules"]["target/x/release/a.wasm"]
    assert {k: entry[k] for k in ("code_bytes", "functions")} == \
        {"code_bytes": size, "functions": {"f": 11, "g": 3}}


def test_check_passes_right_after_recording_and_fails_after_growth(project, capsys):
    write(project / "target/x/release/a.wasm", {"f": 5})
    assert run(capsys, "baseline")[0] == 0
    assert run(capsys, "check")[0] == 0
    write(project / "target/x/release/a.wasm", {"f": 6})
    code, out, _ = run(capsys, "check")
    assert code == 1 and "max-growth-vs-baseline" in out
    assert run(capsys, "baseline")[0] == 0
    assert run(capsys, "check")[0] == 0


def test_per_module_baseline_files(project, capsys):
    (project / "loom-post.toml").write_text(
        'baseline = "ci/sizes.json"\npaths = ["*.wasm"]\n'
        '[[module]]\npath = "vendor*.wasm"\nbaseline = "ci/vendor.json"\n')
    write(project / "app.wasm", {"f": 5})
    write(project / "vendor_x.wasm", {"v": 7})
    assert run(capsys, "baseline")[0] == 0
    assert list(json.loads((project / "ci" / "sizes.json").read_text())["modules"]) == ["app.wasm"]
    assert list(json.loads((project / "ci" / "vendor.json").read_text())["modules"]) == \
        ["vendor_x.wasm"]


def test_unreadable_module_exits_3_keeps_its_entry_and_records_the_rest(project, capsys):
    write(project / "target/x/release/a.wasm", {"f": 5})
    write(project / "target/x/release/b.wasm", {"f": 5})
    assert run(capsys, "baseline")[0] == 0
    old_b = json.loads((project / "ci" / "sizes.json").read_text())["modules"][
        "target/x/release/b.wasm"]
    (project / "target/x/release/b.wasm").write_bytes(b"\0asm\1\0\0\0\x01\x09")
    size = write(project / "target/x/release/a.wasm", {"f": 50})
    code, _, err = run(capsys, "baseline")
    assert code == 3
    assert "loom-post: error: target/x/release/b.wasm:" in err and "at byte" in err
    doc = json.loads((project / "ci" / "sizes.json").read_text())
    assert doc["modules"]["target/x/release/a.wasm"]["code_bytes"] == size
    assert doc["modules"]["target/x/release/b.wasm"] == old_b
    assert (project / "target/x/release/b.wasm").read_bytes() == b"\0asm\1\0\0\0\x01\x09"


def test_no_baseline_configured_is_a_usage_error(project, capsys):
    (project / "loom-post.toml").write_text('max-code-size = "1 kB"\n')
    write(project / "a.wasm", {"f": 5})
    code, _, err = run(capsys, "baseline", "a.wasm")
    assert code == 2 and "no `baseline` file is configured" in err


def test_malformed_existing_baseline_is_left_untouched(project, capsys):
    write(project / "target/x/release/a.wasm", {"f": 5})
    (project / "ci" / "sizes.json").write_text('["not", "a", "baseline"]')
    code, _, err = run(capsys, "baseline")
    assert code == 2 and "not a loom-post baseline file" in err
    assert (project / "ci" / "sizes.json").read_text() == '["not", "a", "baseline"]'


def test_baseline_directory_missing_is_a_usage_error(project, capsys):
    (project / "loom-post.toml").write_text('baseline = "nowhere/sizes.json"\n')
    write(project / "a.wasm", {"f": 5})
    code, _, err = run(capsys, "baseline", "a.wasm")
    assert code == 2 and "does not exist" in err
