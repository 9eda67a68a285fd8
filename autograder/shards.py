"""Split a class's submissions between graders: ``make grade SHARD=i/n`` on each of n machines.

A submission belongs to shard ``i`` of ``n`` when the SHA-256 of ``"<student>/<lesson>"``, read
as a number, is ``i - 1`` modulo ``n``. It depends on the student and the lesson only, not on
which other submissions a machine sees or in which order: graders that list the submitted
folder at different moments (a late submission arrives between them) still split it with no
submission given to none or to two of them. The shards are of about equal size for a class
(a few submissions may differ from n to n); every submission is in exactly one of them.
"""

from __future__ import annotations

import hashlib
import re


def parse(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``; a clear error for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise SystemExit(f"SHARD={text!r} is not a shard: give i/n with 1 <= i <= n, for example "
                         f"SHARD=1/3, SHARD=2/3 and SHARD=3/3 on three graders")
    return int(m.group(1)), int(m.group(2))


def shard_of(student: str, lesson: str, n: int) -> int:
    """The shard (1..n) that grades ``student``'s submission of ``lesson``."""
    digest = hashlib.sha256(f"{student}/{lesson}".encode()).digest()
    return int.from_bytes(digest, "big") % n + 1


def select(pairs: list[tuple[str, str]], shard: tuple[int, int] | None) -> list[tuple[str, str]]:
    """The ``(student, lesson)`` pairs of ``shard`` (all of them when ``shard`` is None)."""
    if shard is None:
        return list(pairs)
    i, n = shard
    return [(s, l) for s, l in pairs if shard_of(s, l, n) == i]
