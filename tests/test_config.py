"""Configuration: discovery (loom-post.toml, pyproject.toml, walking up, --config),
size units, per-module overrides, and every way a configuration can be wrong
(each must exit 2 with one line naming the file, the key and the value)."""

import os

import pytest

from loom_post.cli import main
from loom_post.budget.config import glob_regex, load_config, resolve_paths
from loom_post.budget.units import Percent, UnitError, parse_growth, parse_size

wasmtime = pytest.importorskip("wasmtime")


def write_module(path, nops=10):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(wasmtime.wat2wasm(f"(module (func $f {'nop ' * nops}))"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An isolated project directory (a .git marker stops the upward search)."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_error(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


# -- units ---------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("0 B", 0), ("100 kB", 100_000), ("2 KiB", 2048), ("1.5 KiB", 1536),
    ("3MB", 3_000_000), ("1 MiB", 1_048_576), ("2 GiB", 2 * 1024 ** 3), ("812", 812),
    (812, 812), ("  7 B ", 7),
])
def test_sizes_in_human_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["5 KB", "5 kb", "5 mb", "5 parsecs", "1.5 B", "-3 B",
                                  -1, True, 1.5, [1], "", "kB"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(UnitError):
        parse_size(text)


def test_ambiguous_unit_message_names_both_meanings():
    with pytest.raises(UnitError, match="kB .*KiB"):
        parse_size("5 KB")


def test_growth_in_percent_resolves_against_a_reference():
    spec = parse_growth("1%")
    assert isinstance(spec, Percent)
    assert spec.of(811) == 8          # rounded down
    assert parse_growth("0.5 %").of(1000) == 5
    assert parse_growth("2 KiB") == 2048
    with pytest.raises(UnitError):
        parse_growth("-1%")


def test_glob_regex_keeps_star_within_a_directory():
    assert glob_regex("target/*/app.wasm").match("target/x/app.wasm")
    assert not glob_regex("target/*.wasm").match("target/a/b.wasm")
    assert glob_regex("target/**/*.wasm").match("target/a/b/c.wasm")
    assert glob_regex("target/**/*.wasm").match("target/c.wasm")
    assert glob_regex("./a?.wasm").match("ab.wasm")
    assert glob_regex("[ab].wasm").match("b.wasm") and not glob_regex("[!ab].wasm").match("b.wasm")


# -- discovery -----------------------------------------------------------------

def test_no_config_uses_defaults(project):
    config = load_config()
    assert config.path is None
    assert config.root == str(project)
    assert config.paths == ["target/wasm32-*/release/*.wasm"]
    s = config.settings_for("target/wasm32-unknown-unknown/release/a.wasm")
    assert (s.max_growth, s.max_code_size, s.max_growth_vs_baseline, s.baseline,
            s.optimize) == (0, None, None, None, True)


def test_loom_post_toml_found_walking_up(project, monkeypatch):
    (project / "loom-post.toml").write_text('max-code-size = "1 kB"\npaths = ["out/*.wasm"]\n')
    sub = project / "crates" / "app"
    sub.mkdir(parents=True)
    write_module(str(project / "out" / "a.wasm"))
    monkeypatch.chdir(sub)
    config = load_config()
    assert config.path == str(project / "loom-post.toml")
    assert config.root == str(project)
    assert config.settings_for(str(project / "out" / "a.wasm")).max_code_size == 1000
    # globs are relative to the config file's directory; matches outside the
    # working directory come back absolute
    assert resolve_paths(config, []) == [str(project / "out" / "a.wasm")]
    monkeypatch.chdir(project)
    assert resolve_paths(config, []) == [os.path.join("out", "a.wasm")]
    assert resolve_paths(config, ["given.wasm"]) == ["given.wasm"]


def test_pyproject_table_found_walking_up(project, monkeypatch):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.loom-post]\nmax-code-size = "2 KiB"\n'
        '[[tool.loom-post.module]]\npath = "special.wasm"\nmax-code-size = 10\n')
    sub = project / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)
    config = load_config()
    assert config.path == str(project / "pyproject.toml")
    assert config.settings_for("x/y.wasm").max_code_size == 2048
    assert config.settings_for(str(project / "a" / "special.wasm")).max_code_size == 10


