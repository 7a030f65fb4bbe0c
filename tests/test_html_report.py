"""`loom-post report --html`: a self-contained page with sizes, budgets, a
treemap and the baseline diff, loaded in a real browser (Debian's headless
Chromium) and read back from the rendered DOM and a screenshot."""

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest

from loom_post.cli import main
from loom_post.report.treemap import squarify

wasmtime = pytest.importorskip("wasmtime")

FN = "(func ${} (drop (i32.add (i32.const {}) (i32.const 7))))"
NAMES = {
    "_ZN5alpha3run17h0123456789abcdefE": 1,
    "_ZN5alpha4step17h0123456789abcdefE": 1000000,
    "_ZN60_$LT$libflate..Decoder$LT$R$GT$$u20$as$u20$std..io..Read$GT$4read17h0123456789abcdefE": 9,
    "_RNvCs1234_4beta5three": 300,
    "memcpy": 3,
}


def _module(path, names):
    body = " ".join(FN.format(n, v) for n, v in names.items())
    path.write_bytes(wasmtime.wat2wasm(f"(module {body})"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loom-post.toml").write_text(
        'baseline = "sizes.json"\nmax-growth-vs-baseline = "0 B"\nmax-code-size = "1 MiB"\n')
    _module(tmp_path / "app.wasm", NAMES)
    assert main(["baseline", "app.wasm"]) == 0
    grown = dict(NAMES)
    grown["_ZN5alpha3run17hfedcba9876543210E"] = grown.pop(
        "_ZN5alpha3run17h0123456789abcdefE") * 100000      # same function, rebuilt, grew
    grown["_ZN5gamma3new17h0123456789abcdefE"] = 5
    _module(tmp_path / "app.wasm", grown)
    return tmp_path


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_squarify_tiles_the_box_in_proportion():
    values = [500, 300, 120, 50, 20, 7, 3]
    boxes = squarify(values, 10, 20, 400, 300)
    for v, (x, y, w, h) in zip(values, boxes):
        assert w * h == pytest.approx(v / sum(values) * 400 * 300)
        assert 10 - 1e-6 <= x and x + w <= 410 + 1e-6 and 20 - 1e-6 <= y and y + h <= 320 + 1e-6
    for i, a in enumerate(boxes):            # no two overlap
        for b in boxes[i + 1:]:
            ox = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            oy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            assert ox <= 1e-6 or oy <= 1e-6
    worst = max(max(w / h, h / w) for _x, _y, w, h in boxes)
    assert worst < 4                          # squarified, not slices


def test_the_page_is_self_contained_and_complete(project, capsys):
    assert main(["report", "--html", "out.html", "app.wasm"]) == 1    # over budget
    page = (project / "out.html").read_text()
    parsed = _Page()
    parsed.feed(page)
    assert not {"link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    assert not [a for a in parsed.attrs if a[0] in ("src", "href")]
    assert "url(" not in page and "@import" not in page
    text = " ".join(parsed.text)
    for label in ("Sizes", "Budgets", "Code by crate and function", "Since the baseline",
                  "max-growth-vs-baseline", "max-code-size", "gzip -9", "brotli q11"):
        assert label in text, label
    assert "<libflate::Decoder<R> as std::io::Read>::read" in text      # as text, escaped
    assert "Decoder<R>" not in page
    assert page.count("<rect class=\"fn\"") == 6 and page.count('<rect class="crate-box"') == 5
    # the diff matched the rebuilt alpha::run (another hash) and lists gamma::new as new
    diff = page.split("class='diff-functions'")[1]
    assert re.search(r"alpha::run</code></td><td class='n'>\d+</td><td class='n'>\d+", diff)
    assert "gamma::new</code></td><td class='n'>new<" in diff


def test_usage_and_unreadable_modules(project, capsys):
    assert main(["report", "app.wasm"]) == 2                       # --html is required
    assert main(["report", "--html", "no/such/dir/x.html", "app.wasm"]) == 2
    (project / "bad.wasm").write_bytes(b"\0asm\x01\0\0\0\x0a\xff")
    assert main(["report", "--html", "x.html", "app.wasm", "bad.wasm"]) == 3
    page = (project / "x.html").read_text()
    assert "bad.wasm" in page and "unreadable" in page
    err = capsys.readouterr().err
    assert "Traceback" not in err


# -- in a real browser -------------------------------------------------------------

def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium (apt-get install chromium; tests/run does it as root)")


def _browse(tmp_path, page, *flags):
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}", *flags,
           f"file://{page}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


def _png_pixels(data):
    """(width, height, set of RGB colours) of an 8-bit RGB/RGBA PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, prev, colours = zlib.decompress(idat), width * bpp, None, set()
    for row in range(height):
        line = raw[row * (stride + 1):(row + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        prev = prev or bytearray(stride)
        for i in range(stride):
            left = cur[i - bpp] if i >= bpp else 0
            up, ul = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                cur[i] = (cur[i] + left) & 255
            elif kind == 2:
                cur[i] = (cur[i] + up) & 255
            elif kind == 3:
                cur[i] = (cur[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                cur[i] = (cur[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        if row % 4 == 0:
            colours.update(bytes(cur[i:i + 3]) for i in range(0, stride, bpp * 4))
        prev = cur
    return width, height, colours


def test_chromium_renders_the_treemap_and_labels(project, tmp_path):
    assert main(["report", "--html", "out.html", "app.wasm"]) == 1
    page = str(project / "out.html")
    dom = _browse(tmp_path, page, "--dump-dom").stdout
    m = re.search(r'<body data-rectangles="(\d+)"', dom)
    assert m, "the page's script did not run"
    assert int(m.group(1)) == 11            # 5 crates + 6 functions, counted by the browser
    for label in ("app.wasm", "Code by crate and function", "over budget", "alpha",
                  "&lt;libflate::Decoder&lt;R&gt; as std::io::Read&gt;::read"):
        assert label in dom, label
    shot = tmp_path / "shot.png"
    _browse(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1400",
            "--hide-scrollbars")
    width, height, colours = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 1400)
    non_white = [c for c in colours if c != b"\xff\xff\xff"]
    assert len(non_white) >= 10             # text, tables and the treemap's hues


@pytest.mark.parametrize("name, label", [
    ("<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop", "Drop::drop"),
    ("alloc::raw_vec::finish_grow::<alloc::alloc::Global>", "raw_vec::finish_grow"),
    ("<v0probe::Decoder<alloc::vec::into_iter::IntoIter<u8>>>::next_word",
     "Decoder::next_word"),
    ("std::panicking::panic_handler::{closure#0}", "panic_handler::{closure#0}"),
    ("memcpy", "memcpy"),
])
def test_treemap_labels_are_the_end_of_the_path(name, label):
    from loom_post.report.treemap import short_name
    assert short_name(name) == label
