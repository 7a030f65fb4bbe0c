"""The GitHub Action in hooks/github-action/action.yml, run step by step with bash the
way a runner runs a composite action (not on GitHub): `${{ inputs.* }}` and
`${{ github.action_path }}` substituted, GITHUB_STEP_SUMMARY / GITHUB_OUTPUT /
GITHUB_PATH files, `bash --noprofile --norc -eo pipefail`, against modules a
build command writes in a temporary project."""

import os
import re
import shutil
import subprocess
import sys

import pytest

yaml = pytest.importorskip("yaml")
wasmtime = pytest.importorskip("wasmtime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTION_DIR = os.path.join(ROOT, "hooks", "github-action")
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONDITION = re.compile(r"^inputs\.([\w-]+)\s*(==|!=)\s*'([^']*)'$")
MODULE = "target/wasm32-unknown-unknown/release/app.wasm"

BUILD_SCRIPT = f"""\
import os, sys, wasmtime
nops = int(sys.argv[1])
os.makedirs(os.path.dirname({MODULE!r}), exist_ok=True)
with open({MODULE!r}, "wb") as f:
    f.write(wasmtime.wat2wasm("(module (func $main " + "nop " * nops + "))"))
"""


def load_action(action_dir=ACTION_DIR):
    with open(os.path.join(action_dir, "action.yml")) as f:
        return yaml.safe_load(f)


def _substitute(text, inputs, action_path):
    def value(m):
        expr = m.group(1)
        if expr == "github.action_path":
            return action_path
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        raise AssertionError(f"expression the test runner does not know: {expr}")
    return EXPR.sub(value, str(text))


def _condition(expr, inputs):
    expr = EXPR.sub(lambda m: m.group(1), str(expr)).strip()
    m = CONDITION.match(expr)
    assert m, f"condition the test runner does not know: {expr}"
    name, op, literal = m.groups()
    return (inputs[name] == literal) == (op == "==")


class Run:
    def __init__(self, tmp):
        self.summary = tmp / "summary.md"
        self.output = tmp / "output.txt"
        self.path_file = tmp / "path.txt"
        for f in (self.summary, self.output, self.path_file):
            f.write_text("")
        self.rc = None
        self.stdout = ""
        self.steps_run = []

    @property
    def outputs(self):
        return dict(line.split("=", 1) for line in self.output.read_text().splitlines() if line)


GITHUB_API_ENV = ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_API_URL")


def run_action(tmp, workdir, given, action_dir=ACTION_DIR, install=False, extra_path=(),
               env=None):
    """Run the action's steps; `install=False` leaves out the pip install step (the
    checkout's loom-post is put on PATH instead). The runner's GitHub API variables
    are left out (a test run inside GitHub Actions must not post comments); `env`
    adds variables, as a workflow's `env:` does."""
    action = load_action(action_dir)
    assert action["runs"]["using"] == "composite"
    unknown = set(given) - set(action["inputs"])
    assert not unknown, f"inputs the action does not declare: {unknown}"
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs.update(given)
    run = Run(tmp)
    base_env = dict(os.environ, GITHUB_STEP_SUMMARY=str(run.summary),
                    GITHUB_OUTPUT=str(run.output), GITHUB_PATH=str(run.path_file),
                    RUNNER_TEMP=str(tmp), GITHUB_ACTIONS="true")
    base_env.pop("PYTHONPATH", None)
    for name in GITHUB_API_ENV:
        base_env.pop(name, None)
    base_env.update(env or {})
    for n, step in enumerate(action["runs"]["steps"]):
        if "if" in step and not _condition(step["if"], inputs):
            continue
        if "uses" in step:
            continue
        if "pip install" in step["run"] and not install:
            continue
        assert step.get("shell") == "bash", step
        script = tmp / f"step{n}.sh"
        script.write_text(_substitute(step["run"], inputs, action_dir))
        env = dict(base_env)
        env.update({k: _substitute(v, inputs, action_dir) for k, v in step.get("env", {}).items()})
        added = [p for p in run.path_file.read_text().splitlines() if p][::-1]
        env["PATH"] = os.pathsep.join([*added, *extra_path, env["PATH"]])
        cwd = os.path.join(workdir, _substitute(step.get("working-directory", "."), inputs,
                                                action_dir))
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        run.steps_run.append(step["name"])
        run.stdout += p.stdout
        run.stderr = p.stderr
        if p.returncode != 0:
            run.rc = p.returncode
            return run
    run.rc = 0
    return run


@pytest.fixture
def checkout_on_path(tmp_path):
    """A `loom-post` command running this checkout's code."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "loom-post"
    tool.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m loom_post "$@"\n')
    tool.chmod(0o755)
    return [str(bindir)]


@pytest.fixture
def project(tmp_path):
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / ".git").mkdir()
    (proj / "build_wasm.py").write_text(BUILD_SCRIPT)
    return proj


def build(nops):
    return f'"{sys.executable}" build_wasm.py {nops}'


def summary_rows(text):
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    assert lines[0] == ("| module | baseline -> now | +- bytes | +- % | file | gzip | brotli "
                        "| status |")
    return [[c.strip() for c in l.strip().strip("|").split(" | ")] for l in lines[2:]]


# -- static shape ------------------------------------------------------------------

def test_action_shape():
    action = load_action()
    assert {"build", "config", "python-version"} <= set(action["inputs"])
    assert all(not v.get("required", False) or "default" in v for v in action["inputs"].values())
    steps = action["runs"]["steps"]
    install = [s for s in steps if "pip install" in s.get("run", "")]
    assert len(install) == 1
    src = install[0]["env"]["LOOM_POST_SRC"]
    assert src == "${{ github.action_path }}/../.."
    repo = os.path.normpath(os.path.join(ACTION_DIR, "..", ".."))
    with open(os.path.join(repo, "pyproject.toml")) as f:
        assert 'name = "loom-post"' in f.read()
    runs = [s["run"] for s in steps if "run" in s]
    check = runs[-1]
    assert "--format github" in check and '--write "markdown:' in check
    assert "$GITHUB_STEP_SUMMARY" in check
    setup = [s for s in steps if "uses" in s]
    assert setup and setup[0]["uses"].startswith("actions/setup-python@")
    assert setup[0]["with"]["python-version"] == "${{ inputs.python-version }}"


# -- runs -------------------------------------------------------------------------------

def test_passing_check(tmp_path, project, checkout_on_path):
    (project / "loom-post.toml").write_text('max-code-size = "1 KiB"\n')
    run = run_action(tmp_path, project, {"build": build(40)}, extra_path=checkout_on_path)
    assert run.rc == 0, run.stdout + run.stderr
    assert (project / MODULE).is_file()
    assert "::error" not in run.stdout
    assert "loom-post check: 1 module, all within budget" in run.stdout
    rows = summary_rows(run.summary.read_text())
    assert rows == [[f"`{MODULE}`", f"{rows[0][1]}", "", "", *rows[0][4:7], ":white_check_mark:"]]
    assert all(re.fullmatch(r"\d+ B", c) for c in rows[0][4:7])
    assert run.outputs["exit-code"] == "0"


def test_failing_check_still_writes_the_summary(tmp_path, project, checkout_on_path):
    (project / "loom-post.toml").write_text("max-code-size = 20\n")
    run = run_action(tmp_path, project, {"build": build(40)}, extra_path=checkout_on_path)
    assert run.rc == 1
    errors = [l for l in run.stdout.splitlines() if l.startswith("::error")]
    assert errors and errors[0].startswith(f"::error file={MODULE},title=loom-post max-code-size::")
    rows = summary_rows(run.summary.read_text())
    assert rows[0][0] == f"`{MODULE}`" and rows[0][7].startswith(":x: max-code-size")
    assert run.outputs["exit-code"] == "1"


def test_baseline_growth_in_summary(tmp_path, project, checkout_on_path):
    (project / "loom-post.toml").write_text(
        'baseline = "wasm-sizes.json"\nmax-growth-vs-baseline = "1%"\n')
    subprocess.run([sys.executable, "build_wasm.py", "40"], cwd=project, check=True)
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-m", "loom_post", "baseline"], cwd=project, check=True,
                   env=env, capture_output=True)
    run = run_action(tmp_path, project, {"build": build(60)}, extra_path=checkout_on_path)
    assert run.rc == 1
    rows = summary_rows(run.summary.read_text())
    assert re.fullmatch(r"\d+ B -> \d+ B", rows[0][1]) and rows[0][2] == "+20"
    assert "grew most: main +20 B" in run.stdout


def test_config_and_working_directory_inputs(tmp_path, project, checkout_on_path):
    (project / "ci").mkdir()
    (project / "ci" / "budgets.toml").write_text(
        'max-code-size = 20\npaths = ["../target/*/release/*.wasm"]\n'
        'allow-outside = true\n')  # the globs leave ci/: an explicit opt-in
    (project / "loom-post.toml").write_text('max-code-size = "1 MiB"\n')
    run = run_action(tmp_path, tmp_path, {"build": build(40), "working-directory": "project",
                                          "config": "ci/budgets.toml"},
                     extra_path=checkout_on_path)
    assert run.rc == 1, run.stdout + run.stderr
    assert "over budget" in run.stdout
    run = run_action(tmp_path, tmp_path, {"build": build(40), "working-directory": "project",
                                          "paths": MODULE}, extra_path=checkout_on_path)
    assert run.rc == 0, run.stdout + run.stderr


def test_bad_configuration_exit_2_is_reported(tmp_path, project, checkout_on_path):
    (project / "loom-post.toml").write_text('max-code-size = "20 KB"\n')
    run = run_action(tmp_path, project, {"build": build(40)}, extra_path=checkout_on_path)
    assert run.rc == 2
    assert "could not run (exit 2" in run.summary.read_text()


def test_failed_build_stops_before_the_check(tmp_path, project, checkout_on_path):
    (project / "loom-post.toml").write_text("max-code-size = 20\n")
    run = run_action(tmp_path, project, {"build": "exit 7"}, extra_path=checkout_on_path)
    assert run.rc == 7
    assert run.steps_run == ["Build WebAssembly modules"]
    assert run.summary.read_text() == ""


def test_full_run_with_the_real_install_step(tmp_path, project):
    """Copy the package to a temporary repository (pip builds in place) and run every
    step, the pip install into a virtualenv included."""
    repo = tmp_path / "repo"
    # what a checkout holds: no compiled build of an install in place
    shutil.copytree(os.path.join(ROOT, "loom_post"), repo / "loom_post",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.c",
                                                  "_native.json"))
    shutil.copytree(ACTION_DIR, repo / "hooks" / "github-action")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), repo / name)
    (project / "loom-post.toml").write_text("max-code-size = 20\n")
    run = run_action(tmp_path, project, {"build": build(40)},
                     action_dir=str(repo / "hooks" / "github-action"), install=True)
    if run.rc != 0 and run.steps_run == ["Install loom-post"]:
        if re.search(r"connection|No matching distribution|Could not find a version|"
                     r"Temporary failure|Network is unreachable", run.stderr, re.I):
            pytest.skip("pip could not reach a package index: " + run.stderr[-300:])
        raise AssertionError(run.stderr)
    assert run.rc == 1, run.stdout + run.stderr
    venv_bin = tmp_path / "loom-post-venv" / "bin"
    assert (venv_bin / "loom-post").is_file()
    venv_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the venv's own
    version = subprocess.run([str(venv_bin / "loom-post"), "--version"], capture_output=True,
                             text=True, cwd=tmp_path, env=venv_env).stdout
    assert "pure Python, no compiled build" in version   # the install skipped the compile
    assert run.path_file.read_text().strip() == str(venv_bin)
    assert "::error file=" in run.stdout
    assert summary_rows(run.summary.read_text())[0][7].startswith(":x:")
