"""Configuration mistakes that used to pass silently: each is one warning line
naming the near miss, or exit 2 under --strict / `strict = true`. Also the glob
syntax (braces, `!` excludes) and baseline-ignore-hash. Every test runs main([...])."""

import json
import os

import pytest

from loom_post.budget.config import glob_regex, load_config, resolve_paths, similar, strip_hash
from loom_post.cli import main
from cli_util import run  # noqa: E402

wasmtime = pytest.importorskip("wasmtime")

REL = "target/wasm32-unknown-unknown/release"


def write_module(path, nops=10):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(wasmtime.wat2wasm(f"(module (func $f {'nop ' * nops}) (export \"f\" (func $f)))"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project (a .git marker stops the upward search) where cargo built my_crate.wasm."""
    (tmp_path / ".git").mkdir()
    write_module(tmp_path / REL / "my_crate.wasm")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def warnings(err):
    return [line for line in err.splitlines() if line.startswith("loom-post: warning:")]


# -- a clean configuration is silent -------------------------------------------------

def test_a_correct_configuration_warns_about_nothing(project, capsys):
    (project / "loom-post.toml").write_text(
        f'paths = ["{REL}/my_crate.wasm"]\n[[module]]\npath = "**/my_crate.wasm"\n'
        f'max-code-size = "1 MiB"\n')
    code, out, err = run(capsys, "check", "--no-brotli", "--strict")
    assert code == 0 and err == ""
    assert "my_crate.wasm" in out


# -- files and tables that are never read --------------------------------------

def test_tool_loom_post_with_an_underscore_is_named(project, capsys):
    (project / "pyproject.toml").write_text('[tool.loom_post]\nmax-code-size = "1 B"\n')
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0  # the table was not read: no 1-byte cap applied
    lines = warnings(err)
    assert any("[tool.loom_post] is not read: the table is [tool.loom-post]" in w for w in lines)
    code, _, err = run(capsys, "check", "--no-brotli", "--strict")
    assert code == 2 and "--strict" in err


@pytest.mark.parametrize("table", ["loompost", "loom-posts", "Loom-Post"])
def test_other_near_miss_table_names(project, capsys, table):
    (project / "pyproject.toml").write_text(f'[tool.{table}]\npaths = ["x.wasm"]\n')
    code, _, err = run(capsys, "check", "--no-brotli", "--strict")
    assert code == 2 and f"[tool.{table}] is not read" in err


def test_an_unrelated_tool_table_is_not_a_near_miss(project, capsys):
    (project / "pyproject.toml").write_text('[tool.black]\nline-length = 99\n')
    (project / "loom-post.toml").write_text(f'paths = ["{REL}/*.wasm"]\n')
    code, _, err = run(capsys, "check", "--no-brotli", "--strict")
    assert code == 0 and err == ""


@pytest.mark.parametrize("name", ["loom_post.toml", ".loom-post.toml", "loom-post.yaml",
                                  "loom-psot.toml"])
def test_a_misnamed_config_file_is_named(project, capsys, name):
    (project / name).write_text('max-code-size = "1 B"\n')
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0
    assert any(f"{name} is not read: the file must be named loom-post.toml" in w
               for w in warnings(err)), err


def test_a_directory_with_a_near_miss_name_is_not_a_config_file(project, capsys):
    (project / "loom-post.yaml").mkdir()
    (project / "loom-psot.toml").mkdir()
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0 and not any("is not read" in w for w in warnings(err)), err


def test_similar_is_difflib_s_ratio_against_the_cutoff():
    """config.similar rules names out by length before asking difflib: same answers."""
    import difflib
    import random
    rng = random.Random(16)
    seen = set()
    for _ in range(3000):
        for b, cutoff in (("loom-post.toml", 0.85), ("loom-post", 0.8)):
            a = list(b)     # a few edits away, so that both answers come up
            for _ in range(rng.randint(0, 5)):
                i = rng.randint(0, len(a))
                edit = rng.choice("di")
                a[i:i + (edit == "d")] = [] if edit == "d" else [rng.choice("lomp-st._x")]
            a = "".join(a)
            want = difflib.SequenceMatcher(None, a, b).ratio() >= cutoff
            assert similar(a, b, cutoff) == want, (a, b)
            seen.add(want)
    assert seen == {True, False}


def test_explicit_pyproject_without_the_table_names_the_near_miss(project, capsys):
    (project / "pyproject.toml").write_text('[tool.loom_post]\npaths = ["x"]\n')
    code, _, err = run(capsys, "check", "--config", "pyproject.toml")
    assert code == 2
    assert "has no [tool.loom-post] table ([tool.loom_post] is not read: rename it)" in err


def test_no_configuration_found_is_a_warning_only_when_the_globs_choose(project, capsys):
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0
    assert any("no loom-post.toml or [tool.loom-post] found in" in w for w in warnings(err))
    code, _, err = run(capsys, "check", "--no-brotli", "--strict")
    assert code == 2
    code, _, err = run(capsys, "check", "--no-brotli", "--strict", f"{REL}/my_crate.wasm")
    assert code == 0 and err == ""


def test_running_from_outside_the_project_names_the_project(tmp_path, monkeypatch, capsys):
    (tmp_path / ".git").mkdir()
    proj = tmp_path / "my-crate"
    write_module(proj / REL / "my_crate.wasm")
    (proj / "loom-post.toml").write_text(f'paths = ["{REL}/*.wasm"]\n')
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "check")
    assert code == 2
    assert "my-crate/ has a loom-post.toml: run loom-post there or pass --config " \
           "my-crate/loom-post.toml" in err
    assert err.splitlines()[-1].startswith("loom-post: error: no modules given")


# -- globs that match nothing ------------------------------------------------------------

def test_a_paths_glob_that_matches_nothing_names_cargos_file(project, capsys):
    (project / "loom-post.toml").write_text(
        f'paths = ["{REL}/my-crate.wasm", "{REL}/*.wasm"]\n')
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0
    (w,) = warnings(err)
    assert f'paths: "{REL}/my-crate.wasm" matches no file; did you mean ' \
           f'"{REL}/my_crate.wasm"?' in w
    code, _, err = run(capsys, "optimize", "--strict")
    assert code == 2 and len(warnings(err)) == 1
    code, _, err = run(capsys, "baseline", "--strict")
    assert code == 2 and len(warnings(err)) == 1


def test_a_misspelt_directory_is_a_near_miss_too(project, capsys):
    (project / "loom-post.toml").write_text(
        'paths = ["target/wasm32-unknown-unknown/relase/*.wasm"]\n')
    code, _, err = run(capsys, "check")
    assert code == 2  # nothing to check at all
    assert f'did you mean "{REL}/my_crate.wasm"?' in err


def test_strict_as_a_config_key(project, capsys):
    (project / "loom-post.toml").write_text(f'strict = true\npaths = ["{REL}/my-crate.wasm", '
                                            f'"{REL}/*.wasm"]\n')
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 2 and "matches no file" in err
    (project / "loom-post.toml").write_text('strict = "yes"\n')
    code, _, err = run(capsys, "check")
    assert code == 2 and 'strict = "yes": expected true or false' in err


def test_a_module_table_that_matches_nothing_names_the_near_miss(project, capsys):
    (project / "loom-post.toml").write_text(
        f'paths = ["{REL}/*.wasm"]\n[[module]]\npath = "**/my-crate.wasm"\nmax-code-size = 1\n')
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0  # the 1-byte cap never applied: that is the silent mistake
    (w,) = warnings(err)
    assert '[[module]] #1 path = "**/my-crate.wasm" matches none of the 1 module checked; ' \
           f'did you mean "{REL}/my_crate.wasm"?' in w
    code, _, err = run(capsys, "check", "--no-brotli", "--strict")
    assert code == 2


def test_module_tables_are_not_judged_on_modules_given_by_hand(project, capsys):
    write_module(project / "other.wasm")
    (project / "loom-post.toml").write_text(
        f'paths = ["{REL}/*.wasm"]\n[[module]]\npath = "**/my_crate.wasm"\nmax-code-size = 1\n')
    code, _, err = run(capsys, "check", "--no-brotli", "--strict", "other.wasm")
    assert code == 0 and err == ""


# -- unknown keys -------------------------------------------------------------------

@pytest.mark.parametrize("text,key,meant", [
    ('max-code-szie = "1 kB"\n', "max-code-szie", "max-code-size"),
    ('max_code_size = "1 kB"\n', "max_code_size", "max-code-size"),
    ('path = ["x"]\n', "path", "paths"),
    ('[[module]]\npath = "x"\nmax-gzip-szie = 5\n', "max-gzip-szie", "max-gzip-size"),
])
def test_unknown_keys_get_did_you_mean(project, capsys, text, key, meant):
    (project / "loom-post.toml").write_text(text)
    code, _, err = run(capsys, "check")
    assert code == 2
    assert f"{key} = " in err and f"(did you mean `{meant}`?)" in err


def test_an_unknown_key_far_from_any_gets_no_guess(project, capsys):
    (project / "loom-post.toml").write_text('colour = "blue"\n')
    code, _, err = run(capsys, "check")
    assert code == 2 and "unknown key: colour" in err and "did you mean" not in err


# -- globs: braces and excludes -----------------------------------------------------

def test_brace_globs_and_excludes_choose_the_modules(project):
    for name in ("app-1a2b3c4d_bg.wasm", "worker-5e6f7a8b_bg.wasm", "snippet_bg.wasm",
                 "old/app_bg.wasm"):
        write_module(project / "dist" / name)
    (project / "loom-post.toml").write_text(
        'paths = ["dist/{app,worker}-*_bg.wasm", "dist/**/*_bg.wasm", "!**/old/*", '
        '"!dist/snippet*"]\n')
    got = resolve_paths(load_config(), [])
    assert got == ["dist/app-1a2b3c4d_bg.wasm", "dist/worker-5e6f7a8b_bg.wasm"]


def test_module_table_excludes_and_braces(project, capsys):
    for name in ("a.wasm", "b.wasm", "c.wasm"):
        write_module(project / "out" / name, nops=50)
    (project / "loom-post.toml").write_text(
        'paths = ["out/*.wasm"]\n[[module]]\npath = ["out/*.wasm", "!out/{b,c}.wasm"]\n'
        'max-code-size = 5\n')
    code, out, _ = run(capsys, "check", "--no-brotli", "--format", "json")
    assert code == 1
    status = {m["path"]: m["status"] for m in json.loads(out)["modules"]}
    assert status == {"out/a.wasm": "fail", "out/b.wasm": "pass", "out/c.wasm": "pass"}


def test_paths_of_only_excludes_is_refused(project, capsys):
    (project / "loom-post.toml").write_text('paths = ["!**/deps/*"]\n')
    code, _, err = run(capsys, "check")
    assert code == 2 and "only `!` exclude patterns" in err


def test_glob_syntax():
    assert glob_regex("dist/{app,worker}_bg.wasm").match("dist/worker_bg.wasm")
    assert not glob_regex("dist/{app,worker}_bg.wasm").match("dist/other_bg.wasm")
    assert glob_regex("a/**/{x,y}.wasm").match("a/b/c/y.wasm")


# -- a content hash in a file name ------------------------------------------------------

@pytest.mark.parametrize("key,expected", [
    ("dist/app-1a2b3c4d_bg.wasm", "dist/app_bg.wasm"),
    ("dist/my-app-9f8e7d6c5b4a3921_bg.wasm", "dist/my-app_bg.wasm"),
    ("dist/app.0123abcd.wasm", "dist/app.wasm"),
    ("pkg/my_app_bg.wasm", "pkg/my_app_bg.wasm"),
    ("dist/app-1a2b3c_bg.wasm", "dist/app-1a2b3c_bg.wasm"),   # 6 digits: not a hash
    ("dist/deadbeef.wasm", "dist/deadbeef.wasm"),             # nothing but a name
    ("a-1a2b3c4d/app.wasm", "a-1a2b3c4d/app.wasm"),           # only the file name
])
def test_strip_hash(key, expected):
    assert strip_hash(key) == expected


def test_baseline_ignore_hash_makes_rebuilt_files_one_module(project, capsys):
    (project / "loom-post.toml").write_text(
        'paths = ["dist/*_bg.wasm"]\nbaseline = "sizes.json"\nbaseline-ignore-hash = true\n'
        'max-growth-vs-baseline = "0 B"\n')
    write_module(project / "dist" / "app-1a2b3c4d_bg.wasm", nops=10)
    assert run(capsys, "baseline", "--no-brotli")[0] == 0
    assert list(json.loads((project / "sizes.json").read_text())["modules"]) == \
        ["dist/app_bg.wasm"]
    os.remove(project / "dist" / "app-1a2b3c4d_bg.wasm")
    write_module(project / "dist" / "app-9f8e7d6c_bg.wasm", nops=40)   # the next build
    code, out, _ = run(capsys, "check", "--no-brotli")
    assert code == 1 and "+30" in out
    # Without the key the new name has no baseline entry: the growth goes unseen.
    (project / "loom-post.toml").write_text(
        'paths = ["dist/*_bg.wasm"]\nbaseline = "sizes.json"\n'
        'max-growth-vs-baseline = "0 B"\n')
    assert run(capsys, "check", "--no-brotli")[0] == 0


def test_a_pyproject_table_shadowed_by_loom_post_toml_is_named(project, capsys):
    (project / "pyproject.toml").write_text('[tool.loom-post]\nmax-code-size = "1 B"\n')
    (project / "loom-post.toml").write_text(f'paths = ["{REL}/*.wasm"]\n')
    code, _, err = run(capsys, "check", "--no-brotli")
    assert code == 0
    (w,) = warnings(err)
    assert "pyproject.toml: [tool.loom-post] is not read: loom-post.toml in the same " \
           "directory is used instead" in w


def test_a_nested_pyproject_that_stops_the_search_is_named(project, capsys, monkeypatch):
    (project / "loom-post.toml").write_text(f'paths = ["{REL}/*.wasm"]\nmax-code-size = 1\n')
    sub = project / "bindings"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[project]\nname = "bindings"\n')
    monkeypatch.chdir(sub)
    code, _, err = run(capsys, "check")
    assert code == 0  # the defaults, relative to bindings/: nothing built there (warned)
    assert f"the search stopped at {sub / 'pyproject.toml'}, which has none" in err
