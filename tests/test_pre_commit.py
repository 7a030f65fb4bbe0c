"""The pre-commit hooks (.pre-commit-hooks.yaml), run by the real `pre-commit`.

Each test makes a throwaway git project in tmp_path (a loom-post.toml and a
module under the git-ignored target/) and runs `pre-commit try-repo HOOK_REPO
loom-post-check --all-files` in it, the way a user tries a hook from a checkout.
HOOK_REPO is a session-wide git snapshot of this checkout's working tree (tracked
and untracked, not ignored, files): try-repo alone would only carry over tracked
files, so new files (like the hooks manifest itself, before it is committed)
would be missing. pre-commit builds a virtualenv and pip-installs loom-post from
the snapshot; when that cannot be done for want of network, the tests skip.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest
import wasmtime
import yaml

from conftest import ROOT

MODULE = os.path.join("target", "wasm32-unknown-unknown", "release", "app.wasm")
NETWORK_TROUBLE = ("NewConnectionError", "Temporary failure in name resolution",
                   "Network is unreachable", "Could not find a version that satisfies",
                   "No matching distribution found", "ProxyError", "Max retries exceeded",
                   "Name or service not known", "ConnectTimeout", "ReadTimeout")


def _git(*args, cwd, env=None):
    return subprocess.run(["git", "-c", "user.name=loom-post tests",
                           "-c", "user.email=tests@loom-post.invalid",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main",
                           *args], cwd=cwd, env=env or _clean_env(), check=True,
                          capture_output=True, text=True).stdout


def _clean_env(**extra):
    """The environment without what a surrounding git hook or pre-commit run sets."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PRE_COMMIT"))}
    # try-repo installs loom-post afresh for every test: without its compiled
    # build (setup.py), which would cost a minute each and changes no result.
    env["LOOM_POST_NO_COMPILE"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    probe = subprocess.run([sys.executable, "-m", "pre_commit", "--version"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    snapshot = tmp_path_factory.mktemp("hook-repo")
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for rel in sorted(set(filter(None, listed.split("\0")))):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):          # deleted in the working tree
            continue
        dst = snapshot / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    _git("init", "-q", cwd=snapshot)
    _git("add", "-A", cwd=snapshot)
    _git("commit", "-q", "--no-verify", "-m", "snapshot of the loom-post working tree",
         cwd=snapshot)
    return str(snapshot)


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("pre-commit-home"))


def module_bytes():
    body = "i32.const 305419896 " + "i32.const 305419896 i32.add " * 4
    return wasmtime.wat2wasm(f'(module (func (export "f") (result i32) {body}))')


def make_project(tmp_path, toml, tracked=("loom-post.toml", ".gitignore")):
    """A git project with `toml` as loom-post.toml and a module under target/.
    Only `tracked` files are added to git (what --all-files looks at)."""
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project)
    (project / "loom-post.toml").write_text(toml)
    (project / ".gitignore").write_text("target/\n")
    (project / MODULE).parent.mkdir(parents=True)
    (project / MODULE).write_bytes(module_bytes())
    for rel in tracked:
        path = project / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("// placeholder\n")
    _git("add", "--", *tracked, cwd=project)
    return project


def pre_commit(args, cwd, home):
    """Run pre-commit; skip when it cannot build its environment for want of network."""
    proc = subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd,
                          env=_clean_env(PRE_COMMIT_HOME=home, PRE_COMMIT_COLOR="never"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)
    out = proc.stdout
    if proc.returncode == 3 and "An unexpected error has occurred" in out:
        log = os.path.join(home, "pre-commit.log")
        detail = out + (open(log).read() if os.path.exists(log) else "")
        if any(s in detail for s in NETWORK_TROUBLE):
            pytest.skip("pre-commit could not create the hook's environment "
                        "(pip could not reach the package index): "
                        + out.strip().splitlines()[-1])
        pytest.fail("pre-commit could not create the hook's environment:\n" + detail)
    return proc.returncode, out


def try_check(hook_repo, project, home):
    return pre_commit(["try-repo", hook_repo, "loom-post-check", "--all-files"],
                      cwd=project, home=home)


PATHS = 'paths = ["target/wasm32-*/release/*.wasm"]\n'


def test_check_hook_passes_within_budget(tmp_path, hook_repo, pre_commit_home):
    project = make_project(tmp_path, PATHS + 'max-code-size = "100 kB"\n')
    rc, out = try_check(hook_repo, project, pre_commit_home)
    assert rc == 0, out
    assert re.search(r"loom-post size budgets\.+Passed", out), out


def test_check_hook_fails_over_budget_and_shows_why(tmp_path, hook_repo, pre_commit_home):
    project = make_project(tmp_path, PATHS + 'max-code-size = "10 B"\n')
    rc, out = try_check(hook_repo, project, pre_commit_home)
    assert rc == 1, out
    assert re.search(r"loom-post size budgets\.+Failed", out), out
    assert "- exit code: 1" in out, out          # the gate's status, not a crash
    assert "app.wasm" in out, out                # names the module ...
    assert "max-code-size" in out or "10 B" in out, out   # ... and the budget


