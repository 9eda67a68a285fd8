"""nbgrader for an instructor's server on the course's JupyterHub.

JUPYTER_CONFIG_PATH is this folder, then the course's autograder/ (whose nbgrader_config.py
holds the course id "rnn-course", the course root and the grading setup). This file adds:

* the exchange, so that release_assignment, collect and release_feedback (command line or
  formgrader) use the hub's shared exchange;
* ``groupshared``: the instructors share the course and the exchange's course folders through
  the group rnn-instructors (hub/setup_hub.sh makes them), so a second instructor collects,
  grades and returns what the first released;
* collect refuses every inbound submission that is not the named student's own
  (rnn_collect.py: owner, timestamp, size), instead of nbgrader's warning.
"""
import os
import sys

c = get_config()  # noqa: F821

c.Exchange.root = os.environ.get("RNNCOURSE_EXCHANGE") or "/srv/nbgrader/exchange"
c.CourseDirectory.groupshared = True
# The formgrader's Manage Assignments page would show the loaded config ("debug", nbgrader's
# default), which is not JSON here (the collect class below) and logs "Formgrader config is not
# serializable" at every visit.
c.FormgradeExtension.debug = False
# Grading runs student code: only `make grade` (course.py, in its sandbox) may. The formgrader's
# Autograde button and `nbgrader autograde` load this file and are refused (isolated_execute.py);
# course.py's grading workers read only autograder/nbgrader_config.py and set the sandbox up.
c.IsolatedExecute.require_sandbox = True

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
c.ExchangeFactory.collect = "rnn_collect.GuardedCollect"
