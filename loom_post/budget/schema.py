"""A JSON Schema (draft-07, what taplo and most editors read) for loom-post.toml.

Generated from the tables the validator itself reads (config.TOP_KEYS,
MODULE_KEYS, BUDGET_KEYS, FILE_KEYS; measures.KEYS; units.UNITS; the pass
registry; sizes.MEASURES), so a key added there appears here without anyone
listing it twice. A key the generator cannot type by its table gets a
permissive entry (editors then complete it but check nothing) rather than a
wrong one; the validator stays the authority either way.
"""

import json

from loom_post.budget import config, measures
from loom_post.budget.units import UNITS
from loom_post.passes import PASSES
from loom_post.sizes import LABELS, MEASURES

_NUMBER = r"[0-9]+(\.[0-9]+)?"
_UNIT = "(" + "|".join(sorted(UNITS, key=lambda u: (len(u), u))) + ")"
SIZE_PATTERN = rf"^\s*{_NUMBER}\s*{_UNIT}?\s*$"
GROWTH_PATTERN = rf"^\s*({_NUMBER}\s*%|{_NUMBER}\s*{_UNIT}?)\s*$"

_DEFINITIONS = {
    "size": {"description": "Bytes, or a number and a unit: B, kB (1000), KiB (1024), "
                            "MB, MiB, GB, GiB; e.g. \"100 kB\".",
             "anyOf": [{"type": "integer", "minimum": 0},
                       {"type": "string", "pattern": SIZE_PATTERN}]},
    "growth": {"description": "Bytes, a size with a unit, or a percentage of the "
                              "reference size; e.g. \"0 B\", \"2 KiB\", \"1%\".",
               "anyOf": [{"type": "integer", "minimum": 0},
                         {"type": "string", "pattern": GROWTH_PATTERN}]},
    "globs": {"description": "A path glob or a list of them (`*`, `?`, `**`, `[...]`).",
              "anyOf": [{"type": "string", "minLength": 1},
                        {"type": "array", "minItems": 1,
                         "items": {"type": "string", "minLength": 1}}]},
}

_WHAT = ("the absolute cap on the {label} size",
         "how much the optimizer may grow the {label} size",
         "how much the {label} size may grow since the baseline")

_FIXED = {
    "paths": ({"$ref": "#/definitions/globs"},
              "The modules to act on when none are given (default "
              + ", ".join(config.DEFAULT_PATHS) + ")."),
    "passes": ({"type": "array", "items": {"enum": list(PASSES)}},
               "The optimizer's passes, in order (default: every default pass)."),
    "baseline": ({"anyOf": [{"type": "string", "minLength": 1}, {"enum": [False]}]},
                 "The baseline JSON file that `loom-post baseline` writes and the "
                 "*-vs-baseline budgets compare against; false: none."),
    "optimize": ({"type": "boolean"}, "false: measure and gate only, never rewrite."),
    "max-input-size": ({"$ref": "#/definitions/size"},
                       "Refuse larger input files (default 256 MiB)."),
    "lock-timeout": ({"type": "number", "minimum": 0},
                     "Seconds to wait for another run's lock on a module."),
    "allow-outside": ({"type": "boolean"},
                      "Let globs and baseline files reach outside the configuration's "
                      "directory."),
    measures.NEVER_GROW: ({"type": "array", "items": {"enum": list(MEASURES)}},
                          "The sizes no rewrite may grow (code is always included)."),
}


def key_schema(key):
    """The schema of one key's value, with a description."""
    if key in _FIXED:
        body, what = _FIXED[key]
        return dict(body, description=what)
    for measure, keys in measures.KEYS.items():
        if key in keys:
            kind = "size" if key in measures.SIZE_KEYS else "growth"
            what = _WHAT[keys.index(key)].format(label=LABELS[measure])
            return {"description": what[0].upper() + what[1:] + "; false: no limit.",
                    "anyOf": [{"$ref": f"#/definitions/{kind}"}, {"enum": [False]}]}
    return {"description": "See docs/budgets.md (this schema does not check its value)."}


def _table(keys, exclude=()):
    return {k: key_schema(k) for k in keys if k not in exclude}


def schema():
    """The schema as a dict."""
    module = {"type": "object", "additionalProperties": False, "required": ["path"],
              "properties": dict(path=dict(_DEFINITIONS["globs"],
                                           description="Which modules the table applies to."),
                                 **_table(config.MODULE_KEYS, ("path",)))}
    top = _table(config.TOP_KEYS, ("module",))
    top["module"] = {"description": "Per-module overrides, later tables win.",
                     "type": "array", "items": {"$ref": "#/definitions/module"}}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "loom-post configuration (loom-post.toml, or [tool.loom-post] in "
                 "pyproject.toml)",
        "type": "object",
        "additionalProperties": False,
        "properties": top,
        "dependencies": {k: ["baseline"] for k in sorted(measures.BASELINE_KEYS)},
        "definitions": dict(_DEFINITIONS, module=module),
    }


def dumps():
    """The schema file's text: stable key order, two-space indent, one newline."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
