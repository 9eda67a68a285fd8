"""No student HTML or JavaScript runs in the instructor's or another learner's browser
(issue 16, item 6).

One hostile submission of lesson 01 goes through the real ``course.py grade`` and ``course.py
feedback``. Its learner cells display HTML (an ``<img onerror>`` and a ``<script>``),
JavaScript, Markdown, SVG, a PNG whose width carries an ``onload`` handler, print HTML and raise
an error with HTML in its message; its written answer and a Markdown cell it adds hold raw HTML
(``<img onerror>``, ``<script>``, ``<details ontoggle>``, a ``mermaid`` block) next to ordinary
Markdown and LaTeX; a raw cell holds HTML. Each payload, when it runs, appends its name to
``window.__h4`` and loads ``http://127.0.0.1:<port>/hit/<name>`` from a server this test runs.

The feedback page is opened from disk in headless Chromium, and the formgrader's page of the
submission (a Jupyter server at the course copy's root with nbgrader's formgrader, as ``make
lab-instructor`` serves it) is opened in the same browser: no payload may run in either. The
written answer must still show its Markdown and math, and the learner's printed text and PNG must
still be there. Then the autograded notebook is replaced by one that still holds every payload
(as grading before this check wrote it): feedback and formgrader must render that clean too.

Needs Playwright for Python and Debian's ``chromium`` (tests/chromium.py): as root, ``apt-get
install -y chromium`` and ``.venv/bin/pip install playwright==1.64.1``. Without them it skips.
"""

import base64
import html as html_lib
import html.parser as html_parser
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import REPO, lesson_ids, load_nb, make_course_copy, run_course, submit

LESSON = "01_rnn"
STUDENT = "mallory"
sys.path.insert(0, str(REPO / "tests"))
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

try:
    from playwright.sync_api import sync_playwright
except ImportError:                                     # pragma: no cover
    sync_playwright = None

needs_browser = [
    pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing"),
    pytest.mark.skipif(sync_playwright is None, reason=(
        "Playwright for Python is not installed: .venv/bin/pip install playwright==1.64.1")),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=(
        f"no Chromium at {CHROMIUM} (tests/chromium.py): apt-get install -y chromium, "
        f"or set CHROMIUM")),
]


def _browser_test(fn):
    for mark in needs_browser:
        fn = mark(fn)
    return fn


def _png() -> str:
    """A valid 1x1 PNG, base64: its onload fires when an injected handler is on it."""
    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes([0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]))
           + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


PNG = _png()
KEPT_PRINT = "learner-print-kept-4711"
MATH = r"$h_t = \tanh(a_t)$"


