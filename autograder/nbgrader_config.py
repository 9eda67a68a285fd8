"""nbgrader configuration for the course. Run nbgrader from this folder (the Makefile does).

The course root is the repository: nbgrader reads the source notebooks from ``solutions/``,
writes the student versions to ``lessons/``, and keeps every runtime folder (submitted/,
autograded/, feedback/, gradebook.db) here in ``autograder/``, where git ignores them.
Setting the environment variable ``RNNCOURSE_ROOT`` points it at another copy of the course
(the tests grade in a temporary copy so they never touch your gradebook).
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

root = os.environ.get("RNNCOURSE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
here = os.path.join(root, "autograder")

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.root = root
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.submitted_directory = os.path.join("autograder", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("autograder", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("autograder", "feedback")
# autograder/gradebook.db, where parallel graders wait up to 120 s for SQLite's write lock instead
# of failing; or RNNCOURSE_DB_URL (make ... DB_URL=postgresql://...), a gradebook that graders on
# several machines share (gradebook_db.py).
sys.path.insert(0, here if os.path.isdir(here) else os.path.dirname(os.path.abspath(__file__)))
from gradebook_db import url as gradebook_url  # noqa: E402

c.CourseDirectory.db_url = gradebook_url(Path(here))
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# `make lab-instructor` on one machine: an exchange in autograder/exchange/, so that the
# formgrader finds one (its Release and Collect buttons work, and it shows no "exchange does not
# exist" warning). A class hub sets its own exchange (hub/jupyter/*/nbgrader_config.py).
if os.environ.get("RNNCOURSE_LOCAL_EXCHANGE"):
    c.Exchange.root = os.environ["RNNCOURSE_LOCAL_EXCHANGE"]

# What the learner sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: one cell may run at most 60 s (RNNCOURSE_CELL_TIMEOUT overrides it); a cell that
# errors or times out does not stop the others.
c.Execute.timeout = int(os.environ.get("RNNCOURSE_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True

# Student notebooks are always graded against the test cells stored in the gradebook.
c.OverwriteCells.enabled = True

# Restore deleted test cells too (edited ones are always restored from the gradebook).
c.OverwriteCells.add_missing_cells = True

# Autograde with test cells run outside the learner's kernel, kernel-death containment, a
# whole-notebook limit and an output limit in bytes (isolated_execute.py), and strip hidden
# tests from what students get back.
from isolated_execute import DropDuplicateIds, HideHiddenTests, IsolatedExecute  # noqa: E402
from sanitize import SanitizeLearnerCells  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,  # noqa: E402
                                    IgnorePattern, LimitOutput, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

# A pasted copy of an answer cell is graded as an ordinary cell, not a reason to skip the notebook.
c.Autograde.sanitize_preprocessors = [ClearOutput, DropDuplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadata]

c.Autograde.autograde_preprocessors = [
    IsolatedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, HideHiddenTests, SanitizeLearnerCells, CheckCellMetadata,
]
c.IsolatedExecute.timeout = c.Execute.timeout
c.IsolatedExecute.interrupt_on_timeout = True
# The kernel's state is thrown away after grading: kill it (and its sandbox) at once instead of
# waiting for a polite shutdown.
c.IsolatedExecute.shutdown_kernel = "immediate"
c.IsolatedExecute.max_output_bytes = int(os.environ.get("RNNCOURSE_OUTPUT_BYTES", "1000000"))
c.IsolatedExecute.grader_memory_mb = int(os.environ.get("RNNCOURSE_GRADER_MEMORY_MB", "4096"))
c.IsolatedExecute.notebook_timeout = int(os.environ.get("RNNCOURSE_NOTEBOOK_TIMEOUT", "900"))

# No student HTML or JavaScript runs in the instructor's or another learner's browser
# (sanitize.py): the autograded notebook keeps only inert outputs and escaped learner Markdown,
# and every HTML page made from a graded notebook (the feedback of `course.py feedback`, the
# formgrader's view of a submission) sanitises it again, with nbconvert's own HTML sanitising on.
c.SanitizeLearnerCells.release_directory = os.path.join(root, "lessons")
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.preprocessors = [SanitizeLearnerCells]
