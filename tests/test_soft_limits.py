"""Soft limits: a warn- level for every budget (exit 0, reported as a warning),
min-change (growth under it is noise), and approvals (--approve and
LOOM_POST_APPROVE: growth since the baseline reported as approved, exit 0)."""

import json
import re

import pytest

from loom_post.budget import measures
from loom_post.budget.config import BUDGET_KEYS, load_config
from loom_post.cli import main

wasmtime = pytest.importorskip("wasmtime")

from wat_util import write_nop_module as write  # noqa: E402
from cli_util import run  # noqa: E402


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOOM_POST_APPROVE", raising=False)
    return tmp_path


def config(project, text):
    (project / "loom-post.toml").write_text(text)


def grown(project, capsys, before=40, after=60, extra=""):
    """app.wasm recorded with `before` nops, then rebuilt with `after`."""
    config(project, 'baseline = "sizes.json"\n' + extra)
    write(project / "app.wasm", {"main": before})
    assert main(["baseline", "app.wasm"]) == 0
    capsys.readouterr()
    write(project / "app.wasm", {"main": after})


# -- the key table -----------------------------------------------------------------

def test_every_budget_has_a_warn_level_generated_from_the_table():
    hard = [k for keys in measures.KEYS.values() for k in keys]
    assert len(hard) == 12
    for key in hard:
        soft = "warn-" + key[len("max-"):]
        assert measures.WARN_KEYS[soft] == key
        assert soft in BUDGET_KEYS
    assert "warn-code-size" in BUDGET_KEYS and "warn-gzip-growth-vs-baseline" in BUDGET_KEYS


@pytest.mark.parametrize("key", sorted(measures.WARN_KEYS))
def test_each_warn_key_is_read_with_the_units_of_its_hard_key(tmp_path, key):
    (tmp_path / "loom-post.toml").write_text(f'{key} = "2 KiB"\nmin-change = "1%"\n')
    settings = load_config(cwd=tmp_path).settings_for(str(tmp_path / "x.wasm"))
    assert getattr(settings, measures.attr(key)) == 2048
    assert str(settings.min_change) == "1%"


@pytest.mark.parametrize("key", ["warn-code-size", "warn-growth-vs-baseline", "min-change"])
def test_bad_soft_values_exit_2_with_one_line(project, capsys, key):
    write(project / "app.wasm", {"main": 10})
    config(project, f'{key} = "10 KB"\n')
    code, out, err = run(capsys, "check", "app.wasm")
    assert code == 2
    assert err.count("\n") == 1 and f'{key} = "10 KB": unit \'KB\' is ambiguous' in err


def test_percent_is_refused_for_a_warn_cap(project, capsys):
    write(project / "app.wasm", {"main": 10})
    config(project, 'warn-code-size = "5%"\n')
    code, _, err = run(capsys, "check", "app.wasm")
    assert code == 2 and "warn-code-size" in err


# -- warn levels ---------------------------------------------------------------------

def test_warn_cap_is_reported_and_exits_0(project, capsys):
    size = write(project / "app.wasm", {"main": 40})
    config(project, f"warn-code-size = {size - 1}\nmax-code-size = {size + 100}\n")
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 0
    assert f"warn-code-size: limit {size - 1} B, actual {size} B: WARN" in out
    assert "check: 1 module, all within budget, 1 over a warn- level" in out
    config(project, f"warn-code-size = {size}\n")   # at the limit: no warning
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 0 and "WARN" not in out and "warn- level" not in out


def test_warn_and_hard_levels_together(project, capsys):
    size = write(project / "app.wasm", {"main": 40})
    config(project, f"warn-code-size = {size - 10}\nmax-code-size = {size - 1}\n")
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 1
    assert "WARN" in out and "max-code-size" in out and "FAIL" in out


