"""`loom-post history`: module sizes commit by commit from the baseline file's git
log, in a real repository with several commits: text, JSON and the SVG chart."""

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from loom_post.cli import main

wasmtime = pytest.importorskip("wasmtime")
if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)

from cli_util import git, run  # noqa: E402
from wat_util import write_nop_module as write  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def commit(repo, capsys, message, **modules):
    """Rebuild the given modules ({name: nops}), record them, commit; their code sizes."""
    sizes = {}
    for name, nops in modules.items():
        sizes[name] = write(repo / name, {"main": nops})
    assert main(["baseline", "--no-brotli", *modules]) == 0
    capsys.readouterr()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return sizes


@pytest.fixture
def repo(tmp_path, monkeypatch, capsys):
    """Four commits to sizes.json: app grows, lib is added, app shrinks; one
    commit in between touches only an unrelated file."""
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "loom-post.toml").write_text('baseline = "sizes.json"\n')
    history = [commit(tmp_path, capsys, "first", **{"app.wasm": 10})]
    history.append(commit(tmp_path, capsys, "app grows", **{"app.wasm": 30}))
    (tmp_path / "README").write_text("unrelated\n")
    git(tmp_path, "add", "README")
    git(tmp_path, "commit", "-qm", "unrelated")
    history.append(commit(tmp_path, capsys, "add lib", **{"lib.wasm": 5}))
    history.append(commit(tmp_path, capsys, "app shrinks", **{"app.wasm": 20}))
    return tmp_path, [h.get("app.wasm") for h in history]


def test_json_lists_each_change_per_module_and_measure(repo, capsys):
    path, app = repo
    code, out, _ = run(capsys, "history", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1
    assert [c["subject"] for c in doc["commits"]] == ["first", "app grows", "add lib",
                                                      "app shrinks"]
    shas = git(path, "log", "--format=%H", "--", "sizes.json").split()[::-1]
    assert [c["commit"] for c in doc["commits"]] == shas
    mods = {m["path"]: m for m in doc["modules"]}
    assert set(mods) == {"app.wasm", "lib.wasm"}
    code_points = mods["app.wasm"]["code"]
    # "add lib" did not change app.wasm: no point for it
    assert [p["commit"] for p in code_points] == [shas[0], shas[1], shas[3]]
    assert [p["bytes"] for p in code_points] == [app[0], app[1], app[3]]
    assert [p["delta"] for p in code_points] == [None, app[1] - app[0], app[3] - app[1]]
    assert set(mods["app.wasm"]) == {"path", "baseline", "code", "file", "gzip"}  # no brotli
    assert [p["commit"] for p in mods["lib.wasm"]["file"]] == [shas[2]]


def test_text_table(repo, capsys):
    path, app = repo
    code, out, _ = run(capsys, "history", "--module", "app.wasm", "--measure", "code,gzip")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "app.wasm (sizes.json, 3 changes)"
    assert lines[1].split() == ["commit", "date", "code", "gzip", "subject"]
    assert lines[3].split()[2:4] == [str(app[1]), f"(+{app[1] - app[0]},"]
    assert lines[3].endswith("app grows") and lines[4].endswith("app shrinks")
    assert f"overall: code {app[0]} -> {app[3]} (+{app[3] - app[0]}" in out
    assert "lib.wasm" not in out


def test_svg_chart_is_self_contained(repo, capsys, tmp_path):
    path, app = repo
    out_svg = tmp_path / "chart.svg"
    code, _, _ = run(capsys, "history", "--svg", str(out_svg), "--measure", "code")
    assert code == 0
    text = out_svg.read_text()
    root = ET.fromstring(text)
    assert root.tag == SVG + "svg"
    assert "href" not in text and "<script" not in text and "http" not in text.replace(
        "http://www.w3.org/2000/svg", "")
    lines = root.findall(SVG + "polyline")
    assert [l.find(SVG + "title").text for l in lines] == ["app.wasm code", "lib.wasm code"]
    points = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert len(points) == 3
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs)
    # SVG y grows downwards: the grown size is highest, the first lowest
    assert ys[1] < ys[2] < ys[0]
    labels = [t.text for t in root.iter(SVG + "text")]
    assert "app.wasm code" in labels


def test_limit_keeps_the_last_commits(repo, capsys):
    code, out, _ = run(capsys, "history", "--format", "json", "--limit", "2")
    doc = json.loads(out)
    assert [c["subject"] for c in doc["commits"]] == ["add lib", "app shrinks"]


def test_a_broken_commit_is_skipped_with_a_note(repo, capsys):
    path, _ = repo
    (path / "sizes.json").write_text("{broken")
    git(path, "commit", "-qam", "oops")
    code, out, err = run(capsys, "history", "--format", "json")
    assert code == 0
    assert len(json.loads(out)["commits"]) == 4
    assert "loom-post: note: skipped" in err and "malformed JSON" in err


def test_not_a_repository_and_no_baseline_are_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "loom-post.toml").write_text('baseline = "sizes.json"\n')
    code, _, err = run(capsys, "history")
    assert code == 2 and err == f"loom-post: error: history: {tmp_path} is not in a git repository\n"
    (tmp_path / "loom-post.toml").write_text("max-code-size = 5\n")
    code, _, err = run(capsys, "history")
    assert code == 2 and "no `baseline` file is configured" in err
    code, _, err = run(capsys, "history", "--measure", "size")
    assert code == 2 and "unknown measure 'size'" in err


def test_no_commits_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q")
    (tmp_path / "loom-post.toml").write_text('baseline = "sizes.json"\n')
    code, out, _ = run(capsys, "history")
    assert code == 0 and "no module sizes recorded" in out
