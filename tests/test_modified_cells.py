"""The grading report's `modified cells` flag: a submission that changed a locked code cell (a
test) is flagged; one whose locked Markdown differs from the release (an older copy kept
across a course update that reworded the prose) is not."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LESSON = "01_rnn"


@pytest.fixture()
def course(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "autograder"))
    try:
        import course
    finally:
        sys.path.pop(0)
    (tmp_path / "lessons" / LESSON).mkdir(parents=True)
    released = tmp_path / "lessons" / LESSON / f"{LESSON}.ipynb"
    released.write_text((REPO / "lessons" / LESSON / f"{LESSON}.ipynb").read_text())
    monkeypatch.setattr(course, "ROOT", tmp_path)
    monkeypatch.setattr(course, "SUBMITTED", tmp_path / "submitted")
    return course, json.loads(released.read_text())


def _submit(course, nb, student):
    path = course.SUBMITTED / student / LESSON / f"{LESSON}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))


def _locked(nb, cell_type):
    return next(c for c in nb["cells"] if c["cell_type"] == cell_type
                and c["metadata"].get("nbgrader", {}).get("locked")
                and not c["metadata"]["nbgrader"].get("solution"))


def test_unchanged_copy_is_not_flagged(course):
    mod, nb = course
    _submit(mod, nb, "same")
    assert not mod._modified_cells("same", LESSON)


def test_reworded_markdown_is_not_flagged(course):
    mod, nb = course
    _locked(nb, "markdown")["source"] = "An older wording of this paragraph."
    _submit(mod, nb, "older_copy")
    assert not mod._modified_cells("older_copy", LESSON)


def test_edited_or_deleted_locked_code_is_flagged(course):
    mod, nb = course
    edited = json.loads(json.dumps(nb))
    _locked(edited, "code")["source"] = "pass"
    _submit(mod, edited, "edited")
    assert mod._modified_cells("edited", LESSON)
    deleted = json.loads(json.dumps(nb))
    deleted["cells"].remove(_locked(deleted, "code"))
    _submit(mod, deleted, "deleted")
    assert mod._modified_cells("deleted", LESSON)
