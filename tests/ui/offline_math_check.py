"""Formulas render with no network: in a feedback page and in the formgrader (make test-ui).

A course copy grades one solution of a lesson and makes its feedback; JupyterLab serves the copy
as `make lab-instructor` does. Chromium then opens, with every request that does not go to that
server refused (an exam room without internet):

1. the feedback page, from JupyterLab's files/ URL, as a learner or instructor opens it;
2. the formgrader's view of the same submission.

Each must show MathJax-typeset formulas (elements MathJax creates, no raw ``$W_{hh}$`` text) and
must not have needed the public CDN. A second submission fails its first test with a message of
400 characters on one line: in its feedback page, no output box is wider than the page shows
(the line wraps instead of being cut; code
input boxes keep their own horizontal scroll bar). Screenshots go to tests/ui/screenshots/offline-math-*.png.

    .venv/bin/python tests/ui/offline_math_check.py [--lesson 01_rnn]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from browser_check import REPO, SHOTS, Lab, course, make_course_copy  # (this folder)
from chromium import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import sync_playwright

TYPESET = "span.MathJax, div.MathJax_Display, span.MathJax_CHTML, .MathJax_SVG"
LONG = "this-failure-message-has-no-spaces-" * 12                  # 420 characters, one line


def _submission_id(root: Path, lesson: str, student: str) -> str:
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(root / "autograder" / "gradebook.db")) as gb:
        return gb.find_submission_notebook(lesson, lesson, student).id


def _check_page(page, url: str, name: str, outside: list) -> str:
    outside.clear()
    page.goto(url)
    page.wait_for_load_state("load")
    try:
        page.wait_for_selector(TYPESET, state="attached", timeout=30_000)
    except Exception:                                        # noqa: BLE001 - reported below
        pass
    page.wait_for_timeout(1500)                              # let MathJax finish the page
    page.screenshot(path=str(SHOTS / f"offline-math-{name}.png"), full_page=False)
    typeset = page.locator(TYPESET).count()
    assert typeset > 0, (f"{name}: no formula was typeset with the network off (requests refused: "
                         f"{outside[:5]})")
    return f"{name}: {typeset} typeset formulas, {len(outside)} outside requests refused"


def _raise_first(nb: dict, message: str) -> None:
    """Make the first exercise raise ``ValueError(message)`` before it returns."""
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code"
                and c["metadata"].get("nbgrader", {}).get("solution"))
    lines = "".join(cell["source"]).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("def "))
    while not lines[at].rstrip().endswith(":"):
        at += 1
    lines.insert(at + 1, f"    raise ValueError({message!r})")
    cell["source"] = "\n".join(lines) + "\n"


def _check_wrapped(page, url: str) -> str:
    page.goto(url)
    page.wait_for_load_state("load")
    box = page.locator("div.output_subarea pre", has_text=LONG[:60]).first
    box.wait_for(state="attached", timeout=30_000)
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "offline-math-wrapped-failure.png"), full_page=False)
    cut = page.evaluate("""() => Array.from(document.querySelectorAll('div.output_subarea pre'))
        .filter(p => p.scrollWidth > p.clientWidth + 1).length""")
    width = box.evaluate("p => [p.scrollWidth, p.clientWidth]")
    assert cut == 0, f"{cut} output boxes are cut (the failure's box: scroll/client width {width})"
    return f"feedback of a failure: the {len(LONG)}-character line wraps (width {width})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lesson", default="01_rnn")
    args = ap.parse_args(argv)
    lesson, student = args.lesson, "amy"
    SHOTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ui-offline-"))
    results = []
    try:
        root = make_course_copy(work / "course")
        course(root, "release", "--lesson", lesson)
        folder = root / "autograder" / "submitted" / student / lesson
        folder.mkdir(parents=True)
        shutil.copy(REPO / "solutions" / lesson / f"{lesson}.ipynb", folder / f"{lesson}.ipynb")
        nb = json.loads((REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text())
        folder = root / "autograder" / "submitted" / "ben" / lesson
        folder.mkdir(parents=True)
        _raise_first(nb, LONG)
        (folder / f"{lesson}.ipynb").write_text(json.dumps(nb))
        course(root, "grade", "--lesson", lesson)
        course(root, "feedback", "--lesson", lesson)
        sub_id = _submission_id(root, lesson, student)
        with Lab(root, {"RNNCOURSE_ROOT": str(root)}, name="offline-math") as lab, \
                sync_playwright() as p, tempfile.TemporaryDirectory(prefix="ui-chromium-") as prof:
            context = p.chromium.launch_persistent_context(
                prof, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900})
            outside: list = []

            def route(r):
                if r.request.url.startswith(lab.url):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()
            context.route("**/*", route)
            page = context.new_page()
            try:
                feedback = f"autograder/feedback/{student}/{lesson}/{lesson}.html"
                results.append(_check_page(page, f"{lab.url}/files/{feedback}?token={lab.token}",
                                           "feedback", outside))
                results.append(_check_page(
                    page, f"{lab.url}/formgrader/submissions/{sub_id}/?token={lab.token}",
                    "formgrader", outside))
                results.append(_check_wrapped(
                    page, f"{lab.url}/files/autograder/feedback/ben/{lesson}/{lesson}.html"
                          f"?token={lab.token}"))
            finally:
                context.close()
    except AssertionError as err:
        print(f"FAIL {err}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in results:
        print(f"PASS {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
