"""Time `course.py grade` against the floor, and JOBS=2 against JOBS=1 (`make bench`).

    python tests/bench_grading.py [N] [LESSON ...] [--floors LESSONS_JSON] [--json FILE]

Each grading run works in a fresh temporary copy of the course, on correct submissions (the
solution notebooks):

1. JOBS=1: N submissions of every lesson (default 2), plus one warm-up submission of the first
   lesson, graded first and left out of the per-lesson times (it pays for starting the worker);
2. JOBS=2: one submission of every lesson, a class of its own; its gradebook must equal the
   JOBS=1 run's rows for the same submissions.

* **Per submission**: the median of the "graded in X s" lines of a lesson's submissions with
  JOBS=1 (sandbox, grader process and gradebook included, as an instructor's class is graded).
* **Floor**: the solution run alone in grading mode (a kernel started, the lesson's imports, its
  cells and tests run in the kernel), the median of two runs; read from ``bench_lessons.py``'s
  JSON (``--floors``, measured earlier in the same ``make bench``) or measured here.
* **Overhead** = per submission - floor; budget 2 s (COURSE.md).
* **Fixed cost** of a grading run = its wall time - the sum of its submissions' times (starting
  ``course.py``, its workers, the gradebook check, the report).
* **JOBS=2 speed-up** = the time JOBS=1 takes for the JOBS=2 class / JOBS=2's wall time; on 2
  cores at most 2. JOBS=1 grades one submission after another, so its time for that class is
  read from run 1: its fixed cost, the warm-up (a submission of the first lesson with the
  worker's start, as the first submission of a run has) and one submission of every other lesson.
"""

import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lessons import run as run_notebook  # noqa: E402
from conftest import REPO, gradebook_rows, lesson_ids, make_course_copy, run_course, submit  # noqa: E402

WARMUP = "0-warmup"                     # sorts first: course.py grades in folder order
LINE = re.compile(r"^\s+(\S+)/(\S+): graded in ([0-9.]+) s", re.M)
BUDGET_S = 2.0


def grade_class(root: Path, lessons: list[str], n: int, jobs: int,
                warmup: bool) -> tuple[float, dict]:
    """Release, submit and grade; return (wall seconds, {(student, lesson): seconds})."""
    for lesson in lessons:
        run_course(root, "release", "--lesson", lesson)
    solution = {l: REPO / "solutions" / l / f"{l}.ipynb" for l in lessons}
    if warmup:
        submit(root, WARMUP, lessons[0], solution[lessons[0]])
    for lesson in lessons:
        for i in range(n):
            submit(root, f"s{i:02d}", lesson, solution[lesson])
    start = time.perf_counter()
    proc = run_course(root, "grade", "--jobs", str(jobs), timeout=3600)
    wall = time.perf_counter() - start
    took = {(s, l): float(t) for s, l, t in LINE.findall(proc.stdout)}
    expected = n * len(lessons) + warmup
    if len(took) != expected:
        raise SystemExit(f"expected {expected} 'graded in' lines from course.py, found "
                         f"{len(took)}:\n{proc.stdout}")
    return wall, took


def main(argv):
    out_json = floors_json = None
    for flag in ("--json", "--floors"):
        if flag in argv:
            value = argv[argv.index(flag) + 1]
            argv = [a for a in argv if a not in (flag, value)]
            if flag == "--json":
                out_json = value
            else:
                floors_json = value
    n = int(argv[0]) if argv and argv[0].isdigit() else 2
    lessons = [a for a in argv if not a.isdigit()] or lesson_ids()

    floors = {}
    if floors_json and Path(floors_json).exists():
        for row in json.loads(Path(floors_json).read_text())["lessons"]:
            floors[row["lesson"]] = row["grading_s"]
    for lesson in lessons:
        if lesson not in floors:
            path = REPO / "solutions" / lesson / f"{lesson}.ipynb"
            floors[lesson] = statistics.median(run_notebook(path, grading=True)[0]
                                               for _ in range(2))

    walls, tooks, books = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for jobs, count, warmup in ((1, n, True), (2, 1, False)):
            root = make_course_copy(Path(tmp) / f"jobs{jobs}")
            walls[jobs], tooks[jobs] = grade_class(root, lessons, count, jobs, warmup)
            books[jobs] = gradebook_rows(root)
            print(f"JOBS={jobs}: {len(tooks[jobs])} submissions in {walls[jobs]:.1f} s",
                  flush=True)

    rows = []
    for lesson in lessons:
        times = [t for (s, l), t in tooks[1].items() if l == lesson and s != WARMUP]
        per = statistics.median(times)
        rows.append({"lesson": lesson, "n": len(times), "floor_s": floors[lesson],
                     "per_submission_s": per, "times_s": sorted(times),
                     "overhead_s": per - floors[lesson],
                     "budget_met": per - floors[lesson] <= BUDGET_S})
    fixed = walls[1] - sum(tooks[1].values())
    warm = tooks[1][(WARMUP, lessons[0])]
    jobs1_class = fixed + warm + sum(tooks[1][("s00", l)] for l in lessons[1:])
    summary = {
        "submissions": len(tooks[1]), "jobs1_wall_s": walls[1], "jobs1_fixed_s": fixed,
        "warmup_s": warm, "jobs2_submissions": len(tooks[2]), "jobs2_wall_s": walls[2],
        "jobs1_same_class_s": jobs1_class, "speedup": jobs1_class / walls[2],
        "same_gradebook": all(books[2][key] == books[1].get(key) for key in books[2]),
    }

    print(f"\n| lesson | floor s | per submission s (median of {n}, JOBS=1) | overhead s "
          f"(budget {BUDGET_S:g}) |")
    print("|---|---|---|---|")
    for r in rows:
        verdict = "met" if r["budget_met"] else "NOT met"
        print(f"| {r['lesson']} | {r['floor_s']:.1f} | {r['per_submission_s']:.1f} | "
              f"{r['overhead_s']:.1f}: {verdict} |")
    print(f"\nJOBS=1: {summary['submissions']} submissions in {walls[1]:.1f} s (fixed cost "
          f"{fixed:.1f} s, the warm-up with the worker's start {warm:.1f} s). A class of one "
          f"submission per lesson: JOBS=1 {jobs1_class:.1f} s, JOBS=2 {walls[2]:.1f} s, "
          f"speed-up {summary['speedup']:.2f}x (at most 2 on 2 cores); same gradebook: "
          f"{summary['same_gradebook']}")
    if out_json:
        Path(out_json).write_text(json.dumps({"lessons": rows, "class": summary}, indent=1))
    return 0 if summary["same_gradebook"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
