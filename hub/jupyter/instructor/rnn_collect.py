"""nbgrader's collect, refusing every submission that is not what it claims to be.

nbgrader's file-system exchange (nbgrader/exchange/default/collect.py) trusts the name of each
folder in ``inbound/``: ``<student>+<lesson>+<timestamp>+<random>``. On a shared machine any
student can write there, so nbgrader alone collects, as alice's newest work, a folder that bob
made with ``nbgrader submit --student=alice`` (it only warns "cheating attempt?"), a folder bob
named for carol with a timestamp in 2099, or alice's folder renamed to bob; one folder whose name
holds no time makes nbgrader's collect fail for the whole class; and its copy (shutil.copytree)
follows links, so a link put in place after any check copies whatever it points to.

Here every inbound folder's name is read on its own, and each submission is checked WHILE it is
copied, in one pass that never follows a link: the folder and each folder in it are opened with
O_NOFOLLOW relative to their parent's descriptor, each file is opened with O_NOFOLLOW, its open
descriptor is checked (a plain file, owned by the named student) and the bytes are copied from
that descriptor, counted against the caps. A submission is REFUSED (an ERROR line ``REFUSED
<folder>: it ...`` that says why; its half-made copy is removed; the others go on) when

* its name is not ``<student>+<lesson>+<time>[+<random>]`` with a readable time,
* it names a student with no account here, or the folder or anything in it is not owned by
  that student's account (a submission in another's name),
* it holds anything but plain files and folders (a link, a FIFO, a device), or a file the
  collecting instructor cannot read,
* it is larger than ``max_submission_mb`` MiB, holds more than ``max_files`` files or is nested
  deeper than ``max_depth`` folders,
* it has no ``timestamp.txt``, or one that differs from the time in its name, or a time more than
  ``max_clock_skew`` seconds in the future,
* its time is more than ``max_clock_skew`` seconds before the ctime of its folder or of any file
  or folder in it (a student can write the name and timestamp.txt but cannot set a ctime back: a
  late submission dated early, or a notebook rewritten in place after submitting),
* it holds a hard link (refused before it is read: one big file under many names),
* it has no ``submission_secret.txt`` holding nbgrader's 128 hexadecimal characters
  (``secrets.token_hex(64)`` in nbgrader's submit; release_feedback needs it).

Each student's newest accepted submission is collected (the newest before the due date with
``--before-duedate``, as nbgrader chooses); a refused one makes collect try that student's
next one. A refused folder stays in ``inbound/`` for the instructor to look at. The rest
(``--update``, the existing timestamp, group-shared permissions) is nbgrader's collect.

Enabled for instructors by hub/jupyter/instructor/nbgrader_config.py
(``c.ExchangeFactory.collect``), so the command line and the formgrader's Collect button both
use it.
"""

from __future__ import annotations

import datetime
import fnmatch
import glob
import os
import pwd
import re
import shutil
import stat
import tempfile

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.utils import check_mode, parse_utc
from traitlets import Float, Integer

_SECRET = re.compile(r"[0-9a-f]{128}")
_CHUNK = 1 << 20


class Refused(Exception):
    """Why one inbound submission is not collected."""


