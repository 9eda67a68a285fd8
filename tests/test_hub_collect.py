"""The hub's collect (hub/jupyter/instructor/rnn_collect.py) against a student's forged inbound
folders, and hub/setup_hub.sh's refusal to change permissions through a link.

No hub is needed: each test lays out a temporary exchange as hub/setup_hub.sh does (inbound/
3773, root and the instructors' group), files owned by unused uids (62001... the students,
62003 the collecting instructor, 62000 the instructors' group; GuardedCollect maps a student's
name to a uid with ``pwd``, replaced here by a table), and runs GuardedCollect in this process
with the instructor's effective uid, so that a file the student closed is unreadable as it is on
the hub. Run as root (make test does); skipped otherwise. RNN_COLLECT_MODULE=<path> runs the
tests against another copy of rnn_collect.py (how they were checked against the code before the
fixes).
"""
from __future__ import annotations

import datetime
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import time
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE = Path(os.environ.get("RNN_COLLECT_MODULE")
              or REPO / "hub" / "jupyter" / "instructor" / "rnn_collect.py")
GROUP, INSTRUCTOR = 62000, 62003
USERS = {"alice": 62001, "bob": 62002, "carol": 62004, "dave": 62005, "erin": 62006}
LESSON = "01_rnn"
SECRET = "0123456789abcdef" * 8

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files are chowned to "
                                "the students' uids and collect runs as another uid")


