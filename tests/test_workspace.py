"""A learner's work is never overwritten: `make lab` serves workspace/, which `make release` and a
course update (a new release of lessons/, as `git pull` brings) never write over."""

import json
import os
import subprocess
import sys

from conftest import load_nb, make_course_copy, run_course

LESSON = "01_rnn"
MY_ANSWER = "# my own work, typed in JupyterLab\n"


def _sync(root):
    """`make lab`'s first step, in the course copy ``root``."""
    proc = subprocess.run([sys.executable, str(root / "autograder" / "workspace.py"), "sync"],
                          env=dict(os.environ, RNNCOURSE_ROOT=str(root)), capture_output=True,
                          text=True, check=True)
    return proc.stdout


def _path(root):
    proc = subprocess.run([sys.executable, str(root / "autograder" / "workspace.py"), "path",
                           "--lesson", LESSON],
                          env=dict(os.environ, RNNCOURSE_ROOT=str(root)), capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


def _edit_first_answer(path):
    nb = load_nb(path)
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    cell["source"] = MY_ANSWER + "".join(cell["source"])
    path.write_text(json.dumps(nb))


def test_release_and_course_update_never_overwrite_the_workspace(tmp_path):
    root = make_course_copy(tmp_path / "course")
    run_course(root, "release", "--lesson", LESSON)
    released = root / "lessons" / LESSON
    assert not (root / "workspace").exists()
    assert _path(root) == str(released / f"{LESSON}.ipynb")       # nothing copied yet

    (released / "notes.txt").write_text("version 1\n")          # a data file of the lesson
    out = _sync(root)
    mine = root / "workspace" / LESSON / f"{LESSON}.ipynb"
    assert mine.read_bytes() == (released / f"{LESSON}.ipynb").read_bytes(), out
    assert "copied" in out
    assert _path(root) == str(mine)                              # what `make check` grades

    _edit_first_answer(mine)
    edited = mine.read_bytes()

    # the instructor's (or author's) `make release`: lessons/ is regenerated, the workspace is not
    run_course(root, "release", "--lesson", LESSON)
    assert mine.read_bytes() == edited
    assert _sync(root) == ""                                      # the lesson did not change

    # a course update: the lesson's text and its data file change upstream
    source = root / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = load_nb(source)
    first_md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    first_md["source"] = "".join(first_md["source"]) + "\n\nA sentence the course added later.\n"
    source.write_text(json.dumps(nb))
    run_course(root, "release", "--lesson", LESSON)
    (released / "notes.txt").write_text("version 2\n")
    out = _sync(root)

    assert mine.read_bytes() == edited, "the learner's edited notebook was overwritten"
    offered = sorted(mine.parent.glob(f"{LESSON}.updated-*.ipynb"))
    assert len(offered) == 1, out
    assert "A sentence the course added later." in offered[0].read_text()
    assert offered[0].name in out and "untouched" in out
    # a file the learner never changed follows the course
    assert (mine.parent / "notes.txt").read_text() == "version 2\n"

    # the offered copy is the learner's too: a later sync tells again and writes nothing
    offered[0].write_text(offered[0].read_text() + " ")
    before = {p.name: p.read_bytes() for p in mine.parent.iterdir()}
    out = _sync(root)
    assert offered[0].name in out
    assert {p.name: p.read_bytes() for p in mine.parent.iterdir()} == before
