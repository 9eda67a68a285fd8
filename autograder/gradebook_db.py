"""Where the gradebook lives, and the locks that keep several graders on it from colliding.

The gradebook is SQLite by default (``autograder/gradebook.db``, one machine; parallel workers
wait up to 120 s for its write lock). ``RNNCOURSE_DB_URL`` (``make ... DB_URL=...``) points every
command at another database nbgrader takes, in practice PostgreSQL
(``postgresql://user:password@host:5432/db``), which graders on several machines can share.

Two kinds of lock, taken by ``course.py grade``:

* a **claim** on one submission while it is graded: a second grader that reaches the same
  submission (two runs given the same shard by mistake, a run started twice) skips it instead of
  grading it at the same time into the same files and rows;
* the **setup** lock, waited for, around releasing lessons and adding students to the gradebook,
  so that graders starting together never race to insert the same row.

On PostgreSQL both are session advisory locks (``pg_try_advisory_lock``), held on a connection
of their own: when a grader dies, the server drops its connection and its locks with it. On
SQLite they are ``flock`` locks on files in ``autograder/autograded/.locks/``, dropped by the
kernel when the process dies. Either way a killed grader leaves no lock behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from pathlib import Path

DRIVER_PINS = "psycopg==3.3.9 psycopg-binary==3.3.9"
"""The PostgreSQL driver the course pins (requirements.txt): psycopg 3 with its own libpq.
``postgresql://`` is given to SQLAlchemy as ``postgresql+psycopg://``, which SQLAlchemy 2.0 and
2.1 both read the same way (2.0's default driver for ``postgresql://`` was psycopg2, 2.1's is
psycopg 3)."""


SECRET_VARS = ("DB_URL", "RNNCOURSE_DB_URL", "PGPASSWORD")
"""Variables that may hold the gradebook's password: never passed to a process that starts a
learner's kernel (the kernel inherits its environment and could print them into its feedback)."""


def url(autograder: Path) -> str:
    """The gradebook's URL: ``RNNCOURSE_DB_URL`` (or the file ``RNNCOURSE_DB_URL_FILE`` names,
    see :func:`child_env`), else the SQLite file in ``autograder``."""
    given = (os.environ.get("RNNCOURSE_DB_URL") or "").strip()
    if not given and os.environ.get("RNNCOURSE_DB_URL_FILE"):
        given = Path(os.environ["RNNCOURSE_DB_URL_FILE"]).read_text().strip()
    if not given:
        return "sqlite:///" + str(autograder / "gradebook.db") + "?timeout=120"
    for spelling in ("postgres://", "postgresql://"):     # postgres://: Heroku's spelling
        if given.startswith(spelling):
            given = "postgresql+psycopg://" + given[len(spelling):]
    if not re.match(r"^(sqlite|postgresql\+psycopg)://", given):
        raise SystemExit(f"DB_URL={redact(given)!r} is not a gradebook the course supports: "
                         f"give postgresql://user:password@host:5432/database (or leave DB_URL "
                         f"empty for autograder/gradebook.db)")
    return given


_URL_FILE: dict = {}


def child_env(env: dict, db_url: str) -> dict:
    """``env`` for course.py's grading workers and nbgrader: the gradebook's URL is handed over
    in a 0600 file in a private 0700 folder (``RNNCOURSE_DB_URL_FILE``), not in a variable,
    and the variables of SECRET_VARS are removed. A learner's kernel inherits the worker's
    environment, but not that file: the sandbox gives it a /tmp of its own (and, as root,
    another uid). The folder is deleted when course.py exits."""
    env = {k: v for k, v in env.items() if k not in SECRET_VARS}
    if not is_postgres(db_url):
        env["RNNCOURSE_DB_URL"] = db_url             # a path on this machine, no password
        return env
    if db_url not in _URL_FILE:
        import atexit
        import shutil
        import tempfile
        _sweep_url_files()
        folder = tempfile.mkdtemp(prefix=f"rnngradebook-{os.getpid()}-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / "db_url"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(db_url)
        _URL_FILE[db_url] = str(path)
    env["RNNCOURSE_DB_URL_FILE"] = _URL_FILE[db_url]
    return env


def _sweep_url_files() -> None:
    """Delete the URL folders of graders of this user that were killed (no atexit ran)."""
    import shutil
    import tempfile
    import leftovers
    for folder in leftovers.of_dead_runs(Path(tempfile.gettempdir()), "rnngradebook-"):
        shutil.rmtree(folder, ignore_errors=True)


def is_postgres(db_url: str) -> bool:
    return db_url.startswith("postgresql")


def redact(db_url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", db_url)


def check_driver(db_url: str) -> None:
    """Fail with what to do when the database's driver is not installed."""
    if not is_postgres(db_url):
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise SystemExit(f"DB_URL is a PostgreSQL gradebook ({redact(db_url)}), but its driver "
                         f"psycopg is not installed in this Python: run make venv (requirements.txt "
                         f"pins it) or {sys.executable} -m pip install {DRIVER_PINS}") from None


def _key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (the same on every machine)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def lock(db_url: str, autograder: Path, name: str, wait: bool):
    """Hold the lock ``name`` for the ``with`` block; yields False when ``wait`` is False and
    another grader holds it (nothing is held then)."""
    if is_postgres(db_url):
        with _pg_lock(db_url, name, wait) as held:
            yield held
    else:
        with _file_lock(autograder, name, wait) as held:
            yield held


@contextlib.contextmanager
def _pg_lock(db_url: str, name: str, wait: bool):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            key = {"k": _key(name)}
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), key)
                held = True
            else:
                held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                    conn.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _file_lock(autograder: Path, name: str, wait: bool):
    import fcntl
    folder = autograder / "autograded" / ".locks"   # ignored by git and by nbgrader's globs
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    # read-only is enough for flock; 0660 so that another instructor of the group (the hub's
    # groupshared course) can take the lock that the first grader's run created
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o660)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        os.close(fd)                                  # drops the lock