class Beacon:
    """A loopback HTTP server that records ``/hit/<name>`` requests."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/hit/"):
                    hits.append(self.path[len("/hit/"):])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def js(self, name: str) -> str:
        """JavaScript (no spaces, no double quotes) that reports ``name`` when it runs."""
        return (f"window.__h4=(window.__h4||[]).concat('{name}');"
                f"document.createElement('img').src='http://127.0.0.1:{self.port}/hit/{name}'")


def _hostile(blank: dict, beacon: Beacon) -> dict:
    """The blank lesson with every payload in learner cells."""
    nb = json.loads(json.dumps(blank))
    js = beacon.js
    img = lambda name: f'<img src=x onerror="{js(name)}">'           # noqa: E731
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="{js("svg")}">'
           f'<rect width="1" height="1"/></svg>')
    code = ("from IPython.display import display, HTML, Javascript, Markdown, SVG\n"
            f"display(HTML({img('html-img')!r}))\n"
            f"display(HTML({'<b>bold</b><script>' + js('html-script') + '</script>'!r}))\n"
            f"display(Javascript({js('javascript')!r}))\n"
            f"display(Markdown({img('markdown-output')!r}))\n"
            f"display(SVG({svg!r}))\n"
            f"display({{'image/png': {PNG!r}, 'text/plain': 'a png'}}, raw=True,\n"
            f"        metadata={{'image/png': {{'width': {'1 onload=' + js('png-width')!r}}}}})\n"
            f"print({img('stream')!r})\n"
            f"print({KEPT_PRINT!r})\n"
            f"display({{'image/png': {PNG!r}}}, raw=True)\n")
    error = f"raise ValueError({img('error')!r})\n"
    answer = (f"**My answer** keeps its Markdown and its math: {MATH}.\n\n"
              f"<img src=x onerror=\"{js('answer-img')}\">\n\n"
              f"<script>{js('answer-script')}</script>\n")
    added = (f"<details open ontoggle=\"{js('added-details')}\">x</details>\n\n"
             f"```mermaid\n<img src=x onerror=\"{js('added-mermaid')}\">\n```\n")
    raw = f"<img src=x onerror=\"{js('raw-cell')}\">"
    cells = []
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == "written_bptt_memory":
            cell["source"] = answer
        cells.append(cell)
        if meta.get("grade_id") == "rnn_step_forward":      # learner cells after the first answer
            cells += [{"cell_type": "code", "execution_count": None, "metadata": {},
                       "outputs": [], "source": code},
                      {"cell_type": "markdown", "metadata": {}, "source": added},
                      {"cell_type": "raw", "metadata": {"raw_mimetype": "text/html"},
                       "source": raw}]
    cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                  "source": error})
    nb["cells"] = cells
    return nb


class FormgraderServer:
    """``jupyter server`` at the course copy's root with the formgrader (as make lab-instructor)."""

    def __init__(self, root: Path, state: Path):
        self.root, self.state = root, state
        self.token = secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        bin_dir = Path(sys.executable).parent
        env = dict(os.environ, RNNCOURSE_ROOT=str(self.root),
                   JUPYTER_CONFIG_PATH=str(self.root / "autograder"),
                   JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
                   PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        cmd = [str(bin_dir / "jupyter"), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = open(self.state / "server.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self) -> None:
        deadline = time.time() + 90
        while time.time() < deadline:
            assert self.proc.poll() is None, (
                f"jupyter server exited:\n{(self.state / 'server.log').read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5)
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("jupyter server did not answer within 90 s")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The hostile submission graded, its feedback made, the formgrader serving the course copy
    (started while the submission is graded) and a headless Chromium page."""
    tmp = tmp_path_factory.mktemp("no-student-script")
    root = make_course_copy(tmp / "course")
    run_course(root, "release", "--lesson", LESSON)
    beacon = Beacon()
    hostile = _hostile(load_nb(root / "lessons" / LESSON / f"{LESSON}.ipynb"), beacon)
    (tmp / "hostile.ipynb").write_text(json.dumps(hostile))
    submit(root, STUDENT, LESSON, tmp / "hostile.ipynb")
    (tmp / "server").mkdir()
    try:
        with FormgraderServer(root, tmp / "server") as server:
            proc = run_course(root, "grade", "--lesson", LESSON,
                              env_extra={"RNNCOURSE_CELL_TIMEOUT": "20"})
            print(proc.stdout)
            run_course(root, "feedback", "--lesson", LESSON)
            server.wait_ready()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=CHROMIUM_ARGS)
                page = browser.new_page()
                # nothing off this machine (MathJax from its CDN): fail at once, never wait
                page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"),
                           lambda route: route.abort())
                try:
                    yield dict(root=root, beacon=beacon, hostile=hostile, log=proc.stdout,
                               page=page, server=server)
                finally:
                    browser.close()
    finally:
        beacon.server.shutdown()


def _submission_id(root: Path) -> str:
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(root / "autograder" / "gradebook.db")) as gb:
        return gb.find_submission_notebook(LESSON, LESSON, STUDENT).id


def _open(page, url: str, beacon: Beacon) -> list:
    """What ran in the page at ``url``: payload names reported in the page or to the beacon."""
    del beacon.hits[:]
    page.goto(url, wait_until="load")
    page.wait_for_timeout(1000)                 # image errors, onload, ontoggle and beacons
    in_page = page.evaluate("window.__h4 || []")
    return sorted(set(in_page) | set(beacon.hits))


def _check_pages(g: dict, when: str) -> str:
    """Feedback and formgrader pages of the submission in Chromium; returns the feedback HTML."""
    root, beacon, page, server = g["root"], g["beacon"], g["page"], g["server"]
    feedback = root / "autograder" / "feedback" / STUDENT / LESSON / f"{LESSON}.html"
    assert feedback.exists(), f"no feedback page for {STUDENT}:\n{g['log']}"
    in_feedback = _open(page, feedback.as_uri(), beacon)
    url = f"{server.url}/formgrader/submissions/{_submission_id(root)}/?token={server.token}"
    in_formgrader = _open(page, url, beacon)
    assert "My answer" in page.content(), f"{when}: the formgrader did not show the submission"
    assert not in_feedback and not in_formgrader, (
        f"{when}: student script ran in the feedback page: {in_feedback}; "
        f"in the formgrader's page: {in_formgrader}")
    return feedback.read_text()


@_browser_test
def test_no_student_script_runs_in_feedback_or_formgrader(graded):
    page = _check_pages(graded, "graded")
    text = html_lib.unescape(page)
    # what is not active is still shown: the answer's Markdown and math, printed text, a PNG
    assert "<strong>My answer</strong>" in page, "the written answer lost its Markdown"
    assert MATH in text, "the written answer lost its math"
    assert KEPT_PRINT in text, "the learner's printed output is gone"
    assert f"data:image/png;base64,{PNG}" in page, "the learner's PNG output is gone"


@_browser_test
def test_the_graded_notebook_holds_nothing_active(graded):
    """What autograde wrote to autograder/autograded/ (which the instructor may also open in
    JupyterLab) is clean itself: inert outputs only, learner Markdown that renders inert."""
    sanitize = _sanitizer()
    root = graded["root"]
    nb = load_nb(root / "autograder" / "autograded" / STUDENT / LESSON / f"{LESSON}.ipynb")
    released = load_nb(root / "lessons" / LESSON / f"{LESSON}.ipynb")
    course = {"".join(c["source"]) for c in released["cells"] if c["cell_type"] == "markdown"
              and not c["metadata"].get("nbgrader", {}).get("solution")}
    active = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            extra = set(out.get("data", {})) - {"text/plain", "image/png", "image/jpeg",
                                                  "text/markdown"}
            if extra:
                active.append(f"cell {i}: output {sorted(extra)}")
        if cell["cell_type"] == "markdown" and "".join(cell["source"]) not in course:
            parser = _Active()
            parser.feed(sanitize.render_markdown("".join(cell["source"]),
                                                 cell.get("attachments")))
            active += [f"cell {i}: {found}" for found in parser.found]
    assert not active, f"the autograded notebook holds active content: {active}"


@_browser_test
def test_a_notebook_graded_before_the_fix_is_rendered_clean(graded):
    """The autograded notebook replaced by one holding every payload (outputs and Markdown as
    grading wrote them before the fix): the pages must still run none of them."""
    root = graded["root"]
    path = root / "autograder" / "autograded" / STUDENT / LESSON / f"{LESSON}.ipynb"
    nb = load_nb(path)
    hostile = graded["hostile"]
    js = graded["beacon"].js
    payload_outputs = [
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": f"<img src=x onerror=\"{js('old-html')}\">"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/javascript": js("old-javascript")}},
        {"output_type": "display_data", "data": {"image/png": PNG},
         "metadata": {"image/png": {"width": f"1 onload={js('old-png')}"}}},
    ]
    sources = {"".join(c["source"]) for c in hostile["cells"] if c["cell_type"] == "markdown"
               and ("<img" in "".join(c["source"]) or "<details" in "".join(c["source"]))}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["outputs"] = payload_outputs
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "written_bptt_memory":
            cell["source"] = next(s for s in sources if "My answer" in s)
    nb["cells"].append({"cell_type": "markdown", "metadata": {},
                        "source": f"<img src=x onerror=\"{js('old-markdown')}\">"})
    path.write_text(json.dumps(nb))
    run_course(root, "feedback", "--lesson", LESSON)
    page = _check_pages(graded, "old")
    assert "<strong>My answer</strong>" in page, "the written answer lost its Markdown"


# --------------------------------------------------------------------------------------------
# The Markdown rewriting on its own (no browser): what nbconvert renders from a rewritten learner
# cell, read by Python's HTML parser, holds no script, no event handler, no frame, no
# javascript: link; ordinary Markdown, code and math come through.

class _Active(html_parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "style", "details",
                   "form", "base", "meta", "link"):
            self.found.append(tag)
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20]", "", html_lib.unescape(value or "")).lower()
            if name.startswith("on") or url.startswith(("javascript:", "vbscript:", "data:text")):
                self.found.append(f"{tag} {name}={value}")


def _sanitizer():
    sys.path.insert(0, str(REPO / "autograder"))
    import sanitize
    return sanitize


HOSTILE_MARKDOWN = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "text <iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<details open ontoggle=alert(1)>x</details>",
    "```mermaid\n<img src=x onerror=alert(1)>\n```",
    "[click](javascript:alert(1))",
    "[click](JaVa&#115;cript:alert(1))",
    "<javascript:alert(1)>",
    "![x](attachment:missing.png)",
    "<svg onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "`code` <img src=x onerror=alert(1)> $x$",
    "$$ x $$ <style>body{display:none}</style>",
]


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_learner_markdown_is_rendered_inert(source):
    sanitize = _sanitizer()
    rendered = sanitize.render_markdown(sanitize.sanitize_markdown(source))
    parser = _Active()
    parser.feed(rendered)
    assert not parser.found, f"{source!r} renders active HTML: {parser.found}\n{rendered}"


def test_learner_markdown_keeps_markdown_code_and_math():
    sanitize = _sanitizer()
    source = ("**bold** and *it* with $a < b$ and\n\n$$h_t = \\tanh(W h_{t-1})$$\n\n"
              "- a list\n\n```python\nif a < b:\n    pass\n```\n\n`x<y` and "
              "[a link](https://example.org) and x < y")
    out = sanitize.sanitize_markdown(source)
    rendered = sanitize.render_markdown(out)
    for shown in ("<strong>bold</strong>", "<em>it</em>", "$a &lt; b$",
                  "$$h_t = \\tanh(W h_{t-1})$$", "<li>a list</li>", "<code>x&lt;y</code>",
                  '<a href="https://example.org">a link</a>', "x &lt; y"):
        assert shown in rendered, f"{shown!r} is not in the rendered answer:\n{rendered}"
    assert "if" in rendered and "&lt;" in rendered and "&amp;lt;" not in rendered
