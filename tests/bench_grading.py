"""Time `course.py grade` of a class with JOBS=1 and JOBS=2 and compare the gradebooks.

    python tests/bench_grading.py [N_SUBMISSIONS] [LESSON]

Grades N submissions (default 20) of a lesson (default 01_rnn), half solutions and half blank
lessons, once serially and once two at a time, each in a fresh temporary copy of the course.
Target: JOBS=2 at least 1.7 times as fast as JOBS=1, with the same gradebook.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lessons import run as run_notebook  # noqa: E402
from conftest import REPO, gradebook_rows, make_course_copy, run_course, submit  # noqa: E402


def main(argv):
    n = int(argv[0]) if argv else 20
    lesson = argv[1] if len(argv) > 1 else "01_rnn"
    timings, books = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for jobs in (1, 2):
            root = make_course_copy(Path(tmp) / f"jobs{jobs}")
            run_course(root, "release", "--lesson", lesson)
            for i in range(n):
                src = (REPO / "solutions" / lesson / f"{lesson}.ipynb" if i % 2 == 0
                       else root / "lessons" / lesson / f"{lesson}.ipynb")
                submit(root, f"student{i:02d}", lesson, src)
            start = time.perf_counter()
            run_course(root, "grade", "--jobs", str(jobs), timeout=3600)
            timings[jobs] = time.perf_counter() - start
            books[jobs] = gradebook_rows(root)
            print(f"JOBS={jobs}: {n} submissions of {lesson} in {timings[jobs]:.1f} s "
                  f"({timings[jobs] / n:.2f} s each)", flush=True)
    plain, _ = run_notebook(REPO / "solutions" / lesson / f"{lesson}.ipynb", grading=True)
    print(f"the solution alone in grading mode (kernel start, imports, tests): {plain:.1f} s; "
          f"grading overhead per submission at JOBS=1: {timings[1] / n - plain:.1f} s "
          f"(budget 2 s; it averages solutions and blank lessons)")
    speedup = timings[1] / timings[2]
    same = books[1] == books[2]
    print(f"speed-up JOBS=2 over JOBS=1: {speedup:.2f}x (target 1.7x); "
          f"gradebooks {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
