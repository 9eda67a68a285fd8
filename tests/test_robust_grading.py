"""One student's crashing or looping notebook never stops the class, and no grade goes missing."""

import json

import pytest

from conftest import REPO, gradebook_rows, lesson_ids, make_course_copy, run_course, submit


def _variant(lesson: str, tmp_path, name: str, make_source) -> str:
    """The solution notebook with its first answer cell replaced by make_source(old_source)."""
    nb = json.loads((REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            cell["source"] = make_source("".join(cell["source"]))
            break
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.skipif(not lesson_ids(), reason="no lessons yet")
def test_crash_and_infinite_loop_are_contained(tmp_path):
    lesson = lesson_ids()[0]
    root = make_course_copy(tmp_path / "course")
    run_course(root, "release", "--lesson", lesson)
    submit(root, "good", lesson, REPO / "solutions" / lesson / f"{lesson}.ipynb")
    submit(root, "crash", lesson,
           _variant(lesson, tmp_path, "crash", lambda src: src + "\nimport os\nos._exit(3)\n"))
    submit(root, "loop", lesson,
           _variant(lesson, tmp_path, "loop", lambda src: src + "\nwhile True:\n    pass\n"))
    proc = run_course(root, "grade", env_extra={"RNNCOURSE_CELL_TIMEOUT": "5"})
    log = proc.stdout
    rows = gradebook_rows(root)

    good = rows[("good", lesson)]
    assert all(g[2] == g[1] for g in good.values() if g[3] == "code"), log

    assert "crash/" in log and "NOT graded" in log, f"the crash is not reported:\n{log}"
    crash = rows.get(("crash", lesson))
    assert crash is not None, "the crashed submission vanished from the gradebook"
    assert all(not g[0] for g in crash.values()), f"a crashed submission scored: {crash}"

    assert "loop/" in log and "timeout" in log, f"the infinite loop is not reported:\n{log}"
    loop = rows[("loop", lesson)]
    # The looping cell is interrupted; the cells after it still run and score.
    assert sum(g[2] or 0 for g in loop.values() if g[3] == "code") > 0, log
