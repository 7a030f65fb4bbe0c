"""`loom-post-link`: a linker for wasm32 targets that optimizes what it links.

Set it as the target's linker and rustc hands it the arguments it would give
rust-lld (`-flavor wasm ... -o target/<triple>/<profile>/deps/<name>.wasm`):

    # .cargo/config.toml
    [target.wasm32-unknown-unknown]
    linker = "loom-post-link"

It runs the real linker with every argument unchanged. When that fails, its
output and exit status are the result, untouched. Otherwise the `-o` module goes
through the `loom-post optimize` pipeline (in place, then the budgets); a budget
breach fails the link with exit status 1 and the gate's report on stderr, which
rustc shows. Outputs that are not .wasm are left alone.

The real linker is `$LOOM_POST_LINKER` when set (e.g. `wasm-ld`), else the
rust-lld of the toolchain running us (`lib/rustlib/<host>/bin/rust-lld` under the
sysroot of the rustc that called us, `$RUSTC`, or `rustc`), else `rust-lld` on
PATH. The configuration is `$LOOM_POST_CONFIG` when set, else loom-post.toml
found upwards from the current directory, which is where cargo ran rustc.
"""

import glob
import os
import platform
import shutil
import subprocess
import sys

from loom_post import exitcodes
from loom_post.postlink import exit_status, optimize_paths
from loom_post.report.outcomes import print_report
from loom_post.budget.config import load_config
from loom_post.errors import ConfigError, LoomPostError, print_error

PROG = "loom-post-link"
# Set for the real linker, so a LOOM_POST_LINKER naming us cannot recurse forever.
GUARD = "LOOM_POST_LINK_ACTIVE"


def _rustc_candidates():
    """rustc executables whose sysroot may hold rust-lld, the likeliest first."""
    found = []
    try:  # the rustc that is running us as its linker (Linux)
        parent = os.readlink(f"/proc/{os.getppid()}/exe")
        if os.path.basename(parent).startswith("rustc"):
            found.append(parent)
    except OSError:
        pass
    if os.environ.get("RUSTC"):
        found.append(os.environ["RUSTC"])
    found.append("rustc")
    return found


def _sysroot_lld(rustc):
    try:
        sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True,
                                 text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not sysroot:
        return None
    hits = sorted(glob.glob(os.path.join(sysroot, "lib", "rustlib", "*", "bin", "rust-lld")))
    machine = platform.machine()
    hits.sort(key=lambda p: machine not in p)  # the host's own first
    return next((h for h in hits if os.access(h, os.X_OK)), None)


def find_linker():
    configured = os.environ.get("LOOM_POST_LINKER")
    if configured:
        return configured
    for rustc in _rustc_candidates():
        lld = _sysroot_lld(rustc)
        if lld:
            return lld
    lld = shutil.which("rust-lld")
    if lld:
        return lld
    raise ConfigError("cannot find rust-lld in the toolchain's sysroot or on PATH; "
                      "set LOOM_POST_LINKER to the linker to run (e.g. wasm-ld)")


def _unescape(line):
    """Undo rustc's response-file escaping: a backslash quotes the next character."""
    chars, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            i += 1
        chars.append(line[i])
        i += 1
    return "".join(chars)


def _expand(args):
    """Arguments with rustc's @response files read (one escaped argument per line)."""
    out = []
    for arg in args:
        if arg.startswith("@") and os.path.isfile(arg[1:]):
            with open(arg[1:], encoding="utf-8", errors="replace") as f:
                out.extend(_unescape(line) for line in f.read().splitlines())
        else:
            out.append(arg)
    return out


def output_path(args):
    """The linker's output file (`-o FILE`, `--output FILE`, `--output=FILE`), or None."""
    args = _expand(args)
    found = None
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--output="):
            found = arg.split("=", 1)[1]
    return found


def _error(message):
    print_error(message, prog=PROG)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if os.environ.get(GUARD):
        _error("LOOM_POST_LINKER runs loom-post-link again; point it at the real linker")
        return exitcodes.USAGE
    try:
        linker = find_linker()
        try:
            status = subprocess.run([linker] + argv, env=dict(os.environ, **{GUARD: "1"})).returncode
        except OSError as e:
            raise ConfigError(f"cannot run the linker {linker}: {e.strerror or e}")
        if status != 0:
            return status if status > 0 else 128 - status
        out = output_path(argv)
        if not out or not out.endswith(".wasm"):
            return exitcodes.OK
        config = load_config(os.environ.get("LOOM_POST_CONFIG") or None)
        # rustc shows a linker's output only when the link fails: stderr carries it.
        outcomes = optimize_paths([out], config)
        status = exit_status(outcomes)
        print_report(outcomes, status, out=sys.stderr)
        return status
    except LoomPostError as e:
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
