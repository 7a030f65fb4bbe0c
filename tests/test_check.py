"""`loom-post check`: each budget passing and failing, overrides, unreadable modules,
and every output format checked by parsing it."""

import json
import os
import re

import pytest

from loom_post.wasm.module import read_module
from loom_post.cli import main

wasmtime = pytest.importorskip("wasmtime")

from wat_util import write_nop_module as write  # noqa: E402

ANNOTATION = re.compile(r"^::error file=([^,:]+),title=([^:,]+)::(.+)$")


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config(project, text):
    (project / "loom-post.toml").write_text(text)


def check(capsys, *argv):
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def record(capsys, *argv):
    code = main(["baseline", *argv])
    capsys.readouterr()
    assert code == 0


# -- max-code-size -------------------------------------------------------------

def test_max_code_size_pass_and_fail(project, capsys):
    size = write(project / "app.wasm", {"main": 40})
    config(project, f"max-code-size = {size}\n")
    code, out, _ = check(capsys, "app.wasm")
    assert code == 0
    assert f"app.wasm: code section {size} bytes: pass" in out
    config(project, f"max-code-size = {size - 1}\n")
    code, out, _ = check(capsys, "app.wasm")
    assert code == 1
    assert f"max-code-size: limit {size - 1} B, actual {size} B: FAIL" in out
    assert "1 over the limit" in out
    assert "check: 1 module, 1 over budget" in out


def test_human_units_in_the_limit(project, capsys):
    write(project / "app.wasm", {"main": 1100})      # > 1 kB, < 1.25 KiB
    config(project, 'max-code-size = "1 kB"\n')
    assert check(capsys, "app.wasm")[0] == 1
    config(project, 'max-code-size = "1.25 KiB"\n')
    assert check(capsys, "app.wasm")[0] == 0


