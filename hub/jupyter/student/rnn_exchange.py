"""A student's submission that only the course's instructors can open.

nbgrader's own submit (nbgrader/exchange/default/submit.py) leaves a submission in the exchange's
inbound folder world-readable (folder 0777, files 0444) and hides it by its name alone: the
inbound folder cannot be listed (2733) and each submission's name ends with a random string.
Here the file system refuses it too: after nbgrader's submit, the submission's folders become
0770. Their group is the inbound folder's (set-group-ID: the instructor's group, given when
they are created), so `nbgrader collect` as an instructor still reads them and may delete them;
another student cannot even enter them, whatever they know of the name. The files keep
nbgrader's modes.

nbgrader's check of the submitted notebooks against the released ones counts JupyterLab's
``.ipynb_checkpoints/`` copies (which are not submitted: ``CourseDirectory.ignore``) and warns
that each is an EXTRA notebook: here the check leaves out what is not submitted. Everything else
is nbgrader's submit unchanged.
"""

import fnmatch
import os

from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import find_all_notebooks


class GroupOnlySubmit(ExchangeSubmit):
    def _submitted_notebooks(self, path):
        return [nb for nb in find_all_notebooks(path)
                if not any(fnmatch.fnmatch(part, glob) for part in nb.split(os.sep)
                           for glob in self.coursedir.ignore)]

    def check_filename_diff(self):
        released = find_all_notebooks(self.release_path)
        submitted = self._submitted_notebooks(self.src_path)
        missing = [nb for nb in released if nb not in submitted]
        extra = [nb for nb in submitted if nb not in released]
        if not (missing or extra):
            return
        msg = ("Expected:\n\t{}\nSubmitted:\n\t{}".format(
            "\n\t".join(f"{nb}: {'MISSING' if nb in missing else 'FOUND'}" for nb in released),
            "\n\t".join(f"{nb}: {'EXTRA' if nb in extra else 'OK'}" for nb in submitted)))
        if missing and self.strict:
            self.fail("Assignment {} not submitted. There are missing notebooks for the "
                      "submission:\n{}".format(self.coursedir.assignment_id, msg))
        self.log.warning("Possible missing notebooks and/or extra notebooks submitted for "
                         "assignment {}:\n{}".format(self.coursedir.assignment_id, msg))

    def copy_files(self):
        super().copy_files()
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        group = os.stat(self.inbound_path).st_gid
        dirs = [dest] + [os.path.join(p, d) for p, ds, _ in os.walk(dest) for d in ds]
        if all(os.stat(d).st_gid == group for d in dirs):
            for d in dirs:
                os.chmod(d, 0o770)
        else:                       # not the instructors' group: keep nbgrader's permissions
            self.log.warning("submission %s is not in the inbound folder's group; "
                             "left with nbgrader's permissions", dest)
