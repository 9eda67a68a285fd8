"""Time every solution notebook in learner mode and in grading mode (`make bench`).

    python tests/bench_lessons.py [LESSON ...] [--json FILE]

Learner mode: the notebook executed top to bottom as a learner would (no NBGRADER_EXECUTION),
budget 3 minutes per lesson and 10 for the course. Grading mode: NBGRADER_EXECUTION=autograde,
as nbgrader sets it, and one thread (OMP_NUM_THREADS=1, as course.py runs every graded kernel),
budget 30 seconds per lesson, the median of two runs (the same runs are the floor of
``bench_grading.py``: a kernel started, the lesson's imports, its tests run). Times include
starting the kernel. Each run also records the CPU seconds its kernel used (its process's own,
read when it has exited): in grading mode, the least CPU a grader can spend on a correct
submission of the lesson, whatever the grading machinery around it costs.

The kernels get ``tests/headless`` first on their path: it hides ipywidgets, so a slider cell
takes its static fallback instead of risking nbclient's hang on widget cells (see
``tests/headless/ipywidgets/__init__.py``).
"""

import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
HEADLESS = REPO / "tests" / "headless"
LEARNER_BUDGET, GRADING_BUDGET, COURSE_BUDGET = 180.0, 30.0, 600.0


def run(path: Path, grading: bool) -> tuple[float, list[str], float]:
    """Execute a copy of the notebook; return (seconds, error lines, the kernel's CPU seconds)."""
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}   # the kernel's
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HEADLESS), env.get("PYTHONPATH")]))
    if grading:
        env.update(NBGRADER_EXECUTION="autograde", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        # The lesson's folder, as a learner has it (lesson 05 reads results.json beside it).
        shutil.copytree(path.parent, tmp, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                shutdown_kernel="immediate",
                                resources={"metadata": {"path": tmp}})
        cpu_before = children_cpu()
        start = time.perf_counter()
        client.execute(env=env)                   # the kernel is shut down and reaped after it
        took = time.perf_counter() - start
        cpu = children_cpu() - cpu_before
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
              for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    return took, errors, cpu


def children_cpu() -> float:
    """User + system CPU seconds of this process's exited and reaped children (the kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    out_json = None
    if "--json" in argv:
        out_json = argv[argv.index("--json") + 1]
        argv = [a for a in argv if a not in ("--json", out_json)]
    lessons = argv or sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb"))
    total, over, rows = 0.0, [], []
    print(f"{'lesson':<28}{'learner mode':>14}{'grading mode':>14}{'its CPU':>14}")
    for lesson in lessons:
        path = REPO / "solutions" / lesson / f"{lesson}.ipynb"
        learner, err1, _ = run(path, grading=False)
        runs = [run(path, grading=True) for _ in range(2)]
        grading = statistics.median(t for t, _, _ in runs)
        grading_cpu = statistics.median(c for _, _, c in runs)
        err2 = [e for _, errs, _ in runs for e in errs]
        total += learner
        rows.append({"lesson": lesson, "learner_s": learner, "grading_s": grading,
                     "grading_runs_s": [t for t, _, _ in runs], "grading_cpu_s": grading_cpu,
                     "errors": err1 + err2})
        print(f"{lesson:<28}{learner:>12.1f} s{grading:>12.1f} s{grading_cpu:>12.1f} s",
              flush=True)
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
    if out_json:
        Path(out_json).write_text(json.dumps({"lessons": rows, "course_learner_s": total,
                                              "over_budget": over}, indent=1))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
