"""A student's submission that only the course's instructors can open.

nbgrader's own submit (nbgrader/exchange/default/submit.py) leaves a submission in the exchange's
inbound folder world-readable (folder 0777, files 0444) and hides it by its name alone: the
inbound folder cannot be listed (2733) and each submission's name ends with a random string.
Here the file system refuses it too: after nbgrader's submit, the submission's folders become
0770. Their group is the inbound folder's (set-group-ID: the instructor's group, given when
they are created), so `nbgrader collect` as an instructor still reads them and may delete them;
another student cannot even enter them, whatever they know of the name. The files keep
nbgrader's modes. Everything else is nbgrader's submit unchanged.
"""

import os

from nbgrader.exchange.default.submit import ExchangeSubmit


class GroupOnlySubmit(ExchangeSubmit):
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
