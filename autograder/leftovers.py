"""What a grader killed with SIGKILL leaves behind, found and removed by the next one.

A grading run names what it makes outside the course folder after its process id: its workers'
scratch folders (``/tmp/rnngrade-<pid>-*``, root's and 0700 when run as root), its cgroups
(``rnngrade-<pid>-<slot>-<turn>``) and the folder of a PostgreSQL gradebook's URL
(``/tmp/rnngradebook-<pid>-*``). A run that ends, however it fails, removes its own; one killed
with SIGKILL cannot, so the next run removes those whose process is gone.
"""

from __future__ import annotations

import os
from pathlib import Path


def of_dead_runs(folder: Path, prefix: str) -> list[Path]:
    """The entries ``<prefix><pid>-...`` of ``folder`` that this user owns and whose process
    ``pid`` no longer exists (never this process's own)."""
    found = []
    try:
        entries = list(folder.glob(f"{prefix}*-*"))
    except OSError:
        return found
    for entry in entries:
        try:
            pid = int(entry.name[len(prefix):].split("-")[0])
            if pid == os.getpid() or entry.lstat().st_uid != os.getuid():
                continue
            os.kill(pid, 0)                           # still running: keep it
        except ProcessLookupError:
            found.append(entry)
        except (ValueError, OSError):
            continue
    return found
