"""The course's grading commands, wrapped around nbgrader so that one bad submission never
stops the class and no grade goes missing silently.

    python autograder/course.py release  [--lesson L]        solutions/ -> lessons/ (+ gradebook)
    python autograder/course.py grade    [--lesson L] [--student S]
    python autograder/course.py feedback [--lesson L]
    python autograder/course.py export   [--to FILE]
    python autograder/course.py report

Submissions go in ``autograder/submitted/<student>/<lesson>/<lesson>.ipynb``. Each one is
autograded in its own ``nbgrader autograde`` process with a time limit; a submission whose
grading fails is logged with the reason, given 0 for what did not run, and the others go on.
The environment variable ``RNNCOURSE_ROOT`` selects another copy of the course (tests use it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("RNNCOURSE_ROOT") or HERE.parent).resolve()
AUTOGRADER = ROOT / "autograder"
SUBMITTED = AUTOGRADER / "submitted"
AUTOGRADED = AUTOGRADER / "autograded"
DB_URL = "sqlite:///" + str(AUTOGRADER / "gradebook.db")

# nbgrader's Gradebook runs `alembic` by name: put this Python's bin folder first on PATH.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

SUBMISSION_TIMEOUT = int(os.environ.get("RNNCOURSE_SUBMISSION_TIMEOUT", "600"))
"""Seconds one submission may take to autograde in total (cells have 60 s each)."""


def lessons() -> list[str]:
    """Lesson ids, from the source notebooks in ``solutions/``."""
    return sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def _env() -> dict:
    env = dict(os.environ)
    env["RNNCOURSE_ROOT"] = str(ROOT)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def nbgrader(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` from the autograder folder, capturing its log."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=AUTOGRADER, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{what} failed (exit {proc.returncode}); its log is above.")


def _pick(lesson: str | None) -> list[str]:
    known = lessons()
    if lesson is None:
        return known
    if lesson not in known:
        raise SystemExit(f"unknown lesson {lesson!r}; the lessons are: {', '.join(known)}")
    return [lesson]


def release(lesson: str | None = None) -> None:
    """Regenerate ``lessons/<L>/`` from ``solutions/<L>/`` and record the lesson in the gradebook."""
    for name in _pick(lesson):
        _check(nbgrader("generate_assignment", name, "--force", "--log-level=WARN"),
               f"nbgrader generate_assignment {name}")
        print(f"released {name} -> lessons/{name}/{name}.ipynb")


def _known_to_gradebook(lesson: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(DB_URL) as gb:
        try:
            gb.find_assignment(lesson)
            return True
        except MissingEntry:
            return False


def submissions(lesson: str | None = None, student: str | None = None) -> list[tuple[str, str]]:
    """``(student, lesson)`` pairs found under ``autograder/submitted/``."""
    found = []
    if not SUBMITTED.is_dir():
        return found
    wanted = set(_pick(lesson))
    for folder in sorted(SUBMITTED.glob("*/*")):
        s, l = folder.parent.name, folder.name
        if not folder.is_dir() or (student and s != student):
            continue
        if l not in wanted:
            print(f"skipping {folder.relative_to(ROOT)}: {l!r} is not a lesson "
                  f"(lessons: {', '.join(sorted(wanted))})")
            continue
        if not (folder / f"{l}.ipynb").exists():
            print(f"skipping {folder.relative_to(ROOT)}: it holds no {l}.ipynb")
            continue
        found.append((s, l))
    return found


def _flags(student: str, lesson: str) -> list[str]:
    """What the executed notebook shows: timeouts, a dead kernel, errors in test cells."""
    nb_path = AUTOGRADED / student / lesson / f"{lesson}.ipynb"
    if not nb_path.exists():
        return ["not graded"]
    flags = set()
    for cell in json.loads(nb_path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "CellTimeoutError":
                flags.add("timeout")
            elif out.get("ename") in ("DeadKernelError", "DeadKernel"):
                flags.add("crash")
    return sorted(flags)


def grade_one(student: str, lesson: str) -> tuple[bool, str]:
    """Autograde one submission; return (ok, a log line)."""
    start = time.monotonic()
    try:
        proc = nbgrader("autograde", lesson, "--student", student, "--force",
                        "--log-level=WARN", timeout=SUBMISSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, (f"{student}/{lesson}: grading stopped after {SUBMISSION_TIMEOUT} s "
                       f"(the notebook never finished); scored 0 for what did not run")
    took = time.monotonic() - start
    log = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "[AutogradeApp | ERROR]" in log:
        reason = next((line for line in log.splitlines() if "ERROR" in line),
                      log.splitlines()[-1] if log else f"exit {proc.returncode}")
        flags = _flags(student, lesson)
        if "not graded" in flags:
            return False, (f"{student}/{lesson}: NOT graded ({reason.strip()}); "
                           f"every test scores 0 until it is regraded")
        return False, (f"{student}/{lesson}: graded in {took:.1f} s, but the notebook did not run "
                       f"cleanly ({reason.strip()}); what did not run scores 0 [{', '.join(flags)}]")
    flags = _flags(student, lesson)
    note = f" ({', '.join(flags)})" if flags else ""
    return True, f"{student}/{lesson}: graded in {took:.1f} s{note}"


def grade(lesson: str | None = None, student: str | None = None) -> int:
    """Autograde every submission; print a line for each and the report table."""
    todo = submissions(lesson, student)
    if not todo:
        print(f"nothing to grade: put notebooks in {SUBMITTED.relative_to(ROOT)}/<student>/<lesson>/")
        return 0
    for name in sorted({l for _, l in todo}):
        if not _known_to_gradebook(name):
            release(name)
    failed = 0
    for s, l in todo:
        ok, line = grade_one(s, l)
        failed += not ok
        print(("  " if ok else "! ") + line, flush=True)
    print()
    report()
    if failed:
        print(f"\n{failed} submission(s) could not be graded completely: see the lines marked '!'.")
    return failed


def scores() -> list[dict]:
    """One row per submission in the gradebook: points per graded cell, totals, flags."""
    from nbgrader.api import Gradebook
    rows = []
    with Gradebook(DB_URL) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    cells = {g.name: (g.score, g.max_score, g.needs_manual_grade)
                             for g in nb.grades}
                    rows.append({
                        "student": sub.student_id, "lesson": assignment.name,
                        "cells": cells,
                        "auto": nb.code_score, "auto_max": nb.max_code_score,
                        "written": nb.written_score, "written_max": nb.max_written_score,
                        "needs_manual": nb.needs_manual_grade,
                        "flags": _flags(sub.student_id, assignment.name),
                    })
    return sorted(rows, key=lambda r: (r["lesson"], r["student"]))


def report() -> None:
    """Print student, lesson, points per exercise, totals and flags."""
    rows = scores()
    if not rows:
        print("the gradebook holds no graded submission yet")
        return
    for lesson in sorted({r["lesson"] for r in rows}):
        print(f"== {lesson}")
        for r in (r for r in rows if r["lesson"] == lesson):
            parts = [f"{name}={score:g}/{mx:g}" + ("?" if manual else "")
                     for name, (score, mx, manual) in r["cells"].items()]
            written = (f"written {r['written']:g}/{r['written_max']:g}"
                       + (" (to hand-grade)" if r["needs_manual"] else ""))
            flags = f"  [{', '.join(r['flags'])}]" if r["flags"] else ""
            print(f"  {r['student']:<16} auto {r['auto']:g}/{r['auto_max']:g}  {written}{flags}")
            print(f"      {'  '.join(parts)}")


def feedback(lesson: str | None = None) -> None:
    for name in _pick(lesson):
        if not any(l == name for _, l in submissions(name)):
            continue
        _check(nbgrader("generate_feedback", name, "--force", "--log-level=WARN"),
               f"nbgrader generate_feedback {name}")
        print(f"feedback for {name} in autograder/feedback/<student>/{name}/")


def export(to: str) -> None:
    target = Path(to)
    if not target.is_absolute():
        target = Path.cwd() / target
    _check(nbgrader("export", "--to", str(target), "--log-level=WARN"), "nbgrader export")
    print(f"grades written to {target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["release", "grade", "feedback", "export", "report"])
    parser.add_argument("--lesson", help="one lesson id, e.g. 01_rnn (default: all)")
    parser.add_argument("--student", help="one student id (grade only)")
    parser.add_argument("--to", default=str(AUTOGRADER / "grades.csv"), help="export: CSV path")
    args = parser.parse_args(argv)
    if args.command == "release":
        release(args.lesson)
    elif args.command == "grade":
        grade(args.lesson, args.student)   # failures are printed; export still runs after
    elif args.command == "feedback":
        feedback(args.lesson)
    elif args.command == "export":
        export(args.to)
    else:
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
