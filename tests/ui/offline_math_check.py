"""Formulas render with no network: in a feedback page and in the formgrader (make test-ui).

A course copy grades one solution of a lesson and makes its feedback; JupyterLab serves the copy
as `make lab-instructor` does. Chromium then opens, with every request that does not go to that
server refused (an exam room without internet):

1. the feedback page, from JupyterLab's files/ URL, as a learner or instructor opens it;
2. the formgrader's view of the same submission.

Each must show MathJax-typeset formulas (elements MathJax creates, no raw ``$W_{hh}$`` text) and
must not have needed the public CDN. Screenshots go to tests/ui/screenshots/offline-math-*.png.

    .venv/bin/python tests/ui/offline_math_check.py [--lesson 01_rnn]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from browser_check import REPO, SHOTS, Lab, course, make_course_copy  # (this folder)
from chromium import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import sync_playwright

TYPESET = "span.MathJax, div.MathJax_Display, span.MathJax_CHTML, .MathJax_SVG"


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