def test_warn_growth_vs_baseline_in_every_format(project, capsys):
    grown(project, capsys, extra='warn-growth-vs-baseline = "1%"\nmax-growth-vs-baseline = "50%"\n')
    code, out, _ = run(capsys, "check", "app.wasm", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "pass"
    [b] = [b for b in doc["modules"][0]["budgets"] if b["kind"] == "warn-growth-vs-baseline"]
    assert b["status"] == "warn" and b["actual"] == 20 and b["measure"] == "code"
    code, out, _ = run(capsys, "check", "app.wasm", "--format", "markdown")
    assert code == 0
    row = [l for l in out.splitlines() if l.startswith("| `app.wasm`")][0]
    assert row.endswith("| :warning: warn-growth-vs-baseline +20 B > +0 B (1% of "
                        f"{b['reference']} B) |")
    code, out, _ = run(capsys, "check", "app.wasm", "--format", "github")
    assert code == 0
    assert re.match(r"^::warning file=app\.wasm,title=loom-post warn-growth-vs-baseline::", out)


def test_warn_in_optimize_output(project, capsys):
    size = write(project / "app.wasm", {"main": 40})
    config(project, f"warn-code-size = 5\npasses = []\n")
    code, out, _ = run(capsys, "optimize", "app.wasm")
    assert code == 0
    assert "warning: warn-code-size: limit 5 B" in out


# -- min-change ----------------------------------------------------------------------

def test_growth_below_min_change_does_not_fail(project, capsys):
    grown(project, capsys, 40, 43, 'max-growth-vs-baseline = "0 B"\nmin-change = "4 B"\n')
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 0, out
    assert "actual +3 B: pass" in out and "below min-change" in out
    assert "functions that grew most" not in out
    code, out, _ = run(capsys, "check", "app.wasm", "--format", "json")
    [b] = json.loads(out)["modules"][0]["budgets"]
    assert b["status"] == "pass" and b["below_min_change"] is True


def test_growth_at_min_change_counts(project, capsys):
    grown(project, capsys, 40, 44, 'max-growth-vs-baseline = "0 B"\nmin-change = "4 B"\n')
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 1 and "actual +4 B: FAIL" in out


def test_min_change_percent_and_warn_levels(project, capsys):
    # +3 bytes on a code section of ~46: under 10%, so neither a failure nor a warning
    grown(project, capsys, 40, 43, 'max-growth-vs-baseline = "0 B"\n'
          'warn-growth-vs-baseline = "0 B"\nmin-change = "10%"\n')
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 0 and "WARN" not in out and "FAIL" not in out
    grown(project, capsys, 40, 60, 'warn-growth-vs-baseline = "0 B"\nmin-change = "10%"\n')
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 0 and "warn-growth-vs-baseline: limit +0 B, actual +20 B: WARN" in out


def test_min_change_does_not_hide_a_cap(project, capsys):
    grown(project, capsys, 40, 41, 'min-change = "1 kB"\nmax-code-size = 10\n')
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 1 and "max-code-size" in out


# -- approvals -------------------------------------------------------------------------

BUDGET = 'max-growth-vs-baseline = "1%"\n'


def test_approve_flag_turns_growth_into_approved(project, capsys):
    grown(project, capsys, extra=BUDGET)
    assert run(capsys, "check", "app.wasm")[0] == 1
    code, out, err = run(capsys, "check", "app.wasm", "--approve", "app.wasm")
    assert code == 0, out + err
    assert "max-growth-vs-baseline: limit +0 B (1% of" in out and "actual +20 B: APPROVED" in out
    assert "1 approved to grow" in out
    code, out, _ = run(capsys, "check", "app.wasm", "--approve", "*.wasm", "--format", "json")
    assert json.loads(out)["modules"][0]["budgets"][0]["status"] == "approved"
    code, out, _ = run(capsys, "check", "app.wasm", "--approve", "app*", "--format", "github")
    assert code == 0 and out.startswith("::notice file=app.wasm,title=loom-post max-growth-vs")


def test_approve_env_variable_with_several_globs(project, capsys, monkeypatch):
    grown(project, capsys, extra=BUDGET)
    write(project / "lib.wasm", {"main": 5})
    monkeypatch.setenv("LOOM_POST_APPROVE", "other.wasm, app.wasm")
    code, out, err = run(capsys, "check", "app.wasm", "lib.wasm", "--format", "markdown")
    assert code == 0, out
    row = [l for l in out.splitlines() if l.startswith("| `app.wasm`")][0]
    assert ":heavy_check_mark: approved: max-growth-vs-baseline +20 B" in row
    assert "loom-post: note: approval 'other.wasm' matches no module" in err


def test_approval_of_another_module_does_not_help(project, capsys, monkeypatch):
    grown(project, capsys, extra=BUDGET)
    monkeypatch.setenv("LOOM_POST_APPROVE", "lib.wasm")
    code, out, _ = run(capsys, "check", "app.wasm")
    assert code == 1 and "FAIL" in out


def test_approval_covers_growth_not_caps(project, capsys):
    grown(project, capsys, extra=BUDGET + "max-code-size = 10\n")
    code, out, _ = run(capsys, "check", "app.wasm", "--approve", "app.wasm")
    assert code == 1
    assert "APPROVED" in out and "max-code-size: limit 10 B" in out and "FAIL" in out


def test_approval_by_path_under_a_directory(project, capsys):
    config(project, 'baseline = "sizes.json"\n' + BUDGET)
    write(project / "target" / "a" / "app.wasm", {"main": 40})
    assert main(["baseline", "target/a/app.wasm"]) == 0
    write(project / "target" / "a" / "app.wasm", {"main": 60})
    capsys.readouterr()
    code, _, _ = run(capsys, "check", "target/a/app.wasm", "--approve", "target/**/app.wasm")
    assert code == 0
    code, _, _ = run(capsys, "check", "target/a/app.wasm", "--approve", "target/b/*")
    assert code == 1
