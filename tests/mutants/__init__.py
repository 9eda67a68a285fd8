"""Catalogues of wrong and correct implementations of every graded exercise.

Each lesson has a module named after it (``01_rnn.py`` ...) that defines

``EXERCISES``: ``{answer_cell_id: (test_cell_ids, answer_cell_ids_its_tests_call)}``, the test
    cells that grade an exercise and the other answer cells those tests run (a backward test
    runs the learner's forward, say);
``FALLBACK`` (optional): ``{answer_cell_id: [answer cells its tests call but work around]}``:
    the callees (a forward, say) whose wrong versions cannot cost this exercise's points,
    because its tests then give its function the documented cache (or windows, ...) built from
    reference values;
``PAIRS`` (optional): ``[(answer_cell_id, variant name)]``, wrong variants of FALLBACK callees
    planned into a notebook where every caller's tests run the solution, so that the check that
    a wrong forward leaves a right backward its points is sure to happen (it also happens for
    the other wrong variants wherever the planning left their callers untouched);
``NOT_SEPARATED`` (optional): ``[(answer_cell_id, variant name)]``, wrong variants of FALLBACK
    callees that do break their callers' tests (windows a right caller cannot use), exempt from
    that check;
``VARIANTS``: a list of :class:`Variant`, each a full replacement of one answer cell;
``GRADED`` (optional): ``{answer_cell_id: [variant names] or None}``, the variants graded by
    ``make test`` (None: all of them); the others are kept in ``RESERVE``.

``tests/test_mutants.py`` puts the variants into submissions (never two variants that touch
one another's tests in the same notebook), grades them through ``autograder/course.py grade``
like any class, and checks that every wrong variant loses points on its exercise and every
correct one keeps them all, on its own test cells and on those of every exercise whose tests
call it (:func:`callers`). A wrong variant of a callee listed in ``FALLBACK`` is also checked
to leave the caller's points untouched (a wrong forward with a right backward keeps the
backward's points) wherever the caller's tests run only the solution besides it: always for
the variants in ``PAIRS``, which the planning places so.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Variant:
    exercise: str          # the answer cell's grade_id
    name: str              # what is different, e.g. "W_hh not transposed"
    correct: bool          # True: must keep every point; False: must lose some
    source: str            # the whole new source of the answer cell


def load(lesson: str):
    """The catalogue module of a lesson, or None when it has none."""
    path = HERE / f"{lesson}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"mutants_{lesson}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    unknown = [v.exercise for v in module.VARIANTS if v.exercise not in module.EXERCISES]
    if unknown:
        raise ValueError(f"{path.name}: variants of unknown exercises {sorted(set(unknown))}")
    graded = getattr(module, "GRADED", None)
    if graded is not None:
        names = {(v.exercise, v.name) for v in module.VARIANTS}
        missing = [(ex, n) for ex, wanted in graded.items() for n in (wanted or ())
                   if (ex, n) not in names]
        if missing:
            raise ValueError(f"{path.name}: GRADED names variants that do not exist: {missing}")
        keep = [v for v in module.VARIANTS
                if graded.get(v.exercise, ()) is None or v.name in graded.get(v.exercise, ())]
        module.RESERVE = [v for v in module.VARIANTS if v not in keep]
        module.VARIANTS = keep
    module.FALLBACK = getattr(module, "FALLBACK", {})
    for ex, callees in module.FALLBACK.items():
        bad = [c for c in callees if c not in module.EXERCISES.get(ex, ((), ()))[1]]
        if ex not in module.EXERCISES or bad:
            raise ValueError(f"{path.name}: FALLBACK[{ex!r}] names {bad or ex}, which "
                             f"EXERCISES does not list as called by {ex}'s tests")
    module.PAIRS = list(getattr(module, "PAIRS", []))
    module.NOT_SEPARATED = list(getattr(module, "NOT_SEPARATED", []))
    wrong = {(v.exercise, v.name) for v in module.VARIANTS if not v.correct}
    missing = [p for p in module.PAIRS if tuple(p) not in wrong]
    if missing:
        raise ValueError(f"{path.name}: PAIRS names variants that are not graded wrong ones: "
                         f"{missing}")
    return module


def callers(catalogue, exercise: str) -> list[str]:
    """The other exercises whose tests call ``exercise``'s answer cell (EXERCISES' lists)."""
    return [ex for ex, (_, calls) in catalogue.EXERCISES.items()
            if ex != exercise and exercise in calls]


def fallback_callers(catalogue, exercise: str) -> list[str]:
    """The exercises whose tests work around a wrong ``exercise`` (FALLBACK's lists)."""
    return [ex for ex, callees in getattr(catalogue, "FALLBACK", {}).items()
            if exercise in callees]


def untouched_callers(catalogue, exercise: str, replacements: dict, fallback=False) -> list:
    """The callers (or FALLBACK callers) of ``exercise`` whose tests run nothing but the
    solution besides ``exercise`` in a notebook with these replacements."""
    deps = {ex: set(calls) for ex, (_, calls) in catalogue.EXERCISES.items()}
    found = fallback_callers(catalogue, exercise) if fallback else callers(catalogue, exercise)
    return [y for y in found
            if not any(r == y or (r in deps[y] and r != exercise) for r in replacements)]


def plan(catalogue) -> list[dict]:
    """Pack variants into notebooks: ``[{answer_cell_id: Variant}]``.

    Two variants share a notebook only if they change different exercises and neither
    exercise's tests call the other's answer cell, so each verdict is about one variant alone.
    A correct variant, and a wrong variant named in ``PAIRS``, are also graded through the test
    cells of their callers: they share no notebook with a variant of a caller or of anything a
    caller's tests call (a wrong rnn_step_backward would fail the test of rnn_backward that a
    correct rnn_forward is graded through).
    """
    deps = {ex: set(calls) for ex, (_, calls) in catalogue.EXERCISES.items()}

    def clash(a: str, b: str) -> bool:
        return a == b or a in deps[b] or b in deps[a]

    pairs = set(getattr(catalogue, "PAIRS", ()))

    def through_callers(variant) -> bool:
        return variant.correct or (variant.exercise, variant.name) in pairs

    def spoils_callers(a: str, b: str) -> bool:     # b changes what a caller of a relies on
        return any(b == y or b in deps[y] for y in callers(catalogue, a))

    def conflict(variant, other) -> bool:
        a, b = variant.exercise, other.exercise
        return (clash(a, b) or (through_callers(variant) and spoils_callers(a, b))
                or (through_callers(other) and spoils_callers(b, a)))

    notebooks: list[dict] = []
    for variant in catalogue.VARIANTS:
        for nb in notebooks:
            if not any(conflict(variant, other) for other in nb.values()):
                nb[variant.exercise] = variant
                break
        else:
            notebooks.append({variant.exercise: variant})
    return notebooks