@pytest.mark.parametrize("toml,named", [
    (PATHS + 'max-code-sise = "10 kB"\n', "max-code-sise"),      # unknown key
    (PATHS + 'max-code-size = "10 parsecs"\n', "parsecs"),      # bad unit
], ids=["unknown-key", "bad-unit"])
def test_check_hook_fails_on_a_configuration_error(tmp_path, hook_repo, pre_commit_home,
                                                   toml, named):
    project = make_project(tmp_path, toml)
    rc, out = try_check(hook_repo, project, pre_commit_home)
    assert rc == 1, out
    assert "- exit code: 2" in out, out          # a usage/config error, not a budget
    assert named in out and "loom-post.toml" in out, out
    assert "Traceback" not in out, out


def test_check_hook_does_not_run_when_no_relevant_file_is_committed(tmp_path, hook_repo,
                                                                    pre_commit_home):
    """The `files` filter: a commit of docs only does not trigger the (failing) gate."""
    project = make_project(tmp_path, PATHS + 'max-code-size = "10 B"\n',
                           tracked=("README.md", "docs/notes.txt"))
    rc, out = pre_commit(["try-repo", hook_repo, "loom-post-check", "--all-files"],
                         cwd=project, home=pre_commit_home)
    assert rc == 0, out
    assert re.search(r"loom-post size budgets\.+\(no files to check\)Skipped", out), out


@pytest.mark.parametrize("missing,rc,said", [
    (None, 0, "warning: no module built yet"),
    ('"error"', 1, "error: no module built yet"),
], ids=["default-warns", "missing-error"])
def test_check_hook_in_a_fresh_clone_with_nothing_built(tmp_path, hook_repo, pre_commit_home,
                                                        missing, rc, said):
    """A fresh clone has no target/: by default the gate passes and says why
    (shown with --verbose); `missing = "error"` fails it."""
    toml = PATHS + 'max-code-size = "10 B"\n' + (f"missing = {missing}\n" if missing else "")
    project = make_project(tmp_path, toml)
    shutil.rmtree(project / "target")
    code, out = pre_commit(["try-repo", hook_repo, "loom-post-check", "--all-files",
                            "--verbose"], cwd=project, home=pre_commit_home)
    assert code == rc, out
    assert said in out and "cargo build --release" in out, out
    assert "Traceback" not in out, out


# -- the manifest and the documented configuration -------------------------------

def _manifest():
    with open(os.path.join(ROOT, ".pre-commit-hooks.yaml")) as f:
        return {h["id"]: h for h in yaml.safe_load(f)}


def test_manifest_is_valid_for_pre_commit(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest",
                           os.path.join(ROOT, ".pre-commit-hooks.yaml")],
                          capture_output=True, text=True, env=_clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hooks = _manifest()
    assert {"loom-post-check", "loom-post-cargo", "loom-post-optimize"} <= set(hooks)
    for hook in hooks.values():
        # target/ is git-ignored: file names are useless, and builds must not overlap
        assert hook["pass_filenames"] is False and hook["require_serial"] is True
        assert hook["language"] == "python"
    assert hooks["loom-post-check"]["entry"] == "loom-post check"
    assert hooks["loom-post-cargo"]["entry"] == "loom-post cargo"
    assert hooks["loom-post-cargo"]["args"][:2] == ["build", "--release"]


@pytest.mark.parametrize("path,runs", [
    ("src/lib.rs", True), ("crates/core/src/sched.rs", True), ("build.rs", True),
    ("Cargo.toml", True), ("crates/core/Cargo.toml", True), ("Cargo.lock", True),
    ("loom-post.toml", True), ("pyproject.toml", True), (".cargo/config.toml", True),
    ("assets/prebuilt.wasm", True),
    ("README.md", False), ("src/lib.rs.orig", False), ("docs/Cargo.toml.md", False),
    ("notCargo.toml", False), ("wasm-sizes.json", False),
])
def test_files_filter(path, runs):
    """pre-commit runs a hook when re.search(files, path) matches some file."""
    for hook in _manifest().values():
        assert bool(re.search(hook["files"], path)) is runs, (hook["id"], path)


def _doc_configs():
    with open(os.path.join(ROOT, "docs", "pre-commit.md")) as f:
        text = f.read()
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "repos:" in b]


def test_documented_configuration_is_valid(tmp_path):
    configs = _doc_configs()
    assert configs, "docs/pre-commit.md has no ```yaml block with a `repos:` list"
    hooks = _manifest()
    for n, block in enumerate(configs):
        cfg = tmp_path / f"config{n}.yaml"
        cfg.write_text(block)
        proc = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(cfg)],
                              capture_output=True, text=True, env=_clean_env())
        assert proc.returncode == 0, block + proc.stdout + proc.stderr
        for repo in yaml.safe_load(block)["repos"]:
            for hook in repo["hooks"]:
                assert hook["id"] in hooks, hook["id"]


def test_documented_configuration_runs(tmp_path, hook_repo, pre_commit_home):
    """The first documented configuration, pointed at this checkout, gates a commit."""
    config = yaml.safe_load(_doc_configs()[0])
    rev = _git("rev-parse", "HEAD", cwd=hook_repo).strip()
    for repo in config["repos"]:
        repo["repo"], repo["rev"] = hook_repo, rev
    project = make_project(tmp_path, PATHS + 'max-code-size = "10 B"\n')
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    _git("add", ".pre-commit-config.yaml", cwd=project)
    rc, out = pre_commit(["run", "loom-post-check", "--all-files"], cwd=project,
                         home=pre_commit_home)
    assert rc == 1 and "app.wasm" in out, out
