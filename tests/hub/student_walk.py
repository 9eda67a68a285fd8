"""Everything one uid can read, searched for the course's answers (tests/hub/hub_check.py runs
it as a student, through ``runuser``, with the hub running).

stdin: JSON ``{"roots": [...], "skip": [...], "patterns": [...]}``: the folders to walk (``/``
and the paths whose names a student can guess but not list), absolute paths not to enter
(/proc, /sys, /dev) and the fixed strings to look for. stdout: JSON ``{"files": N, "dirs": N,
"hits": {path: [pattern, ...]}, "git": {gitdir: [pattern, ...]}}``.

Every readable regular file is searched with ``grep -F`` (text files; SQLite databases and
compiled Python as bytes too, since a gradebook or a .pyc holds source text), and every
readable git repository found on the way is read object by object with
``git cat-file --batch-all-objects`` (its objects are compressed, so grep alone finds nothing
there). The patterns never touch the disk: grep reads them from a memory file.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

BINARY_TEXT = (".db", ".sqlite", ".sqlite3", ".pyc")
CHUNK = 1500


def pattern_fd(patterns: list[str]) -> int:
    fd = os.memfd_create("patterns", 0)
    os.write(fd, ("\n".join(patterns) + "\n").encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def grep(paths: list[str], fd: int, binary: bool) -> list[str]:
    found = []
    for i in range(0, len(paths), CHUNK):
        os.lseek(fd, 0, os.SEEK_SET)
        proc = subprocess.run(["grep", "-lsF", "-a" if binary else "-I", "-f", f"/proc/self/fd/{fd}",
                               "--null", "--", *paths[i:i + CHUNK]],
                              stdout=subprocess.PIPE, pass_fds=(fd,))
        found += [p for p in proc.stdout.decode(errors="surrogateescape").split("\0") if p]
    return found


def which(path: str, patterns: list[str]) -> list[str]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    return [p for p in patterns if p.encode() in data]


def main() -> int:
    spec = json.load(sys.stdin)
    patterns, skip = spec["patterns"], set(spec["skip"])
    files, binaries, gits, seen, ndirs = [], [], [], set(), 0
    for root in spec["roots"]:
        for dirpath, dirnames, filenames in os.walk(root):
            try:
                st = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            if (st.st_dev, st.st_ino) in seen:
                dirnames[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            ndirs += 1
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
            if "HEAD" in filenames and "objects" in dirnames and "refs" in dirnames:
                gits.append(dirpath)
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    fst = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(fst.st_mode) and fst.st_size and os.access(path, os.R_OK):
                    (binaries if name.endswith(BINARY_TEXT) else files).append(path)
    fd = pattern_fd(patterns)
    hits = {p: which(p, patterns) for p in grep(files, fd, False) + grep(binaries, fd, True)}
    git_hits = {}
    for gitdir in gits:
        objects = subprocess.run(["git", "-c", "safe.directory=*", "--git-dir", gitdir, "cat-file",
                                  "--batch-all-objects", "--batch"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        found = [p for p in patterns if p.encode() in objects]
        if found:
            git_hits[gitdir] = found
    json.dump({"files": len(files) + len(binaries), "dirs": ndirs, "hits": hits, "git": git_hits},
              sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