def _load():
    spec = importlib.util.spec_from_file_location("rnn_collect_under_test", MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    names = {uid: name for name, uid in USERS.items()}

    def getpwnam(name):
        if name not in USERS:
            raise KeyError(name)
        return types.SimpleNamespace(pw_uid=USERS[name], pw_name=name)

    def getpwuid(uid):
        if uid not in names:
            raise KeyError(uid)
        return types.SimpleNamespace(pw_uid=uid, pw_name=names[uid])

    mod.pwd = types.SimpleNamespace(getpwnam=getpwnam, getpwuid=getpwuid)
    return mod


class _NoGradebook:
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def find_assignment(self, name):
        from nbgrader.api import MissingEntry
        raise MissingEntry()


def _stamp(dt: datetime.datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


class Hub:
    """A temporary exchange and course root, as hub/setup_hub.sh lays them out."""

    def __init__(self, base: Path):
        self.base = base
        self.inbound = base / "exchange" / "rnn-course" / "inbound"
        self.inbound.mkdir(parents=True)
        os.chmod(base / "exchange", 0o1777)
        for d, mode in ((base / "exchange" / "rnn-course", 0o2775), (self.inbound, 0o3773)):
            os.chown(d, 0, GROUP)
            os.chmod(d, mode)
        self.course = base / "course"
        self.course.mkdir()
        os.chown(self.course, INSTRUCTOR, GROUP)
        self.secret_file = base / "solutions.ipynb"          # what a link may point to
        self.secret_file.write_text("THE INSTRUCTORS' SOLUTION")
        os.chmod(self.secret_file, 0o644)
        self.now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

    def submit(self, student: str, notebook: str, *, ago: float = 10, name_stamp: str = None,
               secret: str | None = SECRET, name: str = None) -> Path:
        """A submission folder made as nbgrader submit (+ rnn_exchange.py) makes it."""
        when = _stamp(self.now - datetime.timedelta(seconds=ago))
        folder = self.inbound / (name or f"{student}+{LESSON}+{name_stamp or when}+r{ago:g}")
        folder.mkdir()
        (folder / f"{LESSON}.ipynb").write_text(notebook)
        (folder / "timestamp.txt").write_text(name_stamp or when)
        if secret is not None:
            (folder / "submission_secret.txt").write_text(secret)
        uid = USERS.get(student, 62009)
        for p in [folder, *folder.iterdir()]:
            os.lchown(p, uid, GROUP)
            os.chmod(p, 0o770 if p.is_dir() else 0o644)
        return folder

    def collected(self, student: str) -> str | None:
        nb = self.course / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        return nb.read_text() if nb.exists() else None

    def collect(self, mod, race=None, skew: float | None = None) -> list[str]:
        """GuardedCollect as the instructor; the ERROR lines it logged."""
        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        cfg = Config()
        if skew is not None:
            cfg.GuardedCollect.max_clock_skew = skew
        cfg.CourseDirectory.root = str(self.course)
        cfg.CourseDirectory.course_id = "rnn-course"
        cfg.CourseDirectory.assignment_id = LESSON
        cfg.CourseDirectory.groupshared = True
        cfg.Exchange.root = str(self.base / "exchange")
        cls = mod.GuardedCollect
        import nbgrader.exchange.default.collect as nb_collect
        saved = nb_collect.Gradebook
        for owner in (mod, nb_collect):      # no due date; nbgrader's Gradebook runs alembic (s)
            if hasattr(owner, "Gradebook"):
                owner.Gradebook = _NoGradebook
        if race is not None:     # between the check of an entry and its copy: whichever is there
            if hasattr(cls, "_race_point"):
                orig = cls._race_point

                def _race_point(self, dir_fd, name):
                    race(os.readlink(f"/proc/self/fd/{dir_fd}"), name)
                    return orig(self, dir_fd, name)
                cls._race_point = _race_point
            orig_copy = cls.do_copy

            def do_copy(self, src, dest, log=None):   # the old code's copy, after its checks
                race(src, f"{LESSON}.ipynb")
                return orig_copy(self, src, dest, log)
            cls.do_copy = do_copy
        collector = cls(coursedir=CourseDirectory(config=cfg),
                        authenticator=Authenticator(config=cfg), config=cfg)
        lines = []

        class Keep(logging.Handler):
            def emit(self, record):
                if record.levelno >= logging.ERROR:
                    lines.append(record.getMessage())
        handler = Keep()
        collector.log.addHandler(handler)
        os.setegid(GROUP)
        os.seteuid(INSTRUCTOR)
        try:
            collector.start()
        finally:
            os.seteuid(0)
            os.setegid(0)
            collector.log.removeHandler(handler)
            nb_collect.Gradebook = saved
        return lines


@pytest.fixture
def hub():
    base = Path(tempfile.mkdtemp(prefix="hub-collect-"))
    os.chmod(base, 0o755)
    try:
        yield Hub(base)
    finally:
        shutil.rmtree(base)


def _refused(lines, folder) -> str:
    hits = [ln for ln in lines if ln.startswith(f"REFUSED {folder}:")]
    assert hits, f"no REFUSED line for {folder}: {lines}"
    return hits[0]


def test_junk_folder_names_are_refused_and_the_class_collected(hub):     # H1
    mod = _load()
    hub.submit("alice", "alice's work")
    (hub.inbound / f"hralice+{LESSON}+notatime+x").mkdir()
    (hub.inbound / f"bob+{LESSON}+").mkdir()
    lines = hub.collect(mod)
    assert hub.collected("alice") == "alice's work"
    assert "no time" in _refused(lines, f"hralice+{LESSON}+notatime+x")
    _refused(lines, f"bob+{LESSON}+")


def test_an_unreadable_file_refuses_that_submission_only(hub):         # H5
    mod = _load()
    hub.submit("alice", "alice's work")
    hub.submit("bob", "bob's older work", ago=60)
    newer = hub.submit("bob", "bob's newer work", ago=20)
    os.chmod(newer / f"{LESSON}.ipynb", 0o600)        # bob's own, closed to the instructors
    lines = hub.collect(mod)
    assert hub.collected("alice") == "alice's work"
    assert "cannot be read" in _refused(lines, newer.name)
    assert hub.collected("bob") == "bob's older work"     # his newest accepted one
    leftovers = [p for p in (hub.course / "submitted" / "bob").iterdir() if p.name != LESSON]
    assert leftovers == [], "a half-made copy was left"


def test_a_link_swapped_in_after_the_check_is_never_followed(hub):     # H4
    mod = _load()
    hub.submit("alice", "alice's work")
    hub.submit("bob", "bob's older work", ago=60)
    newer = hub.submit("bob", "bob's newer work", ago=20)
    swapped = []

    def race(folder, name):     # bob's inotify loop: a link renamed over his notebook
        if Path(folder) == newer and name == f"{LESSON}.ipynb" and not swapped:
            euid = os.geteuid()
            os.seteuid(0)
            try:
                link = newer / "x.lnk"
                link.symlink_to(hub.secret_file)
                os.lchown(link, USERS["bob"], GROUP)
                os.rename(link, newer / f"{LESSON}.ipynb")
                swapped.append(name)
            finally:
                os.seteuid(euid)
    lines = hub.collect(mod, race=race)
    assert swapped, "the race never happened"
    got = hub.collected("bob")
    assert got in (None, "bob's older work", "bob's newer work"), got
    assert "SOLUTION" not in (got or "")
    if got != "bob's newer work":
        _refused(lines, newer.name)
    assert hub.collected("alice") == "alice's work"


@pytest.mark.parametrize("secret", [None, "", "not a secret", "g" * 128, SECRET + "\n" + SECRET])
def test_a_submission_without_nbgraders_secret_is_refused(hub, secret):   # H2
    mod = _load()
    hub.submit("alice", "alice's work")
    bad = hub.submit("erin", "erin's work", secret=secret)
    lines = hub.collect(mod)
    assert hub.collected("alice") == "alice's work"
    assert hub.collected("erin") is None
    assert "submission_secret.txt" in _refused(lines, bad.name)


def test_a_backdated_submission_is_refused(hub):                       # H3
    mod = _load()
    hub.submit("alice", "alice's work")
    hour_ago = _stamp(hub.now - datetime.timedelta(hours=1))
    late = hub.submit("carol", "carol's late work", name_stamp=hour_ago)
    lines = hub.collect(mod)
    assert hub.collected("alice") == "alice's work"
    assert hub.collected("carol") is None
    assert "ctime" in _refused(lines, late.name)


def test_a_file_edited_after_submitting_is_refused(hub):
    """A student rewrites the notebook inside his submitted folder after the deadline: the
    folder's ctime stays, the file's does not."""
    mod = _load()
    stamp = _stamp(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    hub.submit("erin", "erin's work", name_stamp=stamp)
    edited = hub.submit("carol", "carol's work", name_stamp=stamp)
    time.sleep(2.5)
    with open(edited / f"{LESSON}.ipynb", "r+") as f:        # in place: same inode, new ctime
        f.write("carol's LATE work")
    lines = hub.collect(mod, skew=1.0)
    assert hub.collected("erin") == "erin's work"
    assert hub.collected("carol") is None
    assert "edited after" in _refused(lines, edited.name)


def test_a_hard_link_is_refused_before_it_is_copied(hub):
    mod = _load()
    folder = hub.submit("bob", "bob's work")
    big = hub.base / "bob-big.bin"
    big.write_bytes(b"x" * 1000)
    os.lchown(big, USERS["bob"], GROUP)
    os.link(big, folder / "data.bin")
    lines = hub.collect(mod)
    assert hub.collected("bob") is None
    assert "hard link" in _refused(lines, folder.name)


def test_the_newest_accepted_submission_is_collected_once_more(hub):
    """The fixes keep nbgrader's choice: each student's newest acceptable submission."""
    mod = _load()
    hub.submit("dave", "dave's first", ago=90)
    hub.submit("dave", "dave's second", ago=30)
    assert hub.collect(mod) == []
    assert hub.collected("dave") == "dave's second"
    mode = (hub.course / "submitted" / "dave" / LESSON).stat().st_mode
    assert mode & 0o2770 == 0o2770      # group-shared, as nbgrader's groupshared copy leaves it


def test_setup_hub_never_changes_permissions_through_a_link(tmp_path):    # H6
    """An instructor's link in place of the gradebook: setup_hub.sh's guard refuses it."""
    script = (REPO / "hub" / "setup_hub.sh").read_text()
    start = script.index("no_link () {")
    guard = script[start:script.index("\n}\n", start) + 3]
    victim = tmp_path / "jupyterhub_config.py"
    victim.write_text("root's\n")
    os.chmod(victim, 0o600)
    (tmp_path / "gradebook.db").symlink_to(victim)
    run = subprocess.run(["bash", "-c", f'set -euo pipefail\n{guard}\n'
                          f'no_link "{tmp_path}/gradebook.db" && chmod g+rw "{tmp_path}/gradebook.db"'],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "link" in run.stderr
    assert victim.stat().st_mode & 0o777 == 0o600
