"""The grading pipeline, end to end through real `nbgrader generate_assignment` and `autograde`."""

import pytest

from conftest import REPO, lesson_ids, load_nb, run_course

LESSONS = lesson_ids()


def test_there_are_lessons():
    assert LESSONS, "no solutions/<id>/<id>.ipynb found"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lessons_are_in_sync_with_solutions(graded_course, lesson):
    """lessons/ is exactly what a fresh `nbgrader generate_assignment` makes of solutions/."""
    root = graded_course[0]
    fresh = load_nb(root / "lessons" / lesson / f"{lesson}.ipynb")
    committed_path = REPO / "lessons" / lesson / f"{lesson}.ipynb"
    assert committed_path.exists(), f"{committed_path} is missing: run `make release`"
    committed = load_nb(committed_path)
    assert len(fresh["cells"]) == len(committed["cells"]), \
        f"lessons/{lesson} has drifted from solutions/{lesson}: run `make release`"
    for i, (a, b) in enumerate(zip(fresh["cells"], committed["cells"])):
        assert a == b, (f"cell {i} of lessons/{lesson} differs from a fresh release of "
                        f"solutions/{lesson}: run `make release` and commit lessons/")
    assert fresh == committed, f"lessons/{lesson} metadata drifted: run `make release`"


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_gets_full_autograded_marks(graded_course, lesson):
    root, rows, log = graded_course[:3]
    grades = rows.get(("solution", lesson))
    assert grades, f"the solution of {lesson} was not graded:\n{log}"
    code = {gid: g for gid, g in grades.items() if g[3] == "code"}
    assert code, f"{lesson} has no autograded test cell"
    lost = {gid: f"{g[2]}/{g[1]}" for gid, g in code.items() if g[2] != g[1]}
    assert not lost, f"the solution of {lesson} loses points in {lost}; autograde log:\n{log}"
    assert any(g[3] == "markdown" for g in grades.values()), \
        f"{lesson} has no manually graded written answer"


@pytest.mark.parametrize("lesson", LESSONS)
def test_blank_lesson_gets_zero(graded_course, lesson):
    root, rows, log = graded_course[:3]
    grades = rows.get(("blank", lesson))
    assert grades, f"the blank lesson {lesson} was not graded:\n{log}"
    scored = {gid: g[2] for gid, g in grades.items() if g[3] == "code" and g[2]}
    assert not scored, (f"test cells of the blank lesson {lesson} give points: {scored}; "
                        f"each test cell needs a visible assert that fails without a solution")


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_runs_without_error_or_stderr(graded_course, lesson):
    """The autograded solution notebook (executed in grading mode) shows no error, no stderr."""
    root = graded_course[0]
    nb = load_nb(root / "autograder" / "autograded" / "solution" / lesson / f"{lesson}.ipynb")
    problems = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("name") == "stderr":
                problems.append(f"cell {i} wrote to stderr: {''.join(out.get('text', ''))[:300]}")
    assert not problems, f"solutions/{lesson} in grading mode:\n" + "\n".join(problems)


def test_grade_report_lists_every_submission(graded_course):
    log = graded_course[2]
    for lesson in LESSONS:
        assert f"== {lesson}" in log
    assert log.count("solution ") >= len(LESSONS) and log.count("blank ") >= len(LESSONS)


def test_export_writes_one_row_per_student_and_lesson(graded_course, tmp_path):
    """grades.csv has a row for every student and every lesson: the graded score and status
    "graded" where the student submitted, an empty score and "not submitted" where not; the LMS
    file has the same scores, one row per student. No grade is lost or invented on the way."""
    import csv
    root, rows = graded_course[:2]
    csv_path = tmp_path / "grades.csv"
    run_course(root, "export", "--to", str(csv_path))
    with open(csv_path, newline="") as fh:
        table = list(csv.DictReader(fh))
    exported = {(r["student_id"], r["assignment"]): r for r in table}
    students = {s for s, _ in rows}
    assert len(exported) == len(table), "a student and lesson appear twice"
    assert set(exported) == {(s, l) for s in students for l in LESSONS}, \
        "the CSV does not hold one row per student and lesson"
    for key, row in exported.items():
        if key in rows:
            graded = sum((g[0] or 0) for g in rows[key].values())
            assert row["status"] in ("graded", "needs manual grading"), (key, row)
            assert float(row["score"]) == graded, f"{key}: the CSV says {row['score']}, the gradebook {graded}"
        else:
            assert (row["status"], row["score"]) == ("not submitted", ""), (key, row)
    assert any(r["status"] == "not submitted" for r in table)     # mutants submit one lesson
    for lesson in LESSONS:
        code_max = sum(g[1] for g in rows[("solution", lesson)].values() if g[3] == "code")
        assert float(exported[("solution", lesson)]["score"]) == code_max
        assert float(exported[("blank", lesson)]["score"]) == 0.0
        assert exported[("blank", lesson)]["status"] != "not submitted"

    with open(tmp_path / "grades-lms.csv", newline="") as fh:
        lms = list(csv.DictReader(fh))
    assert lms[0]["Student"] == "Points Possible"
    by_student = {r["ID"]: r for r in lms[1:]}
    assert set(by_student) == students
    for (student, lesson), row in exported.items():
        column = next(c for c in lms[0] if c.startswith(f"{lesson} ("))
        assert float(lms[0][column]) == float(row["max_score"])
        assert by_student[student][column] == row["score"], (student, lesson)

    one = tmp_path / "one.csv"
    run_course(root, "export", "--lesson", LESSONS[0], "--to", str(one))
    with open(one, newline="") as fh:
        assert {r["assignment"] for r in csv.DictReader(fh)} == {LESSONS[0]}


def test_feedback_is_generated_without_hidden_markers(graded_course, class_feedback):
    root = graded_course[0]
    proc = class_feedback
    assert "skipping" not in proc.stdout, f"false skip lines:\n{proc.stdout}"
    for lesson in LESSONS:
        html = root / "autograder" / "feedback" / "blank" / lesson / f"{lesson}.html"
        assert html.exists(), f"no feedback for blank/{lesson}"
        text = html.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
