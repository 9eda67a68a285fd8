"""Grades out of the gradebook: one row per student and lesson, and one row per student for an LMS.

``course.py export`` writes both (``make export``, ``LESSON=`` to narrow):

* ``grades.csv``, one row per student and lesson, in nbgrader's columns (assignment, duedate,
  timestamp, student_id, last_name, first_name, email, raw_score, late_submission_penalty,
  score, max_score) plus ``status``: ``graded``, ``needs manual grading`` (a written answer or a
  flagged cell still waits for the formgrader), ``not graded`` (its grading did not finish: 0
  until it is regraded), or ``not submitted``. A lesson that was not
  submitted has an empty score, so it never reads as a 0 that was earned.
* ``grades-lms.csv``, one row per student and one column per lesson, the layout Canvas and Moodle
  import: ``Student`` (last, first), ``ID`` and ``SIS Login ID`` (the nbgrader student id, which
  is the hub's user name), ``Email``, then ``<lesson> (<max> pts)`` per lesson. Its second row,
  ``Points Possible``, gives each lesson's maximum (Canvas reads it). Moodle's CSV import stops
  at the first row whose user it cannot find and cannot skip a row: it takes the file without
  that row (``sed 2d``), with ``ID`` mapped to the username. An empty cell is a lesson not
  submitted (Moodle imports it as no grade).
"""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
           "raw_score", "late_submission_penalty", "score", "max_score", "status"]


def _number(x) -> str:
    return "" if x is None else f"{float(x):g}"


def rows(db_url: str, lessons: list[str] | None = None, graded=lambda student, lesson: True
         ) -> list[dict]:
    """One dict per (lesson, student) of the gradebook, lessons in ``lessons`` only if given;
    ``graded(student, lesson)`` says whether a submission's grading finished (else its status is
    ``not graded``: it scores 0 until it is regraded)."""
    from nbgrader.api import Gradebook, MissingEntry
    out = []
    with Gradebook(db_url) as gb:
        known = {a.name for a in gb.assignments}
        unknown = sorted(set(lessons or []) - known)
        if unknown:
            raise SystemExit(f"the gradebook has no lesson {', '.join(unknown)} (it has: "
                             f"{', '.join(sorted(known)) or 'none yet: run make release'})")
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            if lessons and assignment.name not in lessons:
                continue
            for student in sorted(gb.students, key=lambda s: s.id):
                row = {"assignment": assignment.name, "duedate": assignment.duedate or "",
                       "student_id": student.id, "last_name": student.last_name or "",
                       "first_name": student.first_name or "", "email": student.email or "",
                       "max_score": _number(assignment.max_score)}
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.update(timestamp="", raw_score="", late_submission_penalty="", score="",
                               status="not submitted")
                else:
                    penalty = sub.late_submission_penalty or 0.0
                    row.update(timestamp=sub.timestamp or "", raw_score=_number(sub.score),
                               late_submission_penalty=_number(penalty),
                               score=_number(max(0.0, sub.score - penalty)),
                               status="not graded" if not graded(student.id, assignment.name)
                               else "needs manual grading" if sub.needs_manual_grade
                               else "graded")
                out.append(row)
    return out


def write(db_url: str, to: Path, lms_to: Path, lessons: list[str] | None = None,
          graded=lambda student, lesson: True) -> list[dict]:
    """Write ``to`` (long) and ``lms_to`` (one row per student); return the rows."""
    table = rows(db_url, lessons, graded)
    with open(to, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    names = sorted({r["assignment"] for r in table})
    maxima = {r["assignment"]: r["max_score"] for r in table}
    heads = {n: f"{n} ({maxima[n]} pts)" for n in names}
    students: dict[str, dict] = {}
    for r in table:
        st = students.setdefault(r["student_id"], {
            "Student": ", ".join(x for x in (r["last_name"], r["first_name"]) if x) or r["student_id"],
            "ID": r["student_id"], "SIS Login ID": r["student_id"], "Email": r["email"]})
        st[heads[r["assignment"]]] = r["score"]
    with open(lms_to, "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["Student", "ID", "SIS Login ID", "Email",
                                     *(heads[n] for n in names)])
        writer.writeheader()
        writer.writerow({"Student": "Points Possible", **{heads[n]: maxima[n] for n in names}})
        writer.writerows(students[s] for s in sorted(students))
    return table
