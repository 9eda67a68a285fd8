"""The learner's workspace: a copy of the released lessons that no command of the course writes over.

    python autograder/workspace.py sync [--dir DIR]     (run by `make lab` before JupyterLab starts)
    python autograder/workspace.py path --lesson L      the notebook `make check` grades

``lessons/`` belongs to the course: ``make release`` regenerates it and ``git pull`` updates it.
A learner works in ``workspace/`` (ignored by git) instead. ``sync`` copies each lesson there the
first time and never replaces a file the learner changed:

* a file missing from the workspace is copied;
* a file the learner never changed (its content is still the released version it was copied
  from) is brought up to date when the course changes it;
* a file the learner changed stays as it is; when the course changed it too, the new version is
  written beside it as ``<name>.updated-<version>.<ext>`` (never over an existing file) and
  ``sync`` says so each time it runs, until the learner takes or drops the new version: deletes
  the ``.updated-`` file (drops it: it is not written again), deletes their own copy (the next
  ``sync`` copies the new version in its place) or renames the new version over their own.

What each workspace file was copied from is recorded in ``workspace/.released.json`` (a content
hash per file, and the new versions offered and not yet taken or dropped), which is how ``sync``
tells the learner's changes from the course's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(os.environ.get("RNNCOURSE_ROOT") or Path(__file__).resolve().parent.parent).resolve()
LESSONS = ROOT / "lessons"
WORKSPACE = ROOT / "workspace"
RECORD = ".released.json"
SKIP = {".ipynb_checkpoints", "__pycache__"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _released_files(lessons: Path) -> list[Path]:
    """Files of the released lessons (relative to ``lessons/``), lesson folders only."""
    found = []
    for folder in sorted(p for p in lessons.iterdir() if p.is_dir() and p.name[:2].isdigit()):
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP)
            for name in sorted(filenames):
                found.append((Path(dirpath) / name).relative_to(lessons))
    return found


def _beside(path: Path, version: str) -> Path:
    return path.with_name(f"{path.stem}.updated-{version[:8]}{path.suffix}")


def _read_record(path: Path) -> tuple[dict, dict]:
    """``(released, offered)`` of ``.released.json``: the released digest each workspace file was
    copied from or last offered, and the ``.updated-`` file offered for each file (if any).
    A record of the first format (a plain ``{file: digest}``) has no offers."""
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return {}, {}
    if "released" in data and isinstance(data["released"], dict):
        return dict(data["released"]), dict(data.get("offered") or {})
    return data, {}


def _offer_message(key: str, offer: str) -> str:
    return (f"{key} changed in the course; your copy is untouched and the new version is beside "
            f"it: {offer} (compare the two; keep yours by deleting the new one, or take the new "
            f"one by deleting yours)")


def sync(workspace: Path = WORKSPACE, lessons: Path = LESSONS) -> list[str]:
    """Bring ``workspace`` up to date with ``lessons`` without touching the learner's changes.

    Returns the messages for the learner (also printed): one per file copied, updated or
    offered beside the learner's own (repeated at every sync while both files are there).
    """
    if not lessons.is_dir():
        raise SystemExit(f"no released lessons in {lessons}: run `make release` first")
    workspace.mkdir(exist_ok=True)
    record_path = workspace / RECORD
    record, offered = _read_record(record_path)
    messages, copied = [], 0
    for rel in _released_files(lessons):
        src, dst, key = lessons / rel, workspace / rel, rel.as_posix()
        released = _digest(src)
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            record[key] = released
            offered.pop(key, None)
            copied += 1
            continue
        base = record.get(key)
        if base != released:                            # the course changed it since
            mine = _digest(dst)
            if mine == released:
                record[key] = released                  # already the new version
            elif base is not None and mine == base:     # the learner never changed it
                shutil.copy2(src, dst)
                record[key] = released
                offered.pop(key, None)
                messages.append(f"updated {key} to the course's new version (you had not "
                                f"changed it)")
                continue
            else:                                       # the learner's own work: never replaced
                offer = _beside(dst, released)
                if not offer.exists():
                    shutil.copy2(src, offer)
                record[key] = released                  # offered once: a dropped offer stays dropped
                offered[key] = offer.relative_to(workspace).as_posix()
        pending = offered.get(key)
        if pending is None:
            continue
        if not (workspace / pending).exists() or _digest(dst) == released:
            del offered[key]                            # dropped, or taken
        else:
            messages.append(_offer_message(key, pending))
    record_path.write_text(json.dumps({"released": record, "offered": offered}, indent=1,
                                      sort_keys=True) + "\n")
    if copied:
        messages.insert(0, f"copied {copied} file(s) of the released lessons into "
                           f"{workspace.name}/: your work lives there, and no command of the "
                           f"course writes over it")
    for line in messages:
        print(f"== {line}")
    return messages


def notebook(lesson: str, workspace: Path = WORKSPACE, lessons: Path = LESSONS) -> Path:
    """The learner's notebook of ``lesson``: the workspace copy, else the released one."""
    mine = workspace / lesson / f"{lesson}.ipynb"
    return mine if mine.exists() else lessons / lesson / f"{lesson}.ipynb"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "path"])
    parser.add_argument("--dir", type=Path, default=WORKSPACE, help="the workspace folder")
    parser.add_argument("--lesson", help="path: the lesson id, e.g. 01_rnn")
    args = parser.parse_args(argv)
    if args.command == "sync":
        sync(args.dir.resolve())
    else:
        if not args.lesson:
            raise SystemExit("path needs --lesson, e.g. --lesson 01_rnn")
        print(notebook(args.lesson, args.dir.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
