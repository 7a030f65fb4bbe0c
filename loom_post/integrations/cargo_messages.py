"""Reading cargo's JSON message stream, and asking cargo for it.

`cargo build --message-format=json-render-diagnostics` prints one JSON object per
line on stdout while cargo itself renders rustc's diagnostics, readable, on
stderr. The `compiler-artifact` objects list each built file in `filenames`;
the `.wasm` ones are what loom-post optimizes. A line on stdout that is not a
JSON object with a `reason` (a program's own output under `cargo run`, say) is
not a message.

The user's own `--message-format` is respected: a JSON one is kept (and the
stream is theirs to read), `human` and `short` become the JSON format that
renders diagnostics the same way, so artifacts can still be found.
"""

import json

JSON_RENDERED = "json-render-diagnostics"


def parse_line(line):
    """The cargo message on `line`, or None when the line is not one (plain text,
    or JSON that is no cargo message: every cargo message has a `reason`)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) and "reason" in msg else None


def wasm_artifacts(msg):
    """The .wasm files a `compiler-artifact` message lists (none for other messages)."""
    if not msg or msg.get("reason") != "compiler-artifact":
        return []
    return [f for f in msg.get("filenames") or [] if isinstance(f, str) and f.endswith(".wasm")]


class Collector:
    """Ordered, de-duplicated .wasm artifacts from a stream of stdout lines."""

    def __init__(self):
        self._seen = {}

    def feed(self, line):
        """Record what `line` announces; return its message, or None for plain text."""
        msg = parse_line(line)
        for path in wasm_artifacts(msg):
            self._seen.setdefault(path, None)
        return msg

    @property
    def paths(self):
        return list(self._seen)


def split_args(args):
    """(cargo's own arguments, the rest): a `--` and what follows it belong to the
    program `cargo run` or `cargo test` starts, and are never ours to read."""
    end = args.index("--") if "--" in args else len(args)
    return list(args[:end]), list(args[end:])


def with_json_messages(args):
    """(cargo args that make cargo print JSON messages, whether the user asked for JSON)."""
    head, tail = split_args(args)
    values, kept, i = [], [], 0
    while i < len(head):
        arg = head[i]
        if arg == "--message-format" and i + 1 < len(head):
            values.append(head[i + 1])
            i += 2
            continue
        if arg.startswith("--message-format="):
            values.append(arg.split("=", 1)[1])
            i += 1
            continue
        kept.append(arg)
        i += 1
    if not values:
        return head + [f"--message-format={JSON_RENDERED}"] + tail, False
    parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
    if any(p.startswith("json") for p in parts):
        return list(args), True
    # human / short: the same readable diagnostics, rendered by cargo from JSON.
    fmt = ("json-diagnostic-short," if "short" in parts else "") + JSON_RENDERED
    return kept + [f"--message-format={fmt}"] + tail, False
