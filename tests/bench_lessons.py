"""Time every solution notebook in learner mode and in grading mode (`make bench`).

    python tests/bench_lessons.py [LESSON ...]

Learner mode: the notebook executed top to bottom as a learner would (no NBGRADER_EXECUTION),
budget 3 minutes per lesson and 10 for the course. Grading mode: NBGRADER_EXECUTION=autograde,
as nbgrader sets it, budget 30 seconds per lesson. Times include starting the kernel.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
LEARNER_BUDGET, GRADING_BUDGET, COURSE_BUDGET = 180.0, 30.0, 600.0


def run(path: Path, grading: bool) -> tuple[float, list[str]]:
    """Execute a copy of the notebook; return (seconds, error lines)."""
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("NBGRADER_EXECUTION")
    if grading:
        os.environ["NBGRADER_EXECUTION"] = "autograde"
    else:
        os.environ.pop("NBGRADER_EXECUTION", None)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, tmp)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                shutdown_kernel="immediate",
                                resources={"metadata": {"path": tmp}})
        start = time.perf_counter()
        client.execute()
        took = time.perf_counter() - start
    if env_before is None:
        os.environ.pop("NBGRADER_EXECUTION", None)
    else:
        os.environ["NBGRADER_EXECUTION"] = env_before
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
              for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    return took, errors


def main(argv: list[str]) -> int:
    lessons = argv or sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb"))
    total, over = 0.0, []
    print(f"{'lesson':<28}{'learner mode':>14}{'grading mode':>14}")
    for lesson in lessons:
        path = REPO / "solutions" / lesson / f"{lesson}.ipynb"
        learner, err1 = run(path, grading=False)
        grading, err2 = run(path, grading=True)
        total += learner
        print(f"{lesson:<28}{learner:>12.1f} s{grading:>12.1f} s", flush=True)
        for e in err1 + err2:
            print(f"    error: {e}")
        if learner > LEARNER_BUDGET:
            over.append(f"{lesson} learner mode {learner:.0f} s > {LEARNER_BUDGET:.0f} s")
        if grading > GRADING_BUDGET:
            over.append(f"{lesson} grading mode {grading:.0f} s > {GRADING_BUDGET:.0f} s")
        if err1 or err2:
            over.append(f"{lesson} raised errors")
    print(f"{'course, learner mode':<28}{total:>12.1f} s")
    if total > COURSE_BUDGET:
        over.append(f"the course takes {total:.0f} s > {COURSE_BUDGET:.0f} s in learner mode")
    for line in over:
        print(f"OVER BUDGET: {line}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
