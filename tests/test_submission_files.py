"""A submission's files that a browser would run never reach the folder the formgrader serves, and
a resubmission that cannot be graded never keeps the earlier submission's scores."""

import csv
import json
import os
import subprocess
import sys

from conftest import REPO, gradebook_rows, load_nb, make_course_copy, run_course, submit

LESSON = "01_rnn"


def test_active_files_are_removed_before_grading(tmp_path):
    root = make_course_copy(tmp_path / "course")
    folder = root / "autograder" / "submitted" / "bob" / LESSON
    (folder / "sub").mkdir(parents=True)
    (folder / f"{LESSON}.ipynb").write_text(json.dumps({"cells": []}))
    keep = ["results.json", "notes.txt", "sub/data.npy"]
    drop = ["evil.html", "EVIL.HTM", "sub/x.svg", "page.xhtml", "a.js", "doc.pdf", "evil.xhtm",
            "sub/evil2.xhtm", "e.xpdl", "feed.atom", "noext"]
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


def test_a_resubmission_that_cannot_be_graded_scores_0_not_the_old_score(tmp_path):
    root = make_course_copy(tmp_path / "course")
    run_course(root, "release", "--lesson", LESSON)
    solution = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = load_nb(solution)              # with a cell that looks for the hidden cases' seed salt
    nb["cells"].insert(1, {"cell_type": "code", "execution_count": None, "metadata": {},
                           "outputs": [], "source": "import os\nprint('salt =', "
                           "os.environ.get('RNNCOURSE_SEED_SALT'))"})
    first = tmp_path / "first.ipynb"
    first.write_text(json.dumps(nb))
    submit(root, "recon", LESSON, first)
    run_course(root, "grade", "--lesson", LESSON)
    before = gradebook_rows(root)[("recon", LESSON)]
    assert sum(g[0] for g in before.values() if g[3] == "code") > 0
    graded = load_nb(root / "autograder" / "autograded" / "recon" / LESSON / f"{LESSON}.ipynb")
    printed = "".join("".join(o.get("text", "")) for c in graded["cells"]
                      for o in c.get("outputs", []))
    assert "salt = None" in printed, "the kernel can read the hidden cases' seed salt"

    # the resubmission: a test cell's nbgrader metadata changed, so nbgrader refuses it
    nb = load_nb(solution)
    test_cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
                     and not c["metadata"]["nbgrader"].get("solution"))
    test_cell["metadata"]["nbgrader"]["grade"] = False
    forged = tmp_path / "forged.ipynb"
    forged.write_text(json.dumps(nb))
    submit(root, "recon", LESSON, forged)
    proc = run_course(root, "grade", "--lesson", LESSON)
    after = gradebook_rows(root)[("recon", LESSON)]
    assert "NOT graded" in proc.stdout, proc.stdout
    assert all(g[0] == 0 for g in after.values() if g[3] == "code"), \
        f"the earlier submission's scores were kept: {after}"
    run_course(root, "export", "--to", str(tmp_path / "g.csv"))
    with open(tmp_path / "g.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student_id"] == "recon")
    assert row["status"] == "not graded" and float(row["score"]) == 0.0, row