def test_max_growth_does_not_apply_to_check(project, capsys):
    write(project / "app.wasm", {"main": 40})
    config(project, 'max-growth = "0 B"\n')
    code, out, _ = check(capsys, "app.wasm", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["modules"][0]["budgets"] == []


def test_per_module_override_and_optimize_false_module_is_checked(project, capsys):
    write(project / "app.wasm", {"main": 40})
    write(project / "big" / "vendor.wasm", {"v": 400})
    config(project, 'max-code-size = 100\n'
                    '[[module]]\npath = "big/*.wasm"\nmax-code-size = "1 KiB"\noptimize = false\n')
    code, out, _ = check(capsys, "app.wasm", "big/vendor.wasm", "--format", "json")
    assert code == 0, out
    limits = {m["path"]: m["budgets"][0]["limit"] for m in json.loads(out)["modules"]}
    assert limits == {"app.wasm": 100, "big/vendor.wasm": 1024}
    config(project, 'max-code-size = 100\n'
                    '[[module]]\npath = "big/*.wasm"\noptimize = false\n')
    code, out, _ = check(capsys, "app.wasm", "big/vendor.wasm")
    assert code == 1
    assert "big/vendor.wasm: code section" in out and "FAIL" in out


def test_configured_paths_are_used_when_none_given(project, capsys):
    write(project / "target" / "wasm32-unknown-unknown" / "release" / "a.wasm", {"f": 5})
    write(project / "target" / "wasm32-unknown-unknown" / "release" / "b.wasm", {"f": 500})
    write(project / "target" / "wasm32-unknown-unknown" / "debug" / "c.wasm", {"f": 900})
    config(project, "max-code-size = 100\n")
    code, out, _ = check(capsys, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert sorted(os.path.basename(m["path"]) for m in doc["modules"]) == ["a.wasm", "b.wasm"]
    assert {os.path.basename(m["path"]): m["status"] for m in doc["modules"]} == \
        {"a.wasm": "pass", "b.wasm": "fail"}


def test_nothing_built_yet_warns_by_default(project, capsys):
    """A fresh clone (nothing built): one warning saying how to build, exit 0."""
    code, out, err = check(capsys)
    assert code == 0 and out == ""
    # the project has no configuration file: that is warned about on its own line
    lines = [x for x in err.strip().splitlines() if "no loom-post.toml" not in x]
    assert len(lines) == 1 and lines[0].startswith("loom-post: warning: no module built yet")
    assert "target/wasm32-*/release/*.wasm" in err and "cargo build --release" in err


@pytest.mark.parametrize("setting,status,said", [
    ('"error"', 2, "no module built yet"), ('"ignore"', 0, ""), ('"warn"', 0, "warning")])
def test_nothing_built_yet_follows_the_missing_key(project, capsys, setting, status, said):
    config(project, f"missing = {setting}\n")
    code, _, err = check(capsys)
    assert code == status
    assert (said in err) if said else err == ""


def test_missing_key_is_validated(project, capsys):
    config(project, 'missing = "fail"\n')
    code, _, err = check(capsys)
    assert code == 2 and "missing" in err and '"warn", "error" or "ignore"' in err


def test_baseline_with_nothing_built_says_what_to_do(project, capsys):
    config(project, 'baseline = "sizes.json"\n')
    code = main(["baseline"])
    err = capsys.readouterr().err
    assert code == 2 and "nothing to record: no module built yet" in err
    assert "cargo build --release" in err and "then run `loom-post baseline` again" in err
    assert not (project / "sizes.json").exists()


# -- max-growth-vs-baseline -------------------------------------------------------

def test_growth_vs_baseline_bytes_pass_at_limit_and_fail_above(project, capsys):
    write(project / "app.wasm", {"alpha": 10, "beta": 20})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "5 B"\n')
    record(capsys, "app.wasm")
    write(project / "app.wasm", {"alpha": 15, "beta": 20})        # +5 bytes
    code, out, _ = check(capsys, "app.wasm")
    assert code == 0, out
    assert "max-growth-vs-baseline: limit +5 B, actual +5 B: pass" in out
    write(project / "app.wasm", {"alpha": 16, "beta": 20})        # +6 bytes
    code, out, _ = check(capsys, "app.wasm")
    assert code == 1
    assert "max-growth-vs-baseline: limit +5 B, actual +6 B: FAIL" in out
    assert "functions that grew most since the baseline:" in out
    assert re.search(r"\+6 B\s+alpha \(12 -> 18 bytes\)", out), out
    assert "beta" not in out.split("functions that grew most")[1]


def test_growth_vs_baseline_percent(project, capsys):
    base = write(project / "app.wasm", {"main": 198})               # 200-byte body
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "1%"\n')
    record(capsys, "app.wasm")
    allowed = base // 100
    write(project / "app.wasm", {"main": 198 + allowed})
    code, out, _ = check(capsys, "app.wasm", "--format", "json")
    assert code == 0, out
    b = json.loads(out)["modules"][0]["budgets"][0]
    assert (b["kind"], b["limit"], b["actual"], b["status"]) == \
        ("max-growth-vs-baseline", allowed, allowed, "pass")
    assert b["limit_percent"] == 1.0 and b["reference"] == base
    write(project / "app.wasm", {"main": 198 + allowed + 1})
    code, out, _ = check(capsys, "app.wasm")
    assert code == 1
    assert f"limit +{allowed} B (1% of {base} B)" in out


def test_shrinking_passes_and_new_functions_are_named(project, capsys):
    write(project / "app.wasm", {"alpha": 30})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    record(capsys, "app.wasm")
    write(project / "app.wasm", {"alpha": 10})
    assert check(capsys, "app.wasm")[0] == 0
    write(project / "app.wasm", {"alpha": 10, "gamma": 40})
    code, out, _ = check(capsys, "app.wasm")
    assert code == 1
    assert re.search(r"\+42 B\s+gamma \(new\)", out)


def test_functions_without_names_are_keyed_by_index(project, capsys):
    write(project / "app.wasm", {"a": 5, "b": 5}, named=False, imports=2)
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    record(capsys, "app.wasm")
    write(project / "app.wasm", {"a": 5, "b": 9}, named=False, imports=2)
    code, out, _ = check(capsys, "app.wasm")
    assert code == 1
    assert re.search(r"\+4 B\s+func\[3\] \(7 -> 11 bytes\)", out), out


def test_module_missing_from_baseline_has_no_growth_budget(project, capsys):
    write(project / "app.wasm", {"main": 5})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    record(capsys, "app.wasm")
    write(project / "new.wasm", {"main": 500})
    code, out, _ = check(capsys, "new.wasm", "--format", "json")
    assert code == 0
    m = json.loads(out)["modules"][0]
    assert m["budgets"] == [] and m["baseline_code_bytes"] is None


def test_missing_baseline_file_is_a_configuration_error(project, capsys):
    write(project / "app.wasm", {"main": 5})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    code, out, err = check(capsys, "app.wasm")
    assert code == 2 and out == ""
    assert "sizes.json: the baseline file does not exist" in err


def test_malformed_baseline_file_is_a_configuration_error(project, capsys):
    write(project / "app.wasm", {"main": 5})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\n')
    (project / "sizes.json").write_text("{not json")
    code, _, err = check(capsys, "app.wasm")
    assert code == 2 and "sizes.json: not a loom-post baseline file: malformed JSON" in err
    (project / "sizes.json").write_text('{"modules": {"app.wasm": {"code_bytes": "big"}}}')
    code, _, err = check(capsys, "app.wasm")
    assert code == 2 and "integer \"code_bytes\"" in err


# -- unreadable modules --------------------------------------------------------------

def test_unreadable_module_exits_3_and_others_are_reported(project, capsys):
    write(project / "good.wasm", {"main": 5})
    (project / "bad.wasm").write_bytes(b"\0asm\1\0\0\0\x0a\x05\x01")
    before = (project / "bad.wasm").read_bytes()
    config(project, "max-code-size = 1000\n")
    code, out, err = check(capsys, "good.wasm", "bad.wasm", "missing.wasm", "--format", "json")
    assert code == 3
    assert re.search(r"^loom-post: error: bad\.wasm: .* at byte \d+$", err, re.M), err
    assert "loom-post: error: missing.wasm: no such file" in err
    doc = json.loads(out)
    assert doc["status"] == "error"
    by_path = {m["path"]: m for m in doc["modules"]}
    assert by_path["good.wasm"]["status"] == "pass"
    assert by_path["bad.wasm"]["status"] == "error" and "at byte" in by_path["bad.wasm"]["error"]
    assert (project / "bad.wasm").read_bytes() == before


def test_over_budget_and_unreadable_exits_3(project, capsys):
    write(project / "good.wasm", {"main": 50})
    (project / "bad.wasm").write_bytes(b"not wasm")
    config(project, "max-code-size = 10\n")
    code, out, _ = check(capsys, "good.wasm", "bad.wasm")
    assert code == 3
    assert "good.wasm: code section" in out and "FAIL" in out


# -- formats -------------------------------------------------------------------------

def test_json_format(project, capsys):
    write(project / "a.wasm", {"main": 5})
    write(project / "b.wasm", {"main": 50})
    config(project, "max-code-size = 30\n")
    code, out, _ = check(capsys, "a.wasm", "b.wasm", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "fail" and doc["version"] == 1
    for m in doc["modules"]:
        assert set(m) >= {"path", "code_bytes", "budgets", "status"}
        assert m["code_bytes"] == read_module((project / m["path"]).read_bytes()).code_size
        for b in m["budgets"]:
            assert set(b) >= {"kind", "limit", "actual", "status"}
            assert b["status"] == ("pass" if b["actual"] <= b["limit"] else "fail")
    assert [m["status"] for m in doc["modules"]] == ["pass", "fail"]
    config(project, "max-code-size = 3000\n")
    code, out, _ = check(capsys, "a.wasm", "b.wasm", "--format", "json")
    assert code == 0 and json.loads(out)["status"] == "pass"


def parse_markdown_table(text):
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    assert re.fullmatch(r"\|( ---:? \|)+", lines[1].replace("| --- |", "| --- |")), lines[1]
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", l.strip())[1:-1]] for l in lines[2:]]
    return header, rows


def test_markdown_table(project, capsys):
    write(project / "a.wasm", {"main": 10})
    write(project / "b.wasm", {"main": 10})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "2 B"\n')
    record(capsys, "a.wasm", "b.wasm")
    write(project / "a.wasm", {"main": 11})
    write(project / "b.wasm", {"main": 20})
    code, out, _ = check(capsys, "a.wasm", "b.wasm", "--format", "markdown")
    assert code == 1
    assert out.startswith("### loom-post size check")
    table = out.split("<details>")[0]
    header, rows = parse_markdown_table(table)
    assert header == ["module", "baseline -> now", "+- bytes", "+- %", "file", "gzip", "brotli",
                      "status"]
    assert all(len(r) == 8 for r in rows)
    assert rows[0][0] == "`b.wasm`"                   # failing first
    assert re.fullmatch(r"\d+ B -> \d+ B", rows[0][1])
    assert rows[0][2] == "+10" and rows[0][3].endswith("%") and rows[0][3].startswith("+")
    assert rows[0][7].startswith(":x:") and "max-growth-vs-baseline" in rows[0][7]
    assert rows[1][0] == "`a.wasm`" and rows[1][2] == "+1"
    assert rows[1][7] == ":white_check_mark:"
    assert "<details>" in out and "| main |" in out


def test_markdown_is_capped_for_hundreds_of_modules(project, capsys):
    config(project, 'max-code-size = 40\npaths = ["mods/*.wasm"]\n')
    for i in range(300):
        write(project / "mods" / f"m{i:03}.wasm", {"main": 50 if i % 50 == 7 else 5})
    code, out, _ = check(capsys, "--format", "markdown")
    assert code == 1
    assert len(out.encode()) < 64 * 1024                 # far below GitHub's 1 MiB
    header, rows = parse_markdown_table(out.split("<details>")[0].split("\n... and")[0])
    assert len(rows) == 50
    failing = [r for r in rows if r[7].startswith(":x:")]
    assert len(failing) == 6 and rows[:6] == failing     # failing rows first
    assert "... and 250 more (all within budget" in out


def test_github_annotations(project, capsys):
    config(project, 'max-code-size = 40\npaths = ["mods/*.wasm"]\n')
    for i in range(15):
        write(project / "mods" / f"m{i:02}.wasm", {"main": 50 + i})
    write(project / "mods" / "ok.wasm", {"main": 1})
    code, out, _ = check(capsys, "--format", "github")
    assert code == 1
    lines = out.splitlines()
    annotations = [l for l in lines if l.startswith("::")]
    assert len(annotations) == 10
    for line in annotations:
        m = ANNOTATION.match(line)
        assert m, line
        assert os.path.isfile(m.group(1))
        assert m.group(2) == "loom-post max-code-size"
        assert "limit 40 B" in m.group(3)
    assert ANNOTATION.match(annotations[0]).group(1) == os.path.join("mods", "m14.wasm")
    assert lines[-1] == "loom-post check: 16 modules, 15 over budget; " \
                        "5 more problems not annotated (see the step summary or --format text)"
    assert len(lines) == 11


def test_github_passing_prints_only_a_summary(project, capsys):
    write(project / "a.wasm", {"main": 1})
    config(project, "max-code-size = 1000\n")
    code, out, _ = check(capsys, "a.wasm", "--format", "github")
    assert code == 0
    assert out == "loom-post check: 1 module, all within budget\n"


def test_github_escapes_data_and_properties(project, capsys):
    write(project / "a,b.wasm", {"main": 10})
    config(project, 'baseline = "sizes.json"\nmax-growth-vs-baseline = "1%"\n')
    record(capsys, "a,b.wasm")
    write(project / "a,b.wasm", {"main": 20})
    code, out, _ = check(capsys, "a,b.wasm", "--format", "github")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("::error file=a%2Cb.wasm,title=loom-post max-growth-vs-baseline::")
    assert "(1%25 of " in first and "grew most: main +10 B" in first


def test_unknown_format_is_a_usage_error(project, capsys):
    write(project / "a.wasm", {"main": 1})
    code, _, err = check(capsys, "a.wasm", "--format", "yaml")
    assert code == 2 and "invalid choice" in err
