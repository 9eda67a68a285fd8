"""Static checks of the repository: pins, notebooks without outputs, lessons without answers."""

import re

import pytest

from conftest import REPO, lesson_ids, load_nb

NOTEBOOKS = sorted(p for top in ("solutions", "lessons") for p in (REPO / top).glob("*/*.ipynb"))


def _pin(line: str, where: str) -> tuple[str, str]:
    """``(name, version and marker)`` of a requirement line pinned with ``==`` (``=`` in conda)."""
    m = re.match(r"([A-Za-z0-9_.\-]+)\s*==?\s*([0-9][^\s;#]*)\s*(;\s*(.*))?$", line)
    assert m, f"{where}: {line!r} is not pinned with =="
    marker = (m.group(4) or "").replace("'", '"').replace(" ", "")
    return m.group(1).lower() + (f"[{marker}]" if marker else ""), m.group(2)


def _pins_from_requirements() -> dict:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = _pin(line, "requirements.txt")
            pins[name] = version
    return pins


def _pins_from_environment() -> dict:
    pins = {}
    for line in (REPO / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.\-]+\s*==?\s*[0-9].*)$", line.split("#")[0].rstrip())
        if m and not m.group(1).startswith("python="):
            name, version = _pin(m.group(1), "environment.yml")
            pins[name] = version
    return pins


def test_environment_yml_matches_requirements():
    req, env = _pins_from_requirements(), _pins_from_environment()
    assert req["torch"] == "2.13.0" and req["nbgrader"] == "0.9.6"
    # the CPU build on Linux: make venv installs it first, from PyTorch's CPU index
    makefile = (REPO / "Makefile").read_text()
    assert "torch==2.13.0+cpu" in makefile and "download.pytorch.org/whl/cpu" in makefile
    assert env == req, ("environment.yml and requirements.txt pin different packages: "
                        f"only in requirements {sorted(set(req) - set(env))}, "
                        f"only in environment.yml {sorted(set(env) - set(req))}, "
                        f"different {sorted(k for k in set(req) & set(env) if req[k] != env[k])}")


def test_every_solution_has_a_lesson_and_back():
    sol = set(lesson_ids())
    les = {p.parent.name for p in (REPO / "lessons").glob("*/*.ipynb")}
    assert sol == les, f"solutions without lessons {sorted(sol - les)}, lessons without solutions {sorted(les - sol)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_are_stored_without_outputs(path):
    nb = load_nb(path)
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.relative_to(REPO)} has outputs in cells {dirty}: clear them before committing"


@pytest.mark.parametrize("lesson", lesson_ids())
def test_lessons_hold_no_solution_and_no_hidden_test(lesson):
    sol = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    les = load_nb(REPO / "lessons" / lesson / f"{lesson}.ipynb")
    text = "\n".join("".join(c["source"]) for c in les["cells"])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"lessons/{lesson} contains '{marker}': run `make release`"
    # No line of a solution body or hidden test survives into the lesson.
    secret, public = [], set()
    block_re = r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END[^\n]*"
    for cell in sol["cells"]:
        src = "".join(cell["source"])
        for block in re.findall(block_re, src, re.S):
            secret += [l.strip() for l in block.splitlines() if len(l.strip()) > 25]
        public |= {l.strip() for l in re.sub(block_re, "", src, flags=re.S).splitlines()}
    leaked = [l for l in secret if l not in public and l in text]
    assert not leaked, f"lessons/{lesson} contains solution or hidden-test lines: {leaked[:3]}"
    graded = [c for c in les["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert graded, f"lessons/{lesson} has no answer cell"


@pytest.mark.parametrize("lesson", lesson_ids())
def test_every_answer_cell_is_followed_by_a_test_cell_with_a_visible_assert(lesson):
    sol = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    cells = sol["cells"]
    for i, cell in enumerate(cells):
        meta = cell["metadata"].get("nbgrader", {})
        if not (meta.get("solution") and cell["cell_type"] == "code"):
            continue
        following = [c for c in cells[i + 1:]
                     if c["metadata"].get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]
        assert following, f"{lesson}: answer cell {meta['grade_id']} has no test cell after it"
    for cell in cells:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and cell["cell_type"] == "code":
            src = "".join(cell["source"])
            visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", src, flags=re.S)
            assert meta.get("points", 0) > 0, f"{lesson}: test cell {meta['grade_id']} has no points"
            assert re.search(r"\btests\.\w+\(", visible), \
                f"{lesson}: test cell {meta['grade_id']} calls no harness of rnnkit.testing " \
                f"outside its hidden block (a blank lesson must fail it)"


@pytest.mark.parametrize("lesson", lesson_ids())
def test_test_cells_are_short_and_use_only_the_learners_exercises(lesson):
    """A test cell reads as a few harness calls, and the only names of the notebook it uses are
    the exercises' (the grader binds every other free name to the learner's kernel)."""
    import ast
    from rnnkit.testing.remote import free_names
    sol = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    exercises = set()
    for cell in sol["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            tree = ast.parse("".join(cell["source"]))
            exercises |= {n.name for n in tree.body
                          if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for cell in sol["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
            src = "".join(cell["source"])
            others = free_names(src) - exercises
            assert not others, (f"{lesson}: test cell {meta['grade_id']} uses names of the "
                                f"notebook that are not exercises: {sorted(others)}; import them "
                                f"in the cell")
            visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", src, flags=re.S)
            lines = [l for l in visible.splitlines() if l.strip()]
            assert len(lines) <= 20, (f"{lesson}: the visible part of {meta['grade_id']} has "
                                      f"{len(lines)} lines; move the harness into rnnkit.testing")


def _points(lesson):
    nb = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    auto = written = 0
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            if cell["cell_type"] == "code":
                auto += meta.get("points", 0)
            else:
                written += meta.get("points", 0)
    return auto, written


@pytest.mark.parametrize("lesson", lesson_ids())
def test_readme_lesson_table_gives_the_points(lesson):
    readme = (REPO / "README.md").read_text()
    row = re.search(rf"^\|\s*`?{lesson}`?\s*\|[^|]*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", readme, re.M)
    assert row, f"README.md's lesson table has no row for {lesson}"
    auto, written = _points(lesson)
    assert (float(row.group(1)), float(row.group(2))) == (auto, written), \
        f"README.md gives {lesson} {row.group(1)} + {row.group(2)} points; the notebook has {auto} + {written}"
