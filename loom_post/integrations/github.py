"""Publishing a `check` report on GitHub: the job's step summary and one
pull-request comment that later runs update in place.

The comment is found again by a hidden marker (MARKER) in its body, through the
REST API: GITHUB_API_URL (GitHub Enterprise, or a test server),
GITHUB_REPOSITORY ("owner/name"), GITHUB_EVENT_PATH (the event JSON that names
the pull request) and GITHUB_TOKEN. Publishing is a courtesy, never the gate:
whatever goes wrong (no token, no pull request, a fork's read-only token,
the network) is one line on stderr and the caller's exit code is unchanged.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

MARKER = "<!-- loom-post -->"
DEFAULT_API = "https://api.github.com"
TIMEOUT = 30
# GitHub refuses comment bodies over 65536 characters.
MAX_BODY = 65000
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class NotPosted(Exception):
    """The comment could not be posted; str() is the one line to print."""


def write_step_summary(markdown, environ):
    """Append the report to $GITHUB_STEP_SUMMARY; False when it is not set."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as f:
        f.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def pull_request_number(event_path):
    """The pull request an event is about (pull_request, pull_request_target,
    issue_comment on a PR), or None."""
    try:
        with open(event_path, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError) as e:
        raise NotPosted(f"cannot read the event file {event_path}: {e}")
    pr = event.get("pull_request") if isinstance(event, dict) else None
    if isinstance(pr, dict) and isinstance(pr.get("number"), int):
        return pr["number"]
    issue = event.get("issue") if isinstance(event, dict) else None
    if isinstance(issue, dict) and issue.get("pull_request") and isinstance(issue.get("number"), int):
        return issue["number"]
    return None


class Api:
    """The few REST calls needed, with the token; errors become NotPosted."""

    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method, url, body=None):
        """(decoded JSON, next-page URL or None)."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "loom-post",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                doc = json.loads(resp.read().decode("utf-8") or "null")
                link = _NEXT.search(resp.headers.get("Link", "") or "")
                return doc, (link.group(1) if link else None)
        except urllib.error.HTTPError as e:
            raise NotPosted(_http_problem(e, method))
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise NotPosted(f"{method} {url} failed: {reason}")

    def find_comment(self, repo, number):
        """The id of the comment on the pull request holding MARKER, or None."""
        url = f"{self.base}/repos/{repo}/issues/{number}/comments?per_page=100"
        while url:
            comments, url = self.call("GET", url)
            for c in comments or ():
                if isinstance(c, dict) and MARKER in (c.get("body") or ""):
                    return c.get("id")
        return None


def _http_problem(e, method):
    try:
        detail = json.loads(e.read().decode("utf-8")).get("message", "")
    except Exception:  # the body is only decoration for the message
        detail = ""
    text = f"HTTP {e.code}" + (f" ({detail})" if detail else "")
    if e.code in (401, 403, 404):
        return (f"{text}: the token cannot {'read' if method == 'GET' else 'write'} this "
                f"pull request's comments (fork pull requests get a read-only token; "
                f"give the job `permissions: pull-requests: write`)")
    return f"{text} from {method} {e.url}"


def body_of(markdown):
    body = f"{MARKER}\n{markdown}"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n... (cut: the full report is in the job summary)\n"
    return body


def post_comment(markdown, environ):
    """Create or update the pull request's loom-post comment; returns what was
    done ("created comment N" / "updated comment N"); NotPosted otherwise."""
    token = environ.get("GITHUB_TOKEN")
    repo = environ.get("GITHUB_REPOSITORY")
    event_path = environ.get("GITHUB_EVENT_PATH")
    if not token:
        raise NotPosted("GITHUB_TOKEN is not set")
    if not repo or not event_path:
        raise NotPosted("GITHUB_REPOSITORY or GITHUB_EVENT_PATH is not set (not a GitHub Actions run?)")
    number = pull_request_number(event_path)
    if number is None:
        raise NotPosted(f"the event ({environ.get('GITHUB_EVENT_NAME') or 'unknown'}) "
                        f"is not about a pull request")
    api = Api(environ.get("GITHUB_API_URL") or DEFAULT_API, token)
    existing = api.find_comment(repo, number)
    if existing is None:
        doc, _ = api.call("POST", f"{api.base}/repos/{repo}/issues/{number}/comments",
                          {"body": body_of(markdown)})
        return f"created comment {doc.get('id')} on pull request #{number}"
    api.call("PATCH", f"{api.base}/repos/{repo}/issues/comments/{existing}",
             {"body": body_of(markdown)})
    return f"updated comment {existing} on pull request #{number}"


def publish(markdown, environ=None, err=None):
    """Step summary and pull-request comment; one line on `err` per outcome.
    Never raises for a GitHub problem: the gate's result is what counts."""
    import sys
    environ = os.environ if environ is None else environ
    err = err or sys.stderr
    try:
        write_step_summary(markdown, environ)
    except OSError as e:
        err.write(f"loom-post: note: step summary not written: {e}\n")
    try:
        done = post_comment(markdown, environ)
    except NotPosted as e:
        err.write(f"loom-post: note: pull-request comment not posted: {e}\n")
        return False
    except (AttributeError, KeyError, TypeError) as e:  # an API answer of another shape
        err.write(f"loom-post: note: pull-request comment not posted: unexpected answer "
                  f"from the API ({type(e).__name__}: {e})\n")
        return False
    err.write(f"loom-post: {done}\n")
    return True
