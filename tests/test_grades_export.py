"""make export's two files, read back (issue 20, items 7 and 9), from a small gradebook built here
with nbgrader's API instead of the session's graded class: a second, no grading.

The class: alice is graded (2 + 1 of 3), bob's written answer waits for the formgrader, carol's
grading did not finish (``graded`` says so), and nobody submitted lesson 02."""

import csv
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "autograder"))
import grades_export  # noqa: E402

LESSONS = ("01_x", "02_y")


@pytest.fixture
def shm():
    """A private folder in memory where there is one: SQLite's many small commits wait on a
    busy disk (90 s there, 31 s here, on 2 cores other jobs were loading)."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    folder = Path(tempfile.mkdtemp(prefix="grades-export-", dir=base))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _gradebook(path):
    from nbgrader.api import Gradebook
    url = "sqlite:///" + str(path)
    with Gradebook(url) as gb:
        for lesson in LESSONS:
            gb.add_assignment(lesson)
            gb.add_notebook(lesson, lesson)
            gb.add_grade_cell("test", lesson, lesson, max_score=2, cell_type="code")
            gb.add_solution_cell("written", lesson, lesson)
            gb.add_grade_cell("written", lesson, lesson, max_score=1, cell_type="markdown")
        for sid, first, last in (("alice", "Ann", "Lee"), ("bob", "", ""), ("carol", "Cy", "Ng")):
            gb.add_student(sid, first_name=first, last_name=last, email=f"{sid}@example.org")
            gb.add_submission("01_x", sid)
        scores = {"alice": (2, 1, False), "bob": (2, None, True), "carol": (0, 0, False)}
        for sid, (auto, manual, waiting) in scores.items():
            test = gb.find_grade("test", "01_x", "01_x", sid)
            test.auto_score, test.needs_manual_grade = auto, False
            written = gb.find_grade("written", "01_x", "01_x", sid)
            written.manual_score, written.needs_manual_grade = manual, waiting
        gb.db.commit()
    return url


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_grades_and_the_lms_file_say_what_each_score_means(tmp_path, shm):
    url = _gradebook(shm / "gradebook.db")
    long, lms = tmp_path / "grades.csv", tmp_path / "grades-lms.csv"
    grades_export.write(url, long, lms, graded=lambda student, lesson: student != "carol")

    rows = {(r["student_id"], r["assignment"]): r for r in _read(long)}
    assert len(rows) == 6, rows
    assert (rows["alice", "01_x"]["score"], rows["alice", "01_x"]["status"]) == ("3", "graded")
    assert rows["bob", "01_x"]["status"] == "needs manual grading"
    assert rows["bob", "01_x"]["score"] == "2"
    assert (rows["carol", "01_x"]["score"], rows["carol", "01_x"]["status"]) == ("0", "not graded")
    for student in ("alice", "bob", "carol"):               # never handed in: empty, not 0
        row = rows[student, "02_y"]
        assert (row["score"], row["raw_score"], row["status"]) == ("", "", "not submitted"), row
        assert row["max_score"] == "3"

    table = _read(lms)
    head = list(table[0])
    assert head == ["Student", "ID", "SIS Login ID", "Email", "01_x (3 pts)", "02_y (3 pts)"]
    assert table[0]["Student"] == "Points Possible"
    assert (table[0]["01_x (3 pts)"], table[0]["02_y (3 pts)"]) == ("3", "3")
    students = {r["ID"]: r for r in table[1:]}
    assert list(students) == ["alice", "bob", "carol"]       # one row per student
    assert students["alice"]["Student"] == "Lee, Ann" and students["bob"]["Student"] == "bob"
    assert students["alice"]["Email"] == "alice@example.org"
    for (student, lesson), row in rows.items():
        assert students[student][f"{lesson} (3 pts)"] == row["score"], (student, lesson)


def test_export_of_one_lesson_and_of_an_unknown_one(tmp_path, shm):
    url = _gradebook(shm / "gradebook.db")
    long, lms = tmp_path / "one.csv", tmp_path / "one-lms.csv"
    grades_export.write(url, long, lms, ["01_x"])
    assert {r["assignment"] for r in _read(long)} == {"01_x"}
    assert list(_read(lms)[0]) == ["Student", "ID", "SIS Login ID", "Email", "01_x (3 pts)"]
    with pytest.raises(SystemExit, match="no lesson 03_z"):
        grades_export.write(url, long, lms, ["03_z"])
