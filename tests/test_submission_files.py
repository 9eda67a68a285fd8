"""A submission's files that a browser would run never reach the folder the formgrader serves."""

import json
import os
import subprocess
import sys

from conftest import make_course_copy

LESSON = "01_rnn"


def test_active_files_are_removed_before_grading(tmp_path):
    root = make_course_copy(tmp_path / "course")
    folder = root / "autograder" / "submitted" / "bob" / LESSON
    (folder / "sub").mkdir(parents=True)
    (folder / f"{LESSON}.ipynb").write_text(json.dumps({"cells": []}))
    keep = ["results.json", "notes.txt", "sub/data.npy"]
    drop = ["evil.html", "EVIL.HTM", "sub/x.svg", "page.xhtml", "a.js", "doc.pdf"]
    for name in keep + drop:
        (folder / name).write_text("<script>alert(1)</script>")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, course; print(course.clean_submission('bob', sys.argv[1]))",
         LESSON], cwd=root / "autograder", env=dict(os.environ, RNNCOURSE_ROOT=str(root)),
        capture_output=True, text=True, check=True)
    assert proc.stdout.strip().endswith("None"), proc.stdout     # the notebook is still graded
    for name in drop:
        assert not (folder / name).exists(), f"{name} was left in the submission"
        assert name.split("/")[-1] in proc.stdout                # and the instructor is told
    for name in keep:
        assert (folder / name).exists(), f"{name} was removed"
