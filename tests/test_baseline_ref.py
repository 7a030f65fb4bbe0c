"""`check --baseline-ref REF`: the baseline file as committed at `git merge-base
REF HEAD`, read with `git show` from real repositories in temporary directories
(no rebuild of the base), and the one-line errors (exit 2) when git cannot say."""

import json
import os
import shutil

import pytest

from loom_post.cli import main

wasmtime = pytest.importorskip("wasmtime")
if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)

from cli_util import git, run  # noqa: E402
from wat_util import write_nop_module as write  # noqa: E402

CONFIG = 'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n'


def record(capsys, nops):
    write("app.wasm", {"main": nops})
    assert main(["baseline", "app.wasm"]) == 0
    capsys.readouterr()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """main: baseline at 40 nops; then main moves on to 30; the branch `feature`
    forks from the first commit and records 80."""
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "loom-post.toml").write_text(CONFIG)
    return tmp_path


def test_compares_with_the_merge_base_not_the_work_tree(repo, capsys):
    record(capsys, 40)
    git(repo, "add", "loom-post.toml", "sizes.json")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    record(capsys, 80)                       # the branch re-recorded its growth
    git(repo, "commit", "-qam", "feature grows")
    git(repo, "checkout", "-q", "main")
    record(capsys, 30)                       # main moved on after the fork
    git(repo, "commit", "-qam", "main shrinks")
    git(repo, "checkout", "-q", "feature")
    write("app.wasm", {"main": 80})
    # against the work tree's baseline (recorded at 80): no growth
    assert run(capsys, "check", "app.wasm")[0] == 0
    # against the merge-base (40), not main's tip (30)
    code, out, _ = run(capsys, "check", "app.wasm", "--baseline-ref", "main")
    assert code == 1
    assert "actual +40 B: FAIL" in out and "grew by 40 bytes" in out
    # the work tree's file is untouched
    assert git(repo, "status", "--porcelain", "sizes.json") == ""


def test_uncommitted_changes_to_the_baseline_are_ignored(repo, capsys):
    record(capsys, 40)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    record(capsys, 60)                       # recorded but not committed
    assert run(capsys, "check", "app.wasm")[0] == 0
    code, out, _ = run(capsys, "check", "app.wasm", "--baseline-ref", "HEAD")
    assert code == 1 and "actual +20 B" in out


def test_from_a_subdirectory_with_config(repo, capsys):
    sub = repo / "web"
    sub.mkdir()
    os.rename(repo / "loom-post.toml", sub / "loom-post.toml")
    os.chdir(sub)
    record(capsys, 40)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    write("app.wasm", {"main": 41})
    os.chdir(repo)
    code, out, _ = run(capsys, "check", "--config", "web/loom-post.toml", "web/app.wasm",
                       "--baseline-ref", "HEAD", "--format", "json")
    assert code == 1 and '"actual": 1' in out


def test_unknown_ref_is_exit_2(repo, capsys):
    record(capsys, 40)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    code, _, err = run(capsys, "check", "app.wasm", "--baseline-ref", "no-such-branch")
    assert code == 2
    assert err == ("loom-post: error: --baseline-ref no-such-branch: unknown revision "
                   f"'no-such-branch' in {repo} (in CI, fetch it first, e.g. actions/checkout "
                   "with fetch-depth: 0)\n")


def test_file_missing_at_the_merge_base_is_exit_2(repo, capsys):
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "commit", "-qm", "before any baseline")
    record(capsys, 40)
    git(repo, "checkout", "-qb", "feature")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline on the branch")
    sha = git(repo, "rev-parse", "main")
    code, _, err = run(capsys, "check", "app.wasm", "--baseline-ref", "main")
    assert code == 2
    assert err == (f"loom-post: error: --baseline-ref main: sizes.json did not exist at "
                   f"{sha[:12]}\n")


def test_not_a_git_repository_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "loom-post.toml").write_text(CONFIG)
    record(capsys, 40)
    code, _, err = run(capsys, "check", "app.wasm", "--baseline-ref", "main")
    assert code == 2
    assert err == (f"loom-post: error: --baseline-ref main: {tmp_path} is not in a git "
                   f"repository\n")


def test_no_baseline_configured_is_exit_2(repo, capsys):
    (repo / "loom-post.toml").write_text("max-code-size = 100\n")
    write("app.wasm", {"main": 4})
    code, _, err = run(capsys, "check", "app.wasm", "--baseline-ref", "main")
    assert code == 2 and "no `baseline` file is configured" in err


def test_malformed_baseline_at_the_ref_is_exit_2(repo, capsys):
    write("app.wasm", {"main": 4})
    (repo / "sizes.json").write_text("{not json")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "broken")
    code, _, err = run(capsys, "check", "app.wasm", "--baseline-ref", "HEAD")
    assert code == 2 and "sizes.json at " in err and "malformed JSON" in err


# -- diff --baseline-ref ------------------------------------------------------------------

def test_diff_against_the_merge_base_entry(repo, capsys):
    write("app.wasm", {"main": 40, "helper": 5})
    assert main(["baseline", "app.wasm"]) == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    write("app.wasm", {"main": 52, "extra": 3})
    assert main(["baseline", "app.wasm"]) == 0       # the branch re-recorded: not used
    capsys.readouterr()
    code, out, _ = run(capsys, "diff", "--baseline-ref", "main", "app.wasm", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    sha = git(repo, "rev-parse", "main")
    assert doc["old"] == f"app.wasm in {repo / 'sizes.json'} at {sha[:12]}"
    assert (doc["added"], doc["removed"], doc["changed"]) == (1, 1, 1)
    by_name = {f["name"]: f for f in doc["functions"]}
    assert by_name["main"]["delta"] == 12 and by_name["helper"]["status"] == "removed"
    assert doc["delta_bytes"] == doc["code_bytes_after"] - doc["code_bytes_before"]
    assert doc["gzip_bytes_before"] > 0 and "gzip_delta_bytes" in doc
    code, out, _ = run(capsys, "diff", "--baseline-ref", "main", "app.wasm")
    assert code == 0 and "+12" in out and "main" in out


def test_diff_baseline_ref_errors(repo, capsys):
    record(capsys, 4)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    write("other.wasm", {"main": 4})
    code, _, err = run(capsys, "diff", "--baseline-ref", "HEAD", "other.wasm")
    assert code == 2 and "has no entry for other.wasm" in err
    code, _, err = run(capsys, "diff", "--baseline-ref", "HEAD", "app.wasm", "other.wasm")
    assert code == 2 and "takes one module (NEW)" in err
    code, _, err = run(capsys, "diff", "app.wasm")
    assert code == 2 and "diff needs OLD and NEW" in err
