"""A learner's work is never overwritten: `make lab` serves workspace/, which `make release` and a
course update (a new release of lessons/, as `git pull` brings) never write over."""

import json
import os
import subprocess
import sys

from conftest import REPO, load_nb, make_course_copy, run_course

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


def _workspace_module():
    sys.path.insert(0, str(REPO / "autograder"))
    try:
        import workspace
    finally:
        sys.path.pop(0)
    return workspace


def test_an_offered_new_version_is_taken_or_dropped_once(tmp_path, capsys):
    """The learner answers an offered new version once: dropping it (deleting the .updated- file)
    or taking it (deleting or replacing their own copy) ends the notice, and a dropped version is
    not written again at the next `make lab`. Plain files, no release: a second or so."""
    ws = _workspace_module()
    lessons, mine = tmp_path / "lessons", tmp_path / "workspace"
    released = {name: lessons / "01_x" / f"{name}.txt" for name in ("drop", "take", "swap")}
    released["drop"].parent.mkdir(parents=True)
    for path in released.values():
        path.write_text("version 1\n")
    ws.sync(mine, lessons)
    for name, path in released.items():
        (mine / "01_x" / path.name).write_text(f"my {name}\n")        # the learner's work
        path.write_text("version 2\n")                                 # a course update
    out = ws.sync(mine, lessons)
    offers = {name: sorted((mine / "01_x").glob(f"{name}.updated-*.txt")) for name in released}
    assert all(len(found) == 1 for found in offers.values()), out
    assert len(out) == 3 and all("untouched" in line for line in out), out
    assert len(ws.sync(mine, lessons)) == 3                            # told again while both stay

    offers["drop"][0].unlink()                                         # keep mine
    (mine / "01_x" / "take.txt").unlink()                              # take the course's
    offers["swap"][0].replace(mine / "01_x" / "swap.txt")              # take it by renaming
    out = ws.sync(mine, lessons)
    assert len(out) == 1 and out[0].startswith("copied 1 file"), out   # take.txt, anew
    assert ws.sync(mine, lessons) == [], "an answered offer is still announced"
    files = {p.name: p.read_text() for p in (mine / "01_x").iterdir()}
    assert files == {"drop.txt": "my drop\n", "take.txt": "version 2\n",
                     "swap.txt": "version 2\n", offers["take"][0].name: "version 2\n"}, files

    released["drop"].write_text("version 3\n")                        # a later update is offered
    out = ws.sync(mine, lessons)
    assert len(out) == 1 and "drop.txt" in out[0], out
    assert (mine / "01_x" / "drop.txt").read_text() == "my drop\n"
    capsys.readouterr()


def test_a_record_of_the_first_format_is_read(tmp_path):
    """A workspace synced by the first version of workspace.py (a flat {file: digest} record)
    keeps telling the learner's changes from the course's."""
    ws = _workspace_module()
    lessons, mine = tmp_path / "lessons", tmp_path / "workspace"
    (lessons / "01_x").mkdir(parents=True)
    (lessons / "01_x" / "a.txt").write_text("version 1\n")
    (lessons / "01_x" / "b.txt").write_text("version 1\n")
    ws.sync(mine, lessons)
    flat = json.loads((mine / ws.RECORD).read_text())["released"]
    (mine / ws.RECORD).write_text(json.dumps(flat))
    (mine / "01_x" / "a.txt").write_text("mine\n")
    (lessons / "01_x" / "a.txt").write_text("version 2\n")
    (lessons / "01_x" / "b.txt").write_text("version 2\n")
    out = ws.sync(mine, lessons)
    assert (mine / "01_x" / "a.txt").read_text() == "mine\n"
    assert (mine / "01_x" / "b.txt").read_text() == "version 2\n", out
    assert len(list((mine / "01_x").glob("a.updated-*.txt"))) == 1, out
