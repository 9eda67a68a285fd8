#!/usr/bin/env python3
"""Local system accounts for the course's JupyterHub: one or more instructors and the students.

Run as root (``make hub`` runs ``sync`` for you when ``hub/class.txt`` exists)::

    python3 hub/users.py sync hub/class.txt          # create whoever is missing, as listed
    python3 hub/users.py add --instructor ada --students alice bob carol
    python3 hub/users.py remove alice bob             # delete accounts and their home folders
    python3 hub/users.py password alice               # a new password for alice

``hub/class.txt`` (git ignores it; ``hub/class.example.txt`` shows the format) has one account a
line, ``instructor NAME`` or ``student NAME``; ``#`` starts a comment.

Password scheme
---------------
JupyterHub logs users in with PAM against their system password (``PAMAuthenticator``; no dummy
authenticator). Each new account gets a random password of 16 characters from Python's
``secrets`` (about 95 bits), set with ``chpasswd`` (stored hashed in ``/etc/shadow`` only) and
written once, in clear, to ``hub/runtime/passwords.txt`` (mode 0600, root only, ignored by git)
as ``name<TAB>password``: hand each person their line, then delete the file. An account that
already exists keeps its password; ``password NAME`` makes a new one. ``--password-file FILE``
takes ``name<TAB>password`` lines to use instead of random ones (tests use this).

What an account gets
--------------------
* a private primary group (``useradd -U``) and a home folder of mode 0700: no other student
  can read a student's work;
* students: the supplementary group ``rnn-students``; instructors: ``rnn-instructors``, which
  owns the course's grading folders (``autograder/``, ``solutions/``) and reads the exchange's
  inbound submissions (see hub/setup_hub.sh). Only these two groups may log in to the hub.
* the shell ``/usr/sbin/nologin`` for students (they work through the hub only) and
  ``/bin/bash`` for instructors (the terminal in JupyterLab runs ``make grade``).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNTIME = Path(os.environ.get("RNNCOURSE_HUB_RUNTIME", HERE / "runtime"))
INSTRUCTORS = os.environ.get("RNNCOURSE_HUB_INSTRUCTORS", "rnn-instructors")
STUDENTS = os.environ.get("RNNCOURSE_HUB_STUDENTS", "rnn-students")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")   # valid for useradd and kept as is by JupyterHub
ALPHABET = string.ascii_letters + string.digits


def _run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True)


def ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        _run("groupadd", "--system", name)


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def new_password() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(16))


def record(passwords: dict[str, str]) -> None:
    """Append ``name<TAB>password`` lines to hub/runtime/passwords.txt (0600)."""
    if not passwords:
        return
    RUNTIME.mkdir(parents=True, exist_ok=True)
    os.chmod(RUNTIME, 0o700)
    path = RUNTIME / "passwords.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        for name, pw in passwords.items():
            f.write(f"{name}\t{pw}\n")
    os.chmod(path, 0o600)
    print(f"new passwords written to {path} (root only): hand them out, then delete the file")


def set_password(name: str, password: str) -> None:
    _run("chpasswd", stdin=f"{name}:{password}\n")


def add(name: str, role: str, password: str | None = None) -> str | None:
    """Create the account ``name`` (role 'instructor' or 'student') if missing.

    Returns the new random password, or None when the account existed or ``password`` was given.
    Group membership is made right in both cases.
    """
    if not NAME.match(name):
        raise SystemExit(f"{name!r} is not a valid account name (lowercase letters, digits, - and _)")
    group = INSTRUCTORS if role == "instructor" else STUDENTS
    other = STUDENTS if role == "instructor" else INSTRUCTORS
    ensure_group(INSTRUCTORS)
    ensure_group(STUDENTS)
    made = None
    if not exists(name):
        shell = "/bin/bash" if role == "instructor" else "/usr/sbin/nologin"
        _run("useradd", "--create-home", "--user-group", "--shell", shell, "--groups", group, name)
        made = password or new_password()
        set_password(name, made)
        print(f"created {role} {name}")
    else:
        _run("usermod", "--append", "--groups", group, name)
    if name in grp.getgrnam(other).gr_mem:            # a student is never an instructor too
        _run("gpasswd", "--delete", name, other)
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    return made if made and not password else None


def read_class(path: Path) -> list[tuple[str, str]]:
    accounts = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("instructor", "student"):
            raise SystemExit(f"{path}:{n}: expected 'instructor NAME' or 'student NAME', got {line!r}")
        accounts.append((parts[0], parts[1]))
    return accounts


def read_passwords(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            name, pw = line.split("\t", 1)
            out[name] = pw
    return out


def remove(name: str) -> None:
    if exists(name):
        # -r: the home folder and mail spool; -f: even if the user still has processes
        # (the hub stops every server first; see tests/hub/hub_check.py).
        subprocess.run(["userdel", "--remove", "--force", name], check=False,
                       stderr=subprocess.DEVNULL)
        print(f"removed {name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="the course's accounts (run as root)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sync", help="create the accounts listed in a class file")
    p.add_argument("class_file", type=Path)
    p.add_argument("--password-file", type=Path)
    p = sub.add_parser("add", help="create accounts")
    p.add_argument("--instructor", nargs="*", default=[])
    p.add_argument("--students", nargs="*", default=[])
    p.add_argument("--password-file", type=Path)
    p = sub.add_parser("remove", help="delete accounts and their home folders")
    p.add_argument("names", nargs="+")
    p = sub.add_parser("password", help="set a new random password")
    p.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("hub/users.py manages system accounts: run it as root")
    if args.command in ("sync", "add"):
        given = read_passwords(args.password_file)
        accounts = (read_class(args.class_file) if args.command == "sync" else
                    [("instructor", n) for n in args.instructor] + [("student", n) for n in args.students])
        fresh = {}
        for role, name in accounts:
            pw = add(name, role, given.get(name))
            if pw:
                fresh[name] = pw
        record(fresh)
    elif args.command == "remove":
        for name in args.names:
            remove(name)
    else:
        fresh = {}
        for name in args.names:
            if not exists(name):
                raise SystemExit(f"no account {name}")
            fresh[name] = new_password()
            set_password(name, fresh[name])
        record(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