def _utc(seconds: float) -> datetime.datetime:
    """A POSIX time as parse_utc gives times: naive, in UTC."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


class GuardedCollect(ExchangeCollect):
    max_submission_mb = Integer(
        50, help="The largest submission collected, in MiB (all its files together)."
    ).tag(config=True)
    max_files = Integer(200, help="The most files a collected submission holds.").tag(config=True)
    max_depth = Integer(8, help="The deepest folder nesting in a collected submission.").tag(
        config=True)
    max_clock_skew = Float(
        300.0, help="Seconds a submission's time may lie in the future, or before its folder's "
                    "ctime."
    ).tag(config=True)

    # ---- names -------------------------------------------------------------------------
    def _record(self, path: str) -> dict:
        filename = os.path.basename(path)
        parts = filename.rsplit('+', 3)
        if len(parts) < 3 or not parts[0] or not parts[2]:
            raise Refused("its name is not <student>+<lesson>+<time>+<random>")
        try:
            timestamp = parse_utc(parts[2])
        except Exception:                                   # noqa: BLE001 (dateutil's errors)
            raise Refused(f"its name holds no time ({parts[2]!r})") from None
        return {'username': parts[0], 'filename': filename, 'timestamp': timestamp}

    def _refuse(self, filename: str, why: str) -> None:
        self.refused.append((filename, why))
        self.log.error("REFUSED %s: %s. Not collected; the student's own submissions are (ask "
                       "them to submit again if none is left). The folder stays in %s.",
                       filename, why, self.inbound_path)

    def init_src(self):
        # nbgrader's checks (collect.py), without its parse of every name
        if self.coursedir.course_id == '':
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, 'inbound')
        if not os.path.isdir(self.inbound_path):
            self.fail("Course not found: {}".format(self.inbound_path))
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail("You don't have read permissions for the directory: {}".format(
                self.inbound_path))
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        student_id = self.coursedir.student_id if self.coursedir.student_id else '*'
        pattern = os.path.join(self.inbound_path,
                               '{}+{}+*'.format(student_id, self.coursedir.assignment_id))
        self.refused = []
        records = []
        for path in sorted(glob.glob(pattern)):
            try:
                records.append(self._record(path))
            except Refused as e:
                self._refuse(os.path.basename(path), str(e))
        # each student's submissions in the order nbgrader prefers them: its choice first, the
        # next ones in case it is refused at copy time
        self.candidates = {}
        for user, recs in groupby(records, lambda r: r['username']).items():
            ordered = self._sort_by_timestamp(recs)
            if self.duedate is not None and self.before_duedate:
                ordered = ([r for r in ordered if r['timestamp'] <= self.duedate]
                           + [r for r in ordered if r['timestamp'] > self.duedate])
            self.candidates[user] = ordered
        self.src_records = [v[0] for v in self.candidates.values()]

    # ---- the checked copy ----------------------------------------------------------------
    def _race_point(self, dir_fd: int, name: str) -> None:
        """Called between an entry's check and its opening (tests make a race happen here)."""

    def _owned(self, st: os.stat_result, uid: int, rel: str, username: str) -> None:
        if st.st_uid != uid:
            try:
                owner = pwd.getpwuid(st.st_uid).pw_name
            except KeyError:
                owner = f"uid {st.st_uid}"
            raise Refused(f"{rel} belongs to {owner}, not to {username} "
                          "(a submission in another's name)")

    def _copy_dir(self, dir_fd: int, dest: str, rel: str, depth: int, uid: int,
                  username: str, tally: dict) -> None:
        if depth > self.max_depth:
            raise Refused(f"{rel} is nested deeper than GuardedCollect.max_depth = "
                          f"{self.max_depth} folders")
        for name in sorted(os.listdir(dir_fd)):
            sub = name if rel == "the folder" else f"{rel}/{name}"
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            self._owned(st, uid, sub, username)
            if stat.S_ISDIR(st.st_mode):
                if any(fnmatch.fnmatch(name, g) for g in self.coursedir.ignore):
                    continue
                self._race_point(dir_fd, name)
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                try:
                    fst = os.fstat(fd)
                    self._owned(fst, uid, sub, username)
                    tally['ctime'] = max(tally.get('ctime', 0), fst.st_ctime)
                    os.mkdir(os.path.join(dest, name), 0o700)
                    self._copy_dir(fd, os.path.join(dest, name), sub, depth + 1, uid,
                                   username, tally)
                finally:
                    os.close(fd)
            elif stat.S_ISREG(st.st_mode):
                if (any(fnmatch.fnmatch(name, g) for g in self.coursedir.ignore)
                        or not any(fnmatch.fnmatch(name, g) for g in self.coursedir.include)):
                    continue
                tally['files'] += 1
                if tally['files'] > self.max_files:
                    raise Refused(f"it holds more than GuardedCollect.max_files = "
                                  f"{self.max_files} files")
                self._race_point(dir_fd, name)
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
                try:
                    fst = os.fstat(fd)
                    if not stat.S_ISREG(fst.st_mode):
                        raise Refused(f"{sub} in it is not a plain file")
                    self._owned(fst, uid, sub, username)
                    # a file rewritten in place after the submission changes its own ctime,
                    # not its folder's; a hard link would be copied again for every name
                    tally['ctime'] = max(tally.get('ctime', 0), fst.st_ctime)
                    if fst.st_nlink > 1:
                        raise Refused(f"{sub} in it is a hard link ({fst.st_nlink} names)")
                    if tally['bytes'] + fst.st_size > self.max_submission_mb * 2**20:
                        raise Refused(f"it is larger than GuardedCollect."
                                      f"max_submission_mb = {self.max_submission_mb} MiB")
                    out = os.open(os.path.join(dest, name),
                                  os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                    try:
                        while chunk := os.read(fd, _CHUNK):
                            tally['bytes'] += len(chunk)
                            if tally['bytes'] > self.max_submission_mb * 2**20:
                                raise Refused(f"it is larger than GuardedCollect."
                                              f"max_submission_mb = {self.max_submission_mb} MiB")
                            os.write(out, chunk)
                    finally:
                        os.close(out)
                finally:
                    os.close(fd)
            else:
                raise Refused(f"{sub} in it is not a plain file or folder")

    def _read_copied(self, stage: str, name: str, limit: int = 4096) -> str:
        path = os.path.join(stage, name)
        if not os.path.isfile(path):
            raise Refused(f"it has no {name} (nbgrader submit writes one)")
        with open(path, 'rb') as f:
            return f.read(limit).decode('ascii', 'replace')

    def _stage(self, rec: dict, parent: str) -> str:
        """The submission copied, checked, into a new folder under ``parent``; or Refused."""
        username = rec['username']
        try:
            uid = pwd.getpwnam(username).pw_uid
        except KeyError:
            raise Refused(f"it names {username!r}, who has no account here") from None
        stage = tempfile.mkdtemp(prefix=f".collecting-{self.coursedir.assignment_id}-",
                                 dir=parent)
        try:
            try:
                fd = os.open(rec['filename'], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                             dir_fd=self._inbound_fd)
            except NotADirectoryError:
                raise Refused("it is not a folder") from None
            try:
                st = os.fstat(fd)
                self._owned(st, uid, "the folder", username)
                tally = {'files': 0, 'bytes': 0, 'ctime': st.st_ctime}
                self._copy_dir(fd, stage, "the folder", 0, uid, username, tally)
            finally:
                os.close(fd)
            name_ts = rec['timestamp']
            try:
                file_ts = parse_utc(self._read_copied(stage, "timestamp.txt").strip())
            except Refused:
                raise
            except Exception:                               # noqa: BLE001 (any unreadable stamp)
                raise Refused("its timestamp.txt is not a time") from None
            if file_ts != name_ts:
                raise Refused(f"its timestamp.txt says {file_ts}, not the time in its name "
                              f"({name_ts})")
            now = _utc(datetime.datetime.now().timestamp())
            if (name_ts - now).total_seconds() > self.max_clock_skew:
                raise Refused(f"it is dated {name_ts}, in the future")
            made = _utc(tally['ctime'])          # the folder's and every file's and folder's in it
            if (made - name_ts).total_seconds() > self.max_clock_skew:
                raise Refused(f"it is dated {name_ts} but it (its folder or a file in it) was last "
                              f"changed at {made} UTC (ctime), more than {self.max_clock_skew:g} s "
                              "later: a submission dated before it was made, or edited after")
            secret = self._read_copied(stage, "submission_secret.txt")
            if not _SECRET.fullmatch(secret):
                raise Refused("its submission_secret.txt is not the 128 hexadecimal characters "
                              "nbgrader submit writes (release_feedback needs it)")
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        if self.coursedir.groupshared:
            for dirpath, dirnames, filenames in os.walk(stage):
                os.chmod(dirpath, 0o2770)
                for f in filenames:
                    os.chmod(os.path.join(dirpath, f), 0o660)
        else:
            for dirpath, dirnames, filenames in os.walk(stage):
                os.chmod(dirpath, 0o755)
                for f in filenames:
                    os.chmod(os.path.join(dirpath, f), 0o644)
        return stage

    def copy_files(self):
        assignment = self.coursedir.assignment_id
        if not self.candidates:
            self.log.warning("No submissions of '%s' for course '%s' to collect", assignment,
                             self.coursedir.course_id)
        else:
            self.log.info("Processing %d students' submissions of '%s' for course '%s'",
                          len(self.candidates), assignment, self.coursedir.course_id)
        self._inbound_fd = os.open(self.inbound_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for student_id, recs in self.candidates.items():
                self._collect_one(student_id, recs)
        finally:
            os.close(self._inbound_fd)
        if self.refused:
            self.log.error("%d inbound submission(s) refused (see REFUSED above)",
                           len(self.refused))

    def _collect_one(self, student_id: str, recs: list) -> None:
        assignment = self.coursedir.assignment_id
        dest_path = self.coursedir.format_path(self.coursedir.submitted_directory, student_id,
                                               assignment)
        parent = os.path.dirname(dest_path)
        for rec in recs:
            os.makedirs(parent, exist_ok=True)
            try:
                stage = self._stage(rec, parent)
            except (Refused, OSError) as e:
                why = str(e) if isinstance(e, Refused) else (
                    f"it cannot be read ({e.strerror}: "
                    f"{e.filename if isinstance(e.filename, str) else rec['filename']})")
                self._refuse(rec['filename'], why)
                continue
            break
        else:
            self.log.error("Nothing collected for %s: every submission was refused", student_id)
            return
        # nbgrader's decision (collect.py)
        copy = updating = False
        if os.path.isdir(dest_path):
            existing = self.coursedir.get_existing_timestamp(dest_path)
            new = rec['timestamp']
            if self.update and (existing is None or new > existing):
                copy = updating = True
            elif self.before_duedate and existing != new:
                copy = updating = True
        else:
            copy = True
        if not copy:
            shutil.rmtree(stage)
            if self.update:
                self.log.info("No newer submission to collect: %s %s", student_id, assignment)
            else:
                self.log.info("Submission already exists, use --update to update: %s %s",
                              student_id, assignment)
            return
        if updating:
            self.log.info("Updating submission: %s %s", student_id, assignment)
            shutil.rmtree(dest_path)
        else:
            self.log.info("Collecting submission: %s %s", student_id, assignment)
        os.rename(stage, dest_path)
