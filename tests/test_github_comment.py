"""`check --github-comment`: the real code against a local HTTP server that
imitates the GitHub REST API (paginated comment list, create, update in place,
403 for a read-only token, a GitHub Enterprise base URL), and through the
composite action. Publishing never changes the gate's exit code and the step
summary is written whatever happened to the comment."""

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from loom_post.cli import main
from loom_post.integrations.github import MARKER

wasmtime = pytest.importorskip("wasmtime")

from wat_util import write_nop_module as write  # noqa: E402

REPO = "octo/app"
PR = 7
TOKEN = "test-token"
PAGE = 2        # the imitation serves 2 comments a page, so lists span pages


class FakeGitHub:
    """Comments of one pull request, the requests seen, and a switch to answer
    writes with 403 as GitHub does for a fork's read-only token."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.comments = [{"id": 100 + i, "body": f"a review comment {i}",
                          "user": {"login": "someone"}} for i in range(3)]
        self.requests = []
        self.read_only = None         # an HTTP status for every write, e.g. 403
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}{prefix}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def _handler(self):
        gh = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, doc, headers=()):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def route(self, method):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                gh.requests.append((method, self.path, body))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self.reply(401, {"message": "Bad credentials"})
                if not url.path.startswith(gh.prefix + "/repos/"):
                    return self.reply(404, {"message": "Not Found"})
                path = url.path[len(gh.prefix):]
                listing = f"/repos/{REPO}/issues/{PR}/comments"
                m = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", path)
                if method == "GET" and path == listing:
                    return self.list(url)
                if gh.read_only and method in ("POST", "PATCH"):
                    return self.reply(gh.read_only, {"message": "Resource not accessible by "
                                                                 "integration"})
                if method == "POST" and path == listing:
                    c = {"id": 900 + len(gh.comments), "body": body["body"],
                         "user": {"login": "github-actions[bot]"}}
                    gh.comments.append(c)
                    return self.reply(201, c)
                if method == "PATCH" and m:
                    c = [c for c in gh.comments if c["id"] == int(m.group(1))][0]
                    c["body"] = body["body"]
                    return self.reply(200, c)
                return self.reply(404, {"message": "Not Found"})

            def list(self, url):
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                items = gh.comments[(page - 1) * PAGE:page * PAGE]
                headers = []
                if page * PAGE < len(gh.comments):
                    nxt = f"{gh.url}/repos/{REPO}/issues/{PR}/comments?per_page=100&page={page + 1}"
                    headers.append(("Link", f'<{nxt}>; rel="next", <{nxt}>; rel="last"'))
                self.reply(200, items, headers)

            def do_GET(self):
                self.route("GET")

            def do_POST(self):
                self.route("POST")

            def do_PATCH(self):
                self.route("PATCH")

        return Handler

    def ours(self):
        return [c for c in self.comments if MARKER in c["body"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github():
    gh = FakeGitHub()
    yield gh
    gh.close()


def event_file(tmp_path, event):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


@pytest.fixture
def project(tmp_path, monkeypatch, github):
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / ".git").mkdir()
    monkeypatch.chdir(proj)
    monkeypatch.delenv("LOOM_POST_APPROVE", raising=False)
    summary = tmp_path / "summary.md"
    summary.write_text("")
    for k, v in {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO,
                 "GITHUB_API_URL": github.url, "GITHUB_STEP_SUMMARY": str(summary),
                 "GITHUB_EVENT_NAME": "pull_request",
                 "GITHUB_EVENT_PATH": event_file(tmp_path, {"pull_request": {"number": PR}})
                 }.items():
        monkeypatch.setenv(k, v)
    return proj


def check(capsys, *argv):
    code = main(["check", "--github-comment", "--no-brotli", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def table_row(body):
    return [l for l in body.splitlines() if l.startswith("| `app.wasm`")][0]


def test_creates_then_updates_the_same_comment(project, github, capsys):
    (project / "loom-post.toml").write_text("max-code-size = 1000\n")
    size = write(project / "app.wasm", {"main": 40})
    code, out, err = check(capsys, "app.wasm")
    assert code == 0
    assert re.search(rf"^loom-post: created comment \d+ on pull request #{PR}$", err, re.M)
    [mine] = github.ours()
    assert mine["body"].startswith(MARKER + "\n### loom-post size check")
    assert f"| {size} B |" in table_row(mine["body"])
    assert [m for m, *_ in github.requests] == ["GET", "GET", "POST"]   # 3 comments: 2 pages
    github.requests.clear()
    size2 = write(project / "app.wasm", {"main": 70})
    code, out, err = check(capsys, "app.wasm")
    assert code == 0
    assert f"loom-post: updated comment {mine['id']} on pull request #{PR}" in err
    assert len(github.comments) == 4 and len(github.ours()) == 1
    assert f"| {size2} B |" in table_row(github.ours()[0]["body"])
    methods = [m for m, *_ in github.requests]
    assert methods == ["GET", "GET", "PATCH"]          # the marker was found on page 2
    assert github.requests[1][1].endswith("page=2")
    assert all(not c["body"].startswith(MARKER) for c in github.comments[:3])


def test_step_summary_is_written_with_the_comment(project, github, capsys, tmp_path):
    (project / "loom-post.toml").write_text("max-code-size = 10\n")
    write(project / "app.wasm", {"main": 40})
    code, out, err = check(capsys, "app.wasm", "--format", "json")
    assert code == 1                                   # the gate's verdict stands
    assert json.loads(out)["status"] == "fail"         # stdout keeps its format
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("### loom-post size check :x:")
    assert ":x: max-code-size" in table_row(summary)
    assert ":x: max-code-size" in table_row(github.ours()[0]["body"])


@pytest.mark.parametrize("status", [403, 404])
@pytest.mark.parametrize("budget,expected", [("1000", 0), ("10", 1)])
def test_read_only_token_is_one_line_and_keeps_the_exit_code(project, github, capsys,
                                                             tmp_path, budget, expected, status):
    github.read_only = status
    (project / "loom-post.toml").write_text(f"max-code-size = {budget}\n")
    write(project / "app.wasm", {"main": 40})
    code, out, err = check(capsys, "app.wasm")
    assert code == expected
    notes = [l for l in err.splitlines() if "comment" in l]
    assert notes == [f"loom-post: note: pull-request comment not posted: HTTP {status} (Resource not "
                     "accessible by integration): the token cannot write this pull request's "
                     "comments (fork pull requests get a read-only token; give the job "
                     "`permissions: pull-requests: write`)"]
    assert "app.wasm" in (tmp_path / "summary.md").read_text()
    assert github.ours() == []


def test_no_pull_request_in_the_event(project, github, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_EVENT_PATH", event_file(tmp_path, {"ref": "refs/heads/main"}))
    (project / "loom-post.toml").write_text("max-code-size = 10\n")
    write(project / "app.wasm", {"main": 40})
    code, _, err = check(capsys, "app.wasm")
    assert code == 1
    assert ("loom-post: note: pull-request comment not posted: the event (push) is not about "
            "a pull request") in err
    assert github.requests == []
    assert "app.wasm" in (tmp_path / "summary.md").read_text()


def test_issue_comment_event_on_a_pull_request(project, github, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_EVENT_PATH", event_file(
        tmp_path, {"issue": {"number": PR, "pull_request": {"url": "x"}}}))
    write(project / "app.wasm", {"main": 4})
    assert check(capsys, "app.wasm")[0] == 0
    assert len(github.ours()) == 1


@pytest.mark.parametrize("unset", ["GITHUB_TOKEN", "GITHUB_REPOSITORY"])
def test_missing_environment_is_one_line(project, github, capsys, monkeypatch, unset):
    monkeypatch.delenv(unset)
    write(project / "app.wasm", {"main": 4})
    code, _, err = check(capsys, "app.wasm")
    assert code == 0 and err.count("\n") == 1
    assert err.startswith("loom-post: note: pull-request comment not posted:") and unset in err
    assert github.requests == []


def test_unreachable_api_keeps_the_exit_code(project, capsys, monkeypatch):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                      # nothing listens there now
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    (project / "loom-post.toml").write_text("max-code-size = 10\n")
    write(project / "app.wasm", {"main": 40})
    code, _, err = check(capsys, "app.wasm")
    assert code == 1
    assert err.count("pull-request comment not posted: GET http://127.0.0.1:") == 1


def test_github_enterprise_base_url(tmp_path, monkeypatch, capsys):
    ghe = FakeGitHub(prefix="/api/v3")
    try:
        proj = tmp_path / "p"
        proj.mkdir()
        monkeypatch.chdir(proj)
        for k, v in {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO,
                     "GITHUB_API_URL": ghe.url + "/",
                     "GITHUB_EVENT_PATH": event_file(tmp_path, {"pull_request": {"number": PR}})
                     }.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        write(proj / "app.wasm", {"main": 4})
        code, _, err = check(capsys, "app.wasm")
        assert code == 0, err
        assert len(ghe.ours()) == 1
        assert all(path.startswith("/api/v3/repos/octo/app/") for _, path, _ in ghe.requests)
    finally:
        ghe.close()


def test_write_reports_to_files(project, github, capsys, tmp_path):
    write(project / "app.wasm", {"main": 4})
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    code = main(["check", "app.wasm", "--write", f"markdown:{md}", "--write", f"json:{js}"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("app.wasm: code section")
    assert json.loads(js.read_text())["modules"][0]["path"] == "app.wasm"
    assert md.read_text().startswith("### loom-post size check")
    code = main(["check", "app.wasm", "--write", "yaml:x.yml"])
    assert code == 2 and "--write yaml:x.yml: expected FORMAT:PATH" in capsys.readouterr().err


# -- the composite action -------------------------------------------------------------

def test_action_posts_the_comment_and_exposes_the_reports(tmp_path, github):
    import test_ci_template as t
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / ".git").mkdir()
    (proj / "build_wasm.py").write_text(t.BUILD_SCRIPT)
    (proj / "loom-post.toml").write_text("max-code-size = 20\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "loom-post"
    tool.write_text(f'#!/bin/sh\nPYTHONPATH="{t.ROOT}" exec "{t.sys.executable}" '
                    f'-m loom_post "$@"\n')
    tool.chmod(0o755)
    env = {"GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": github.url,
           "GITHUB_EVENT_PATH": event_file(tmp_path, {"pull_request": {"number": PR}})}
    run = t.run_action(tmp_path, proj, {"build": t.build(40), "token": TOKEN,
                                        "paths": f"\n  {t.MODULE}  \n\n"},
                       extra_path=[str(bindir)], env=env)
    assert run.rc == 1, run.stdout + run.stderr
    outputs = run.outputs
    assert outputs["exit-code"] == "1"
    assert json.loads(open(outputs["json-report"]).read())["status"] == "fail"
    report = open(outputs["markdown-report"]).read()
    summary = run.summary.read_text()
    assert summary == report                                  # written once, by check
    assert github.ours()[0]["body"] == MARKER + "\n" + report
    assert "::error file=" + t.MODULE in run.stdout
    # comment off: the action writes the summary itself and GitHub sees nothing
    github.requests.clear()
    run.summary.write_text("")
    run = t.run_action(tmp_path, proj, {"build": t.build(40), "token": TOKEN,
                                        "comment": "false"}, extra_path=[str(bindir)], env=env)
    assert run.rc == 1 and github.requests == []
    assert run.summary.read_text() == report
