"""Shared fixtures: a temporary copy of the course, released and graded with real nbgrader.

Grading happens in a copy (``RNNCOURSE_ROOT``) so the tests never touch the instructor's
gradebook or submissions. The copy is graded once per test session: every lesson's solution
notebook as student ``solution`` and every released lesson as student ``blank``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
os.environ["PATH"] = str(BIN) + os.pathsep + os.environ.get("PATH", "")   # alembic, jupyter


def lesson_ids() -> list[str]:
    return sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def load_nb(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def hidden_lines(notebook: Path) -> list[str]:
    """The lines (over 20 characters) of a solution notebook's hidden-test blocks."""
    lines = []
    for cell in load_nb(notebook)["cells"]:
        src = "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS" in src:
            block = src.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS")[0]
            lines += [l.strip() for l in block.splitlines() if len(l.strip()) > 20]
    return lines


def make_course_copy(dest: Path) -> Path:
    """Copy what grading needs (solutions, lessons, autograder tools) into ``dest``."""
    shutil.copytree(REPO / "solutions", dest / "solutions",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (dest / "autograder").mkdir(parents=True)
    for path in (REPO / "autograder").glob("*.py"):
        shutil.copy(path, dest / "autograder" / path.name)
    return dest


def run_course(root: Path, *args: str, env_extra: dict | None = None,
               timeout: float = 3000, python: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNNCOURSE_ROOT=str(root), **(env_extra or {}))
    proc = subprocess.run([python or sys.executable, str(root / "autograder" / "course.py"), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"course.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def submit(root: Path, student: str, lesson: str, notebook: Path) -> Path:
    folder = root / "autograder" / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{lesson}.ipynb"
    shutil.copy(notebook, target)
    return target


def gradebook_rows(root: Path, db_url: str | None = None) -> dict:
    """``{(student, lesson): {grade_id: (score, max_score)}}`` read from the copy's gradebook
    (or from the gradebook at ``db_url``, e.g. a PostgreSQL one)."""
    from nbgrader.api import Gradebook
    rows = {}
    with Gradebook(db_url or "sqlite:///" + str(root / "autograder" / "gradebook.db")) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    rows[(sub.student_id, assignment.name)] = {
                        g.name: (g.score, g.max_score, g.auto_score, g.cell_type)
                        for g in nb.grades}
    return rows


def mutant_notebook(lesson: str, replacements: dict, dest: Path) -> Path:
    """The solution notebook with some answer cells (by grade_id) given new sources."""
    nb = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    found = set()
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in replacements:
            cell["source"] = replacements[gid].source
            found.add(gid)
    missing = set(replacements) - found
    assert not missing, f"{lesson}: the mutation catalogue names unknown answer cells {missing}"
    dest.write_text(json.dumps(nb))
    return dest


MUTATION_RESULTS: list = []     # filled by test_mutants.py, printed at the end of the run

CLASS: dict = {}                # (student, lesson) -> build(work: Path) -> notebook path


def join_class(student: str, lesson: str, build) -> None:
    """Put a submission into the one class graded per session (``graded_course``), beside the
    solutions, the blank lessons and the mutants: a test module calls this at import with
    ``build(work)``, which writes the student's notebook into the folder ``work`` and returns
    its path. One `course.py grade --jobs 2` then grades everything, instead of one course copy
    and one grading run per module."""
    if student in ("solution", "blank") or student.startswith("mutant"):
        raise ValueError(f"{student!r} is a name graded_course gives its own submissions")
    if (student, lesson) in CLASS:
        raise ValueError(f"{student}/{lesson} joined the class twice")
    CLASS[(student, lesson)] = build


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """The course copy after `release` and `grade` of every solution, every blank lesson, every
    mutant submission of the mutation catalogues (tests/mutants/) and every submission a test
    module added with :func:`join_class`, graded 2 at a time. Returns ``(root, gradebook rows,
    the grade log, mutation plans)``."""
    import mutants

    root = make_course_copy(tmp_path_factory.mktemp("course"))
    work = tmp_path_factory.mktemp("mutants")
    run_course(root, "release")
    plans = {}
    for lesson in lesson_ids():
        submit(root, "solution", lesson, REPO / "solutions" / lesson / f"{lesson}.ipynb")
        submit(root, "blank", lesson, root / "lessons" / lesson / f"{lesson}.ipynb")
        catalogue = mutants.load(lesson)
        if catalogue is None:
            continue
        plans[lesson] = (catalogue, mutants.plan(catalogue))
        for i, replacements in enumerate(plans[lesson][1]):
            student = f"mutant{i:02d}"
            path = mutant_notebook(lesson, replacements, work / f"{lesson}-{student}.ipynb")
            submit(root, student, lesson, path)
    joined = tmp_path_factory.mktemp("joined")
    for (student, lesson), build in sorted(CLASS.items()):
        submit(root, student, lesson, build(joined))
    proc = run_course(root, "grade", "--jobs", "2")
    print(proc.stdout)
    return root, gradebook_rows(root), proc.stdout, plans


@pytest.fixture(scope="session")
def class_feedback(graded_course):
    """`course.py feedback` run once over the whole graded class; returns its process."""
    return run_course(graded_course[0], "feedback")


def pytest_terminal_summary(terminalreporter):
    if not MUTATION_RESULTS:
        return
    wrong = [r for r in MUTATION_RESULTS if not r["correct"]]
    right = [r for r in MUTATION_RESULTS if r["correct"]]
    terminalreporter.write_sep("-", "mutation testing of the graded exercises")
    for lesson in sorted({r["lesson"] for r in MUTATION_RESULTS}):
        w = [r for r in wrong if r["lesson"] == lesson]
        c = [r for r in right if r["lesson"] == lesson]
        terminalreporter.write_line(
            f"{lesson}: wrong variants rejected {sum(r['ok'] for r in w)}/{len(w)}, "
            f"correct variants accepted {sum(r['ok'] for r in c)}/{len(c)}")
    terminalreporter.write_line(
        f"all lessons: wrong variants rejected {sum(r['ok'] for r in wrong)}/{len(wrong)}, "
        f"correct variants accepted {sum(r['ok'] for r in right)}/{len(right)}")
