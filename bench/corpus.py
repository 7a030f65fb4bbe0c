"""Where the benchmarks find their modules: the shared corpus fetch script,
which downloads (once) and prints one cached module path per line."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_fetch():
    for cand in (os.environ.get("LOOM_CORPUS_FETCH"),
                 os.path.join(ROOT, "..", "shared", "corpus", "fetch"),
                 "/work/shared/corpus/fetch"):
        if cand and os.path.exists(cand):
            return cand
    return None


def corpus_paths(fetch):
    proc = subprocess.run(["bash", fetch], capture_output=True, text=True)
    paths = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().endswith(".wasm")]
    if proc.returncode != 0:
        print(f"note: {fetch} exited {proc.returncode}: {proc.stderr.strip()[:300]}",
              file=sys.stderr)
    return paths
