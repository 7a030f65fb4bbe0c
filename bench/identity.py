"""Byte-identity check for refactors: optimize every module of a set with the
CLI (no configuration, default passes) and print or compare the sha256 of each
output.

    python3 bench/identity.py record REF.json [DIR_OR_FILE...]
    python3 bench/identity.py compare REF.json [DIR_OR_FILE...]

With no DIR_OR_FILE: the shared corpus, the bundled example and a fixed set of
wasm-tools smith modules (seeds 0..199) when `wasm-tools` is on PATH.
Exit 1 when any output differs from the reference.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.corpus import corpus_paths, default_fetch  # noqa: E402

SMITH_SEEDS = 200


def _smith(tmp):
    if not shutil.which("wasm-tools"):
        return []
    out = []
    for seed in range(SMITH_SEEDS):
        rnd = hashlib.sha256(f"loom-identity-{seed}".encode()).digest() * 64
        path = os.path.join(tmp, f"smith-{seed:03d}.wasm")
        proc = subprocess.run(["wasm-tools", "smith", "-o", path], input=rnd,
                              capture_output=True)
        if proc.returncode == 0:
            out.append(path)
    return out


def inputs(args, tmp):
    if args:
        found = []
        for a in args:
            found += sorted(glob.glob(os.path.join(a, "*.wasm"))) if os.path.isdir(a) else [a]
        return found
    fetch = default_fetch()
    found = corpus_paths(fetch) if fetch else []
    found.append(os.path.join(ROOT, "examples", "kernel-sched", "kernel_sched.wasm"))
    return found + _smith(tmp)


def output_hash(path, tmp):
    out = os.path.join(tmp, "out.wasm")
    if os.path.exists(out):
        os.unlink(out)
    # a cache of its own, empty: every output is computed (an older tree ignores it)
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(dir=tmp))
    proc = subprocess.run([sys.executable, "-m", "loom_post", "optimize", path, "-o", out,
                           "--format", "json", "-j", "1"],
                          capture_output=True, cwd=tmp, env=env)
    if not os.path.exists(out):
        return f"exit {proc.returncode}"
    with open(out, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv):
    if len(argv) < 2 or argv[0] not in ("record", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, ref = argv[0], argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        hashes = {os.path.basename(p): output_hash(p, tmp) for p in inputs(argv[2:], tmp)}
    if mode == "record":
        with open(ref, "w") as f:
            json.dump(hashes, f, indent=1, sort_keys=True)
        print(f"recorded {len(hashes)} outputs in {ref}")
        return 0
    with open(ref) as f:
        want = json.load(f)
    differ = sorted(k for k in want if hashes.get(k) != want[k])
    for k in differ:
        print(f"DIFFERS: {k}: {want[k]} -> {hashes.get(k)}")
    print(f"{len(want) - len(differ)} of {len(want)} outputs byte-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
