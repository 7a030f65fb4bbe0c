"""The configuration's JSON Schema: generated from the validator's tables,
committed as docs/loom-post.schema.json, and agreeing with the validator."""

import json
import os

import pytest

from loom_post.budget import config, schema
from loom_post.budget.config import load_config
from loom_post.cli import main
from loom_post.errors import ConfigError

jsonschema = pytest.importorskip("jsonschema")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMITTED = os.path.join(ROOT, "docs", "loom-post.schema.json")


def test_the_committed_file_is_the_generated_one():
    with open(COMMITTED, encoding="utf-8") as f:
        committed = f.read()
    assert committed == schema.dumps(), (
        "docs/loom-post.schema.json is stale: run "
        "`python3 -m loom_post schema -o docs/loom-post.schema.json`")


def test_the_command_prints_it_and_writes_it(tmp_path, capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema.dumps()
    out = tmp_path / "s.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert out.read_text() == schema.dumps()
    assert main(["schema", "-o", str(tmp_path / "no" / "s.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loom-post: error: ") and "Traceback" not in err


def test_it_is_a_valid_draft7_schema_with_every_key():
    doc = schema.schema()
    jsonschema.Draft7Validator.check_schema(doc)
    assert set(doc["properties"]) == set(config.TOP_KEYS)
    assert set(doc["definitions"]["module"]["properties"]) == set(config.MODULE_KEYS)


def test_a_key_added_to_the_tables_appears_without_being_listed(monkeypatch):
    """Other keys arrive in config.py in parallel: the schema follows the tables."""
    monkeypatch.setattr(config, "TOP_KEYS", config.TOP_KEYS + ("warn-gzip-size",))
    monkeypatch.setattr(config, "MODULE_KEYS", config.MODULE_KEYS + ("warn-gzip-size",))
    doc = schema.schema()
    assert "warn-gzip-size" in doc["properties"]
    assert "warn-gzip-size" in doc["definitions"]["module"]["properties"]


# (TOML text, whether loom-post accepts it): the schema must agree on each.
CASES = [
    ('max-code-size = "100 kB"', True),
    ('max-code-size = "2 KiB"', True),
    ("max-code-size = 5000", True),
    ("max-code-size = false", True),
    ('max-code-size = "100 KB"', False),          # ambiguous unit
    ('max-code-size = "1%"', False),              # a cap is no percentage
    ('max-code-size = "-1 B"', False),
    ("max-code-size = true", False),
    ('max-growth = "1%"', True),
    ('max-gzip-growth = "0 B"', True),
    ('max-brotli-size = "1 MiB"', True),
    ('max-file-growth = "abc"', False),
    ('max-growth-vs-baseline = "1%"', False),     # no baseline to compare against
    ('baseline = "s.json"\nmax-growth-vs-baseline = "1%"', True),
    ('baseline = "s.json"\nmax-gzip-growth-vs-baseline = 10', True),
    ("baseline = false", True),
    ("baseline = 3", False),
    ('paths = ["target/*.wasm"]', True),
    ('paths = "target/*.wasm"', True),
    ("paths = []", False),
    ('passes = ["cse", "compact"]', True),
    ('passes = ["nope"]', False),
    ('never-grow = ["code", "gzip"]', True),
    ('never-grow = ["zip"]', False),
    ('max-input-size = "1 MiB"', True),
    ("lock-timeout = 2.5", True),
    ("lock-timeout = -1", False),
    ("allow-outside = true", True),
    ("optimize = false", True),
    ('optimize = "no"', False),
    ('max-cod-size = "1 kB"', False),              # a typo
    ('[[module]]\npath = "**/a.wasm"\nmax-code-size = "1 MiB"\noptimize = false', True),
    ('[[module]]\nmax-code-size = "1 MiB"', False),  # no path
    ('[[module]]\npath = "a.wasm"\npasses = ["cse"]', False),  # top level only
    ('[[module]]\npath = "a.wasm"\nmax-gzip-size = "10 kB"', True),
]


@pytest.mark.parametrize("text, accepted", CASES)
def test_the_schema_agrees_with_the_validator(tmp_path, text, accepted):
    from loom_post.budget.config import _tomllib
    tomllib = _tomllib()
    path = tmp_path / "loom-post.toml"
    path.write_text(text + "\n")
    try:
        load_config(str(path))
        loaded = True
    except ConfigError:
        loaded = False
    assert loaded == accepted, "the case's expectation is wrong"
    errors = list(jsonschema.Draft7Validator(schema.schema()).iter_errors(
        tomllib.loads(text)))
    assert (not errors) == accepted, [e.message for e in errors]


def test_the_example_configuration_is_valid():
    from loom_post.budget.config import _tomllib
    tomllib = _tomllib()
    with open(os.path.join(ROOT, "examples", "kernel-sched", "loom-post.toml"), "rb") as f:
        jsonschema.validate(tomllib.load(f), schema.schema())
