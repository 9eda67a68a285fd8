"""nbgrader for a student's server on the course's JupyterHub (JUPYTER_CONFIG_PATH points here).

nbgrader's single-course setup: the exchange and the course id. Students fetch, submit and fetch
feedback from the Assignment List; they have no course directory and no gradebook.
"""
import os

c = get_config()  # noqa: F821

c.Exchange.root = os.environ.get("RNNCOURSE_EXCHANGE") or "/srv/nbgrader/exchange"
c.CourseDirectory.course_id = "rnn-course"

# Submissions readable by the instructors' group only, not by other students (rnn_exchange.py).
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
c.ExchangeFactory.submit = "rnn_exchange.GroupOnlySubmit"