def test_pyproject_without_table_stops_the_search(project, monkeypatch):
    (project / "loom-post.toml").write_text('max-code-size = "1 kB"\n')
    sub = project / "python"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[project]\nname = "x"\n')
    monkeypatch.chdir(sub)
    config = load_config()
    assert config.path is None
    assert config.settings_for("a.wasm").max_code_size is None


def test_loom_post_toml_preferred_over_pyproject_in_same_directory(project):
    (project / "loom-post.toml").write_text('max-code-size = 100\n')
    (project / "pyproject.toml").write_text('[tool.loom-post]\nmax-code-size = 200\n')
    config = load_config()
    assert config.path == str(project / "loom-post.toml")
    assert config.settings_for("a.wasm").max_code_size == 100


def test_explicit_config_overrides_discovery(project):
    (project / "loom-post.toml").write_text('max-code-size = 100\n')
    (project / "ci.toml").write_text('max-code-size = 300\n')
    assert load_config("ci.toml").settings_for("a.wasm").max_code_size == 300
    (project / "sub").mkdir()
    (project / "sub" / "pyproject.toml").write_text('[tool.loom-post]\nmax-code-size = 400\n')
    config = load_config("sub/pyproject.toml")
    assert config.settings_for("a.wasm").max_code_size == 400
    assert config.root == str(project / "sub")


def test_explicit_pyproject_without_table_is_an_error(project, capsys):
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    write_module(str(project / "a.wasm"))
    code, err = run_error(capsys, ["check", "--config", "pyproject.toml", "a.wasm"])
    assert code == 2
    assert "pyproject.toml: has no [tool.loom-post] table" in err


# -- overrides -------------------------------------------------------------------

def test_module_tables_override_in_file_order(project):
    (project / "loom-post.toml").write_text(
        'max-code-size = "1 kB"\nmax-growth = "1%"\n'
        '[[module]]\npath = "target/**/big*.wasm"\nmax-code-size = "1 MiB"\n'
        '[[module]]\npath = ["target/**/big_raw.wasm", "other.wasm"]\noptimize = false\n'
        'max-code-size = false\nmax-growth = "64 B"\n')
    config = load_config()
    plain = config.settings_for("target/wasm32-unknown-unknown/release/app.wasm")
    assert plain.max_code_size == 1000 and plain.optimize is True
    assert plain.max_growth == Percent(parse_growth("1%").value)
    big = config.settings_for("target/wasm32-unknown-unknown/release/big_app.wasm")
    assert big.max_code_size == 1024 ** 2 and big.optimize is True
    raw = config.settings_for(str(project / "target" / "x" / "big_raw.wasm"))
    assert raw.max_code_size is None and raw.optimize is False and raw.max_growth == 64
    # a glob without '/' also matches by file name, anywhere
    assert config.settings_for("deep/dir/other.wasm").optimize is False


def test_baseline_is_relative_to_the_config_file(project, monkeypatch):
    (project / "loom-post.toml").write_text(
        'baseline = "sizes/base.json"\nmax-growth-vs-baseline = "2 KiB"\n')
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    s = load_config().settings_for("a.wasm")
    assert s.baseline == str(project / "sizes" / "base.json")
    assert s.max_growth_vs_baseline == 2048


# -- bad configuration: exit 2, one line naming file, key and value -------------

