"""nbgrader's collect, refusing every submission that is not what it claims to be.

nbgrader's file-system exchange (nbgrader/exchange/default/collect.py) trusts the name of each
folder in ``inbound/``: ``<student>+<lesson>+<timestamp>+<random>``. On a shared machine any
student can write there, so nbgrader alone collects, as alice's newest work, a folder that bob
made with ``nbgrader submit --student=alice`` (it only warns "cheating attempt?"), a folder bob
named for carol with a timestamp in 2099 (which then beats her real submissions, and, with no
``timestamp.txt``, makes ``release_feedback`` fail for the class), or alice's folder renamed to bob.

Here collect first drops, with an ERROR line that says why, every inbound submission that

* is not a plain folder owned by the account of the student it names (uid of the folder and of
  everything in it; an unknown student name is refused too),
* holds anything but plain files and folders (a symbolic link, a device, a FIFO),
* has no ``timestamp.txt``, or one that differs from the timestamp in its name, or a timestamp
  more than ``GuardedCollect.max_clock_skew`` seconds in the future,
* is larger than ``GuardedCollect.max_submission_mb`` MiB,

and only then picks each student's newest submission as nbgrader does (before the due date with
``--before-duedate``). A refused folder stays in ``inbound/`` for the instructor to look at; the
student's real submissions are still collected. Everything else is nbgrader's collect unchanged.

Enabled for instructors by hub/jupyter/instructor/nbgrader_config.py
(``c.ExchangeFactory.collect``), so the command line and the formgrader's Collect button both
use it.
"""

from __future__ import annotations

import datetime
import glob
import os
import pwd
import stat

from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.utils import parse_utc
from traitlets import Float, Integer


class GuardedCollect(ExchangeCollect):
    max_submission_mb = Integer(
        50, help="The largest submission collected, in MiB (all its files together)."
    ).tag(config=True)
    max_clock_skew = Float(
        300.0, help="Seconds a submission's timestamp may lie in the future."
    ).tag(config=True)

    def refusal(self, path: str, username: str, name_ts) -> str | None:
        """Why the inbound submission at ``path`` must not be collected, or None."""
        try:
            uid = pwd.getpwnam(username).pw_uid
        except KeyError:
            return f"it names {username!r}, who has no account here"
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return "it is not a folder"
        size = 0
        for dirpath, dirnames, filenames in os.walk(path):
            for entry in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                est = os.lstat(entry)
                if est.st_uid != uid:
                    try:
                        owner = pwd.getpwuid(est.st_uid).pw_name
                    except KeyError:
                        owner = f"uid {est.st_uid}"
                    return (f"{os.path.relpath(entry, path) if entry != path else 'the folder'} "
                            f"belongs to {owner}, not to {username} (a submission in another's name)")
                if not (stat.S_ISDIR(est.st_mode) or stat.S_ISREG(est.st_mode)):
                    return f"{os.path.relpath(entry, path)} in it is not a plain file or folder"
                size += est.st_size if stat.S_ISREG(est.st_mode) else 0
        if size > self.max_submission_mb * 1024 * 1024:
            return (f"it is {size / 2**20:.1f} MiB, more than GuardedCollect.max_submission_mb = "
                    f"{self.max_submission_mb}")
        ts_file = os.path.join(path, "timestamp.txt")
        if not os.path.isfile(ts_file):
            return "it has no timestamp.txt (nbgrader submit writes one)"
        try:
            with open(ts_file) as f:
                file_ts = parse_utc(f.read().strip())
        except Exception:                                   # noqa: BLE001 (any unreadable stamp)
            return "its timestamp.txt is not a time"
        if file_ts != name_ts:
            return f"its timestamp.txt says {file_ts}, not the time in its name ({name_ts})"
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)   # as parse_utc
        if (name_ts - now).total_seconds() > self.max_clock_skew:
            return f"it is dated {name_ts}, in the future"
        return None

    def init_src(self):
        super().init_src()      # nbgrader's checks, paths and due date
        student_id = self.coursedir.student_id if self.coursedir.student_id else '*'
        pattern = os.path.join(self.inbound_path,
                               '{}+{}+*'.format(student_id, self.coursedir.assignment_id))
        records = []
        self.refused = []
        for path in glob.glob(pattern):
            try:
                rec = self._path_to_record(path)
                why = self.refusal(path, rec['username'], rec['timestamp'])
            except Exception as e:                          # noqa: BLE001 (a bad name or time)
                rec, why = {'username': '?'}, f"it cannot be read as a submission ({e})"
            if why:
                self.refused.append((os.path.basename(path), why))
                self.log.error("REFUSED %s: %s. Not collected; the student's own submissions "
                               "are (ask them to submit again if none is left). The folder "
                               "stays in %s.", os.path.basename(path), why, self.inbound_path)
            else:
                records.append(rec)
        # nbgrader's choice (collect.py), among the accepted submissions only
        if self.duedate is None or not self.before_duedate:
            self.src_records = [self._sort_by_timestamp(v)[0]
                                for v in groupby(records, lambda r: r['username']).values()]
        else:
            self.src_records = []
            for v in groupby(records, lambda r: r['username']).values():
                ordered = self._sort_by_timestamp(v)
                before = [r for r in ordered if r['timestamp'] <= self.duedate]
                self.src_records.append(before[0] if before else ordered[0])

    def copy_files(self):
        super().copy_files()
        if self.refused:
            self.log.error("%d inbound submission(s) refused (see REFUSED above)", len(self.refused))

