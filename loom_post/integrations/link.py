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

The module is known by the path cargo then hard-links it to,
`target/<triple>/<profile>/<name>.wasm`, so [[module]] globs, caps and baseline
entries written for that path apply here as on every other route. Only the
configured `profiles` (default: release) are touched: a debug link is a plain
link. A baseline file that does not exist yet never fails a link.
`LOOM_POST_KEEP_DWARF=1` (or `keep-dwarf = true`) keeps DWARF.

The real linker is `$LOOM_POST_LINKER` when set (e.g. `wasm-ld`), else the
rust-lld of the toolchain that is linking: its sysroot is read from the `-L
<sysroot>/lib/rustlib/<target>/lib` argument rustc passes, else asked from the
rustc that called us (our parent process) or `$RUSTC`; rust-lld is looked for in
`<sysroot>/lib/rustlib/<host>/bin/` and `<sysroot>/bin/`. Only then is `rust-lld`
taken from PATH (rustc puts its own host bin directory first there). A `rustc`
that merely comes first on PATH is never asked: it may be another toolchain.
The configuration is `$LOOM_POST_CONFIG` when set, else loom-post.toml found
upwards from the current directory, which is where cargo ran rustc.
"""

import glob
import os
import platform
import shutil
import subprocess
import sys

from loom_post import __version__, exitcodes
from loom_post.budget.cargo_layout import profile_selected, uplifted
from loom_post.postlink import exit_status, optimize_paths
from loom_post.report.outcomes import print_report
from loom_post.budget.config import load_config
from loom_post.errors import ConfigError, LoomPostError, print_error

PROG = "loom-post-link"
# Set for the real linker, so a LOOM_POST_LINKER naming us cannot recurse forever.
GUARD = "LOOM_POST_LINK_ACTIVE"
KEEP_DWARF = "LOOM_POST_KEEP_DWARF"
DWARF_HINT = f"{KEEP_DWARF}=1 (or keep-dwarf = true in loom-post.toml)"


def _args_sysroot(args):
    """The sysroot of the rustc that is linking, from the `-L
    <sysroot>/lib/rustlib/<target>/lib` it passes for its standard library."""
    args = _expand(args)
    for i, arg in enumerate(args):
        path = args[i + 1] if arg == "-L" and i + 1 < len(args) else (
            arg[2:] if arg.startswith("-L") else None)
        if not path:
            continue
        parts = os.path.normpath(path).split(os.sep)
        if len(parts) >= 4 and parts[-1] == "lib" and parts[-4:-2] == ["lib", "rustlib"]:
            return os.sep.join(parts[:-4]) or os.sep
    return None


def _rustc_sysroot(rustc):
    try:
        return subprocess.run([rustc, "--print", "sysroot"], capture_output=True,
                              text=True, timeout=60).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _sysroots(args):
    """Sysroots of the toolchain that is linking, the surest first (lazily)."""
    yield _args_sysroot(args)
    try:  # the rustc that is running us as its linker (Linux)
        parent = os.readlink(f"/proc/{os.getppid()}/exe")
        if os.path.basename(parent).startswith("rustc"):
            yield _rustc_sysroot(parent)
    except OSError:
        pass
    if os.environ.get("RUSTC"):
        yield _rustc_sysroot(os.environ["RUSTC"])


def _sysroot_lld(sysroot):
    hits = sorted(glob.glob(os.path.join(sysroot, "lib", "rustlib", "*", "bin", "rust-lld")))
    machine = platform.machine()
    hits.sort(key=lambda p: machine not in p)  # the host's own first
    hits.append(os.path.join(sysroot, "bin", "rust-lld"))  # Debian: /usr/bin/rust-lld
    return next((h for h in hits if os.path.isfile(h) and os.access(h, os.X_OK)), None)


def find_linker(args=()):
    configured = os.environ.get("LOOM_POST_LINKER")
    if configured:
        return configured
    for sysroot in _sysroots(args):
        lld = sysroot and _sysroot_lld(sysroot)
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


def _own_option(argv):
    """`--version` / `--help` alone: ours to answer (rustc never links with one argument)."""
    if argv in (["--version"], ["-V"]):
        print(f"{PROG} (loom-post {__version__})")
        return True
    if argv in (["--help"], ["-h"]):
        sys.stdout.write(f"usage: {PROG} LINKER-ARGS...\n\n{__doc__}")
        return True
    return False


def _gate(out):
    """Optimize and gate the linked module `out`; the exit status of the link."""
    config = load_config(os.environ.get("LOOM_POST_CONFIG") or None)
    identity = uplifted(out, os.environ.get("CARGO_BIN_NAME") or None)
    if not profile_selected(identity, config.profiles):
        return exitcodes.OK     # e.g. a debug build: linked, left as rustc made it
    keep = os.environ.get(KEEP_DWARF, "").lower() not in ("", "0", "false", "no")
    outcomes = optimize_paths([out], config, identities=[identity], keep_dwarf=keep,
                              first_run=True, dwarf_hint=DWARF_HINT)
    status = exit_status(outcomes)
    # rustc shows a linker's output only when the link fails: stderr carries it.
    print_report(outcomes, status, out=sys.stderr)
    return status


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if _own_option(argv):
        return exitcodes.OK
    if os.environ.get(GUARD):
        _error("LOOM_POST_LINKER runs loom-post-link again; point it at the real linker")
        return exitcodes.USAGE
    try:
        linker = find_linker(argv)
        try:
            status = subprocess.run([linker] + argv, env=dict(os.environ, **{GUARD: "1"})).returncode
        except OSError as e:
            raise ConfigError(f"cannot run the linker {linker}: {e.strerror or e}")
        if status != 0:
            return status if status > 0 else 128 - status
        out = output_path(argv)
        if not out or not out.endswith(".wasm"):
            return exitcodes.OK
        return _gate(out)
    except LoomPostError as e:
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