BAD = [
    ('max-code-size = "10 parsecs"\n', ["max-code-size", '"10 parsecs"', "unknown unit"]),
    ('max-code-size = "10 KB"\n', ["max-code-size", '"10 KB"', "ambiguous"]),
    ('max-growth = "-5 B"\n', ["max-growth", '"-5 B"', "negative"]),
    ('max-growth-vs-baseline = "lots"\nbaseline = "b.json"\n',
     ["max-growth-vs-baseline", '"lots"']),
    ('max-code-size = true\n', ["max-code-size", "true"]),
    ('max-code-size = [1, 2]\n', ["max-code-size", "[1, 2]"]),
    ('optimize = "no"\n', ["optimize", '"no"', "true or false"]),
    ('baseline = 5\n', ["baseline", "5"]),
    ('max-codesize = 5\n', ["unknown key", "max-codesize", "5"]),
    ('paths = 5\n', ["paths", "5", "glob"]),
    ('paths = ["ok/*.wasm", 3]\n', ["paths", "3", "glob"]),
    ('paths = []\n', ["paths", "[]"]),
    ('[[module]]\npath = 3\n', ["module #1: path", "3", "glob"]),
    ('[[module]]\nmax-code-size = 5\n', ["module", "#1", "no `path`"]),
    ('[[module]]\npath = "a.wasm"\nsize = 5\n', ["unknown key", "module #1: size", "5"]),
    ('[[module]]\npath = "a.wasm"\nmax-code-size = "big"\n',
     ["module #1: max-code-size", '"big"']),
    ('[[module]]\npath = "a.wasm"\npaths = ["x"]\n', ["unknown key", "paths"]),
    ('module = 5\n', ["module", "5"]),
    ('max-growth-vs-baseline = "1%"\n', ["max-growth-vs-baseline", "baseline"]),
    ('max-code-size = \n', ["malformed TOML"]),
    ('[[module]\n', ["malformed TOML"]),
]


@pytest.mark.parametrize("text,needles", BAD)
@pytest.mark.parametrize("command", ["check", "optimize", "baseline"])
def test_bad_configuration_exits_2_naming_file_key_and_value(project, capsys, text,
                                                               needles, command):
    (project / "loom-post.toml").write_text(text)
    write_module(str(project / "a.wasm"))
    before = (project / "a.wasm").read_bytes()
    code, err = run_error(capsys, [command, "a.wasm"])
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.startswith("loom-post: error:")]
    assert len(lines) == 1, err
    assert str(project / "loom-post.toml") in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert (project / "a.wasm").read_bytes() == before


def test_bad_key_in_pyproject_names_the_full_key(project, capsys):
    (project / "pyproject.toml").write_text('[tool.loom-post]\nmax-code-size = "1 kb"\n')
    write_module(str(project / "a.wasm"))
    code, err = run_error(capsys, ["check", "a.wasm"])
    assert code == 2
    assert "pyproject.toml: tool.loom-post.max-code-size = \"1 kb\"" in err


def test_tool_table_of_wrong_type(project, capsys):
    (project / "pyproject.toml").write_text('[tool]\nloom-post = 3\n')
    write_module(str(project / "a.wasm"))
    code, err = run_error(capsys, ["check", "a.wasm"])
    assert code == 2 and "tool.loom-post = 3" in err


def test_missing_config_file_exits_2(project, capsys):
    write_module(str(project / "a.wasm"))
    code, err = run_error(capsys, ["check", "--config", "nope.toml", "a.wasm"])
    assert code == 2
    assert "nope.toml: no such configuration file" in err


def test_config_file_that_is_a_directory_exits_2(project, capsys):
    (project / "conf").mkdir()
    write_module(str(project / "a.wasm"))
    code, err = run_error(capsys, ["check", "--config", "conf", "a.wasm"])
    assert code == 2 and "is a directory" in err


def test_malformed_pyproject_found_while_searching_exits_2(project, capsys):
    (project / "pyproject.toml").write_text('[project\n')
    write_module(str(project / "a.wasm"))
    code, err = run_error(capsys, ["check", "a.wasm"])
    assert code == 2 and "pyproject.toml: malformed TOML" in err
