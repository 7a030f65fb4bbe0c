#!/usr/bin/env python3
"""Build the raw cargo corpus: real Rust crates compiled to wasm32-unknown-unknown.

    python3 bench/rawcorpus/build.py [--out DIR] [--apt] [--only NAME ...] [--profile P ...]

Each crate under ``crates/`` is a small standalone cdylib that wraps one crate from
Debian's ``librust-*-dev`` packages (built offline from /usr/share/cargo/registry,
see ``.cargo/config.toml``).  Every crate is built in every corpus profile with
Debian's /usr/bin/cargo and /usr/bin/rustc, and the module cargo leaves in
``target/<profile>/wasm32-unknown-unknown/<profile>/`` (one cargo target directory
per profile, so that two profiles can build side by side) is copied *as is* (DWARF, name and
producers sections included) to ``DIR/<name>-<profile>.wasm``.  One path per line
goes to stdout; a one-line reason goes to stderr for every build that failed, and
the exit status is 0 whatever could be built.

A build is skipped when its output exists and a stamp (a hash of the crate's
sources, its Cargo.lock, the cargo config that holds the profiles, this script's
profile table and ``rustc -vV``) is unchanged.

Python 3.9+, standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRATES_DIR = HERE / "crates"
CARGO_CONFIG = HERE / ".cargo" / "config.toml"
TARGET = "wasm32-unknown-unknown"
CARGO = "/usr/bin/cargo"
RUSTC = "/usr/bin/rustc"
DEFAULT_OUT = Path.home() / ".cache" / "loom-post-rawcorpus"

# Profile name -> (cargo profile, directory cargo writes it to).  The release-like
# profiles are defined in .cargo/config.toml: opt-level s / z / 3, without and with
# fat LTO.
PROFILES = {
    "os": "os",
    "os-lto": "os-lto",
    "oz": "oz",
    "oz-lto": "oz-lto",
    "o3": "o3",
    "o3-lto": "o3-lto",
    "dev": "debug",
}
RELEASE_PROFILES = ["os", "os-lto", "oz", "oz-lto", "o3", "o3-lto"]
# Crates that also get an unoptimized debug build (full DWARF of their own code).
DEBUG_CRATES = {"serde-json"}

# The toolchain, and the Debian package each wrapped crate's source comes from.
TOOLCHAIN_PACKAGES = ["rustc", "cargo", "libstd-rust-dev-wasm32"]
CRATE_PACKAGES = {
    "base64": ["librust-base64-dev"],
    "crc32": ["librust-crc32fast-dev", "librust-adler-dev"],
    "hashbrown": ["librust-hashbrown-dev"],
    "httparse": ["librust-httparse-dev"],
    "libm": ["librust-libm-dev"],
    "miniz": ["librust-miniz-oxide-dev"],
    "nom": ["librust-nom-dev"],
    "regex": ["librust-regex-dev"],
    "serde-json": ["librust-serde-json-dev", "librust-serde-dev"],
    "sha2": ["librust-sha2-dev"],
    "unicode-seg": ["librust-unicode-segmentation-dev"],
}

# Environment that would change what cargo builds; removed so the corpus is the same
# on every machine.
_DROP_ENV_PREFIXES = ("CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_", "CARGO_ENCODED_")
_DROP_ENV = {"RUSTUP_TOOLCHAIN", "RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER",
             "CARGO_INCREMENTAL", "RUSTDOCFLAGS"}


def log(msg: str) -> None:
    print(f"rawcorpus: {msg}", file=sys.stderr, flush=True)


def crates() -> list[tuple[str, Path]]:
    """(corpus name, crate dir) for every crate, sorted; name is the dir less 'rc-'."""
    out = []
    for d in sorted(CRATES_DIR.iterdir()):
        if (d / "Cargo.toml").is_file():
            name = d.name[3:] if d.name.startswith("rc-") else d.name
            out.append((name, d))
    return out


def wasm_stem(crate_dir: Path) -> str:
    """The file name cargo gives the cdylib: the package name with '-' -> '_'."""
    for line in (crate_dir / "Cargo.toml").read_text().splitlines():
        line = line.strip()
        if line.startswith("name") and "=" in line:
            return line.split("=", 1)[1].strip().strip('"').replace("-", "_")
    return crate_dir.name.replace("-", "_")


def cargo_env(target_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in _DROP_ENV and not k.startswith(_DROP_ENV_PREFIXES)}
    env["PATH"] = "/usr/bin:" + env.get("PATH", "/bin")
    env["RUSTC"] = RUSTC
    env["CARGO_TARGET_DIR"] = str(target_dir)
    env["CARGO_TERM_COLOR"] = "never"
    return env


def toolchain_id() -> str:
    try:
        return subprocess.run([RUSTC, "-vV"], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def source_hash(crate_dir: Path, profile: str, toolchain: str) -> str:
    h = hashlib.sha256()
    h.update(f"profile={profile}->{PROFILES[profile]}\n".encode())
    h.update(toolchain.encode())
    h.update(CARGO_CONFIG.read_bytes())
    for p in sorted(crate_dir.rglob("*")):
        rel = p.relative_to(crate_dir)
        if p.is_file() and rel.parts[0] != "target":
            h.update(str(rel).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        log("--apt: not root, skipping apt-get (install: " + " ".join(packages) + ")")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "env": env, "text": True}
    r = subprocess.run(["apt-get", "update", "-q"], **quiet)
    if r.returncode != 0:
        log("apt-get update failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
    r = subprocess.run(["apt-get", "install", "-y", "-q", *packages], **quiet)
    if r.returncode == 0:
        return
    # Some package is missing on this release: install what can be installed.
    for p in packages:
        r = subprocess.run(["apt-get", "install", "-y", "-q", p], **quiet)
        if r.returncode != 0:
            log(f"apt-get install {p} failed: "
                + (r.stderr.strip().splitlines() or ["?"])[-1])


def failure_reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("error"):
            # a compile error: add its location (the "--> file:line:col" line after it)
            if i + 1 < len(lines) and lines[i + 1].startswith("-->"):
                ln += " at " + lines[i + 1][3:].strip()
            return ln
    return lines[-1] if lines else "cargo failed with no output"


def build_one(name: str, crate_dir: Path, profile: str, target_dir: Path,
              timeout: float) -> tuple[Path | None, str]:
    """Run cargo; return (the module cargo wrote, '') or (None, reason)."""
    cmd = [CARGO, "build", "--quiet", "--offline", "--target", TARGET,
           "--profile", profile, "--manifest-path", str(crate_dir / "Cargo.toml")]
    try:
        r = subprocess.run(cmd, cwd=crate_dir, env=cargo_env(target_dir),
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"cargo timed out after {timeout:.0f} s"
    except OSError as e:
        return None, f"cannot run {CARGO}: {e.strerror}"
    if r.returncode != 0:
        reason = failure_reason(r.stderr)
        if "no matching package" in reason or "failed to select a version" in reason:
            pkgs = " ".join(CRATE_PACKAGES.get(name, []))
            reason += (f" (apt-get install {pkgs}, or run with --apt)" if pkgs
                       else " (its Debian librust-*-dev package is not installed)")
        return None, reason
    wasm = target_dir / TARGET / PROFILES[profile] / (wasm_stem(crate_dir) + ".wasm")
    if not wasm.is_file():
        return None, f"cargo succeeded but wrote no {wasm}"
    return wasm, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"where the modules go (default {DEFAULT_OUT})")
    ap.add_argument("--apt", action="store_true",
                    help="apt-get install the toolchain and crate sources first (as root)")
    ap.add_argument("--target-dir", type=Path, default=HERE / "target",
                    help="cargo's target directories go under it, one per profile "
                         "(default bench/rawcorpus/target)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="build only this crate (repeatable), e.g. regex")
    ap.add_argument("--profile", action="append", choices=list(PROFILES),
                    help="build only this profile (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="profiles built side by side, each by its own cargo "
                         "(default: the number of CPUs)")
    ap.add_argument("--force", action="store_true", help="rebuild even when cached")
    ap.add_argument("--timeout", type=float, default=1200.0,
                    help="seconds allowed for one cargo build (default 1200)")
    args = ap.parse_args(argv)

    all_crates = crates()
    if args.only:
        known = {n for n, _ in all_crates}
        for n in args.only:
            if n not in known:
                ap.error(f"unknown crate {n!r}; known: {', '.join(sorted(known))}")
        all_crates = [(n, d) for n, d in all_crates if n in args.only]

    if args.apt:
        pkgs = list(TOOLCHAIN_PACKAGES)
        for n, _ in all_crates:
            pkgs += [p for p in CRATE_PACKAGES.get(n, []) if p not in pkgs]
        apt_install(pkgs)

    out = args.out.expanduser().resolve()
    stamps = out / ".stamps"
    stamps.mkdir(parents=True, exist_ok=True)
    target_dir = args.target_dir.expanduser().resolve()
    toolchain = toolchain_id()
    if not toolchain:
        log(f"{RUSTC} not found or not working (run with --apt as root)")

    jobs = []  # (name, crate_dir, profile)
    for profile in PROFILES:
        if args.profile and profile not in args.profile:
            continue
        for name, d in all_crates:
            if profile in RELEASE_PROFILES or name in DEBUG_CRATES:
                jobs.append((name, d, profile))

    toolchain_ok = bool(toolchain)
    order = {f"{n}-{p}.wasm": i for i, (n, _, p) in enumerate(jobs)}
    start = time.monotonic()

    def run_profile(profile: str) -> list[tuple[str, Path | None]]:
        """Build one profile's jobs in order; each profile has its own cargo target
        directory so that profiles can build side by side."""
        results = []
        for name, crate_dir, prof in jobs:
            if prof != profile:
                continue
            dest = out / f"{name}-{profile}.wasm"
            stamp = stamps / (dest.name + ".stamp")
            key = source_hash(crate_dir, profile, toolchain)
            if (not args.force and dest.is_file() and stamp.is_file()
                    and stamp.read_text().strip() == key):
                results.append(("cached", dest))
                continue
            if not toolchain_ok:
                log(f"{name}-{profile}: no wasm32 Rust toolchain at {RUSTC}")
                results.append(("failed", None))
                continue
            t0 = time.monotonic()
            wasm, reason = build_one(name, crate_dir, profile, target_dir / profile,
                                     args.timeout)
            if wasm is None:
                log(f"{name}-{profile}: {reason}")
                results.append(("failed", None))
                continue
            tmp = dest.with_suffix(f".wasm.tmp{os.getpid()}")
            shutil.copyfile(wasm, tmp)
            os.replace(tmp, dest)
            stamp.write_text(key + "\n")
            results.append(("built", dest))
            if os.environ.get("RAWCORPUS_VERBOSE"):
                log(f"{name}-{profile}: built in {time.monotonic() - t0:.1f} s")
        return results

    profiles = list(dict.fromkeys(prof for _, _, prof in jobs))
    # The slowest profiles first, so the last one to start is a short one.
    profiles.sort(key=lambda p: ("lto" not in p, p == "dev"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = [r for rs in pool.map(run_profile, profiles) for r in rs]
    # Paths in a fixed order (profile by profile, crates sorted), whatever finished first.
    for kind, dest in sorted((o for o in outcomes if o[1] is not None),
                             key=lambda o: order[o[1].name]):
        print(dest, flush=True)
    built = sum(1 for k, _ in outcomes if k == "built")
    cached = sum(1 for k, _ in outcomes if k == "cached")
    failed = sum(1 for k, _ in outcomes if k == "failed")
    log(f"{built + cached} modules in {out} ({built} built, {cached} cached, "
        f"{failed} failed) in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
