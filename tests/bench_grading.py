"""Time `course.py grade` against the floor, and JOBS=2 against JOBS=1 (`make bench`).

    python tests/bench_grading.py [N_SUBMISSIONS] [LESSON ...] [--json FILE]

For each lesson (default: all), N correct submissions (default 4) are graded with JOBS=1 and
then with JOBS=2, each in a fresh temporary copy of the course. The floor is the solution run
alone in grading mode (a kernel started, the lesson's imports, its cells and tests run in the
kernel), the median of two runs. Budget: grading costs at most 2 s per submission above the
floor; JOBS=2 at least 1.7 times as fast as JOBS=1, with the same gradebook.
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lessons import run as run_notebook  # noqa: E402
from conftest import REPO, gradebook_rows, lesson_ids, make_course_copy, run_course, submit  # noqa: E402


def bench_lesson(lesson: str, n: int, tmp: Path) -> dict:
    timings, books = {}, {}
    for jobs in (1, 2):
        root = make_course_copy(tmp / f"{lesson}-jobs{jobs}")
        run_course(root, "release", "--lesson", lesson)
        for i in range(n):
            submit(root, f"student{i:02d}", lesson, REPO / "solutions" / lesson / f"{lesson}.ipynb")
        start = time.perf_counter()
        run_course(root, "grade", "--jobs", str(jobs), timeout=3600)
        timings[jobs] = time.perf_counter() - start
        books[jobs] = gradebook_rows(root)
    floor = statistics.median(
        run_notebook(REPO / "solutions" / lesson / f"{lesson}.ipynb", grading=True)[0]
        for _ in range(2))
    per = timings[1] / n
    return {"lesson": lesson, "n": n, "floor_s": floor, "per_submission_s": per,
            "overhead_s": per - floor, "jobs1_s": timings[1], "jobs2_s": timings[2],
            "speedup": timings[1] / timings[2], "same_gradebook": books[1] == books[2]}


def main(argv):
    out_json = None
    if "--json" in argv:
        out_json = argv[argv.index("--json") + 1]
        argv = [a for a in argv if a not in ("--json", out_json)]
    n = int(argv[0]) if argv and argv[0].isdigit() else 4
    lessons = [a for a in argv if not a.isdigit()] or lesson_ids()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for lesson in lessons:
            rows.append(bench_lesson(lesson, n, Path(tmp)))
            r = rows[-1]
            print(f"{lesson}: floor {r['floor_s']:.1f} s, graded {r['per_submission_s']:.1f} s per "
                  f"submission (JOBS=1), speed-up JOBS=2 {r['speedup']:.2f}x", flush=True)
    print("\n| lesson | floor s | per submission s | overhead s (budget 2) | JOBS=2 speed-up "
          "(target 1.7) | same gradebook |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['lesson']} | {r['floor_s']:.1f} | {r['per_submission_s']:.1f} | "
              f"{r['overhead_s']:.1f} | {r['speedup']:.2f}x | {r['same_gradebook']} |")
    if out_json:
        Path(out_json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["same_gradebook"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
