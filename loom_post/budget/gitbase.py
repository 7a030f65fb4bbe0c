"""The baseline file as git has it: at another commit, and its history.

`check --baseline-ref REF` compares with the baseline file as committed at the
merge-base of REF and HEAD (the point a pull request branched from), read with
`git show`, so CI needs no second build of the base. `history` walks the
file's `git log`. Every failure (no git, not a repository, unknown REF, the
file absent at that commit) is a ConfigError: one line, exit 2.
"""

from __future__ import annotations

import os
import subprocess

from loom_post.errors import ConfigError

# Commits are listed with fields separated by the ASCII unit separator, which
# cannot appear in a hash or a date and is vanishingly rare in a subject.
_SEP = "\x1f"


def _git(args, cwd, what):
    """stdout of `git args` run in `cwd`; ConfigError naming `what` on failure."""
    try:
        p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except FileNotFoundError:
        raise ConfigError(f"{what}: git is not installed (or not on PATH)")
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{what}: `git {' '.join(args)}` took over 120 s")
    if p.returncode != 0:
        message = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _GitFailed(message[-1] if message else f"git exited {p.returncode}")
    return p.stdout


class _GitFailed(Exception):
    pass


def locate(path, what):
    """(repository root, `path` relative to it with '/') for a file in a work tree."""
    directory = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(directory):   # a baseline in a directory not created yet
        directory = os.path.dirname(directory)
    try:
        top = _git(["rev-parse", "--show-toplevel"], directory, what)
    except _GitFailed:
        raise ConfigError(f"{what}: {directory} is not in a git repository")
    top = top.decode("utf-8").strip()
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(top))
    return top, rel.replace(os.sep, "/")


def merge_base(top, ref, what):
    """The full hash of `git merge-base REF HEAD` in the repository `top`."""
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top, what)
    except _GitFailed:
        raise ConfigError(f"{what}: unknown revision {ref!r} in {top} (in CI, fetch it "
                          f"first, e.g. actions/checkout with fetch-depth: 0)")
    try:
        out = _git(["merge-base", ref, "HEAD"], top, what)
    except _GitFailed as e:
        raise ConfigError(f"{what}: {ref!r} and HEAD have no merge-base ({e})")
    return out.decode("ascii").strip()


def show(top, sha, rel, what):
    """The bytes of `rel` at commit `sha`; ConfigError when it did not exist there."""
    try:
        return _git(["show", f"{sha}:{rel}"], top, what)
    except _GitFailed:
        raise ConfigError(f"{what}: {rel} did not exist at {sha[:12]}")


class Commit:
    """One commit that changed a file: hash, author time (Unix), subject."""

    def __init__(self, sha, time, subject):
        self.sha, self.time, self.subject = sha, time, subject

    def to_json(self):
        return {"commit": self.sha, "time": self.time, "subject": self.subject}


def log(top, rel, what, limit=None):
    """The commits that changed `rel` reachable from HEAD, oldest first."""
    try:
        _git(["rev-parse", "--verify", "--quiet", "HEAD"], top, what)
    except _GitFailed:
        return []       # a repository without commits yet has no history
    args = ["log", f"--format=%H{_SEP}%at{_SEP}%s", "--no-color"]
    if limit:
        args.append(f"-n{limit}")
    try:
        out = _git(args + ["--", rel], top, what)
    except _GitFailed as e:
        raise ConfigError(f"{what}: git log failed in {top}: {e}")
    commits = []
    for line in out.decode("utf-8", "replace").splitlines():
        sha, time, subject = (line.split(_SEP, 2) + ["", ""])[:3]
        commits.append(Commit(sha, int(time or 0), subject))
    return commits[::-1]
