#!/usr/bin/env python3
"""Measure the raw cargo corpus: sections, code size, DWARF/name, wasm-opt, validation.

    python3 bench/rawcorpus/measure.py [DIR] [--wasm-opt] [--validate] [--json]

For every ``*.wasm`` in DIR (default ~/.cache/loom-post-rawcorpus): the code-section
size (section header parsed here, no tools needed), the file size, and whether it
carries DWARF (``.debug_*``), ``name`` and ``producers`` custom sections.
``--wasm-opt`` also runs binaryen's ``wasm-opt IN -o OUT`` (no passes) and
``wasm-opt -Oz`` on each module and reports the code-section size of each output.
``--validate`` checks each module with wasmtime's ``Module.validate`` (SIMD, bulk
memory, reference types and multi-value enabled).  Python 3.9+, stdlib only
(wasmtime for ``--validate``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_DIR = Path.home() / ".cache" / "loom-post-rawcorpus"


def _uleb(b: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def sections(data: bytes) -> list[tuple[int, str, int]]:
    """(id, custom name or '', payload size) of each section."""
    if data[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    out, i = [], 8
    while i < len(data):
        sid = data[i]
        size, j = _uleb(data, i + 1)
        name = ""
        if sid == 0:
            nlen, k = _uleb(data, j)
            name = data[k:k + nlen].decode("utf-8", "replace")
        out.append((sid, name, size))
        i = j + size
    return out


def summary(data: bytes) -> dict:
    secs = sections(data)
    custom = [n for s, n, _ in secs if s == 0]
    return {
        "bytes": len(data),
        "code": sum(sz for s, _, sz in secs if s == 10),
        "dwarf_bytes": sum(sz for s, n, sz in secs if s == 0 and n.startswith(".debug")),
        "dwarf": any(n.startswith(".debug") for n in custom),
        "name": "name" in custom,
        "producers": "producers" in custom,
    }


def wasm_opt_code(path: Path, flags: list[str], tmp: Path) -> int | None:
    out = tmp / (path.stem + "".join(flags) + ".wasm")
    r = subprocess.run(["wasm-opt", str(path), *flags, "-o", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"measure: wasm-opt {' '.join(flags)} {path.name}: "
              + (r.stderr.strip().splitlines() or ["failed"])[-1], file=sys.stderr)
        return None
    return summary(out.read_bytes())["code"]


def validator():
    import wasmtime  # noqa: PLC0415

    cfg = wasmtime.Config()
    cfg.wasm_simd = True
    cfg.wasm_bulk_memory = True
    cfg.wasm_reference_types = True
    cfg.wasm_multi_value = True
    engine = wasmtime.Engine(cfg)

    def validate(data: bytes) -> str:
        try:
            wasmtime.Module.validate(engine, data)
            return ""
        except Exception as e:  # noqa: BLE001 - report whatever wasmtime says
            return str(e).splitlines()[0] if str(e) else type(e).__name__

    return validate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--wasm-opt", action="store_true")
    ap.add_argument("--validate", action="store_true")
    ap.add_argument("--json", action="store_true", help="one JSON object per module")
    args = ap.parse_args(argv)

    paths = sorted(args.dir.expanduser().glob("*.wasm"))
    if not paths:
        print(f"measure: no .wasm in {args.dir}", file=sys.stderr)
        return 1
    if args.wasm_opt and not shutil.which("wasm-opt"):
        print("measure: wasm-opt not found (apt-get install binaryen)", file=sys.stderr)
        args.wasm_opt = False
    validate = validator() if args.validate else None

    rows = []
    with tempfile.TemporaryDirectory() as td:
        for p in paths:
            data = p.read_bytes()
            row = {"module": p.name, **summary(data)}
            if args.wasm_opt:
                row["code_wasm_opt"] = wasm_opt_code(p, [], Path(td))
                row["code_wasm_opt_Oz"] = wasm_opt_code(p, ["-Oz"], Path(td))
            if validate:
                row["invalid"] = validate(data)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)

    if not args.json:
        head = f"{'module':<28} {'bytes':>9} {'code':>8} {'dwarf':>9} name prod"
        if args.wasm_opt:
            head += f" {'wopt':>8} {'wopt-Oz':>8}"
        if args.validate:
            head += " valid"
        print(head)
        for r in rows:
            line = (f"{r['module']:<28} {r['bytes']:>9} {r['code']:>8} {r['dwarf_bytes']:>9} "
                    f"{'yes' if r['name'] else 'no':>4} {'yes' if r['producers'] else 'no':>4}")
            if args.wasm_opt:
                line += f" {r['code_wasm_opt'] or '-':>8} {r['code_wasm_opt_Oz'] or '-':>8}"
            if args.validate:
                line += " " + ("yes" if not r["invalid"] else "NO: " + r["invalid"])
            print(line)
    tot = {k: sum(r.get(k) or 0 for r in rows)
           for k in ("bytes", "code", "dwarf_bytes", "code_wasm_opt", "code_wasm_opt_Oz")}
    msg = (f"{len(rows)} modules, {tot['bytes']} bytes, code {tot['code']} bytes, "
           f"DWARF in {sum(r['dwarf'] for r in rows)}, name in {sum(r['name'] for r in rows)}")
    if args.wasm_opt:
        msg += f"; code after wasm-opt {tot['code_wasm_opt']}, after -Oz {tot['code_wasm_opt_Oz']}"
    if args.validate:
        bad = [r["module"] for r in rows if r["invalid"]]
        msg += f"; {len(rows) - len(bad)} valid" + (f", INVALID: {' '.join(bad)}" if bad else "")
    print(msg, file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
