"""Catalogues of wrong and correct implementations of every graded exercise.

Each lesson has a module named after it (``01_rnn.py`` ...) that defines

``EXERCISES``: ``{answer_cell_id: (test_cell_ids, answer_cell_ids_its_tests_call)}``, the test
    cells that grade an exercise and the other answer cells those tests run (a backward test
    runs the learner's forward, say);
``VARIANTS``: a list of :class:`Variant`, each a full replacement of one answer cell;
``GRADED`` (optional): ``{answer_cell_id: [variant names] or None}``, the variants graded by
    ``make test`` (None: all of them); the others are kept in ``RESERVE``.

``tests/test_mutants.py`` puts the variants into submissions (never two variants that touch
one another's tests in the same notebook), grades them through ``autograder/course.py grade``
like any class, and checks that every wrong variant loses points on its exercise and every
correct one keeps them all.
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
    return module


def plan(catalogue) -> list[dict]:
    """Pack variants into notebooks: ``[{answer_cell_id: Variant}]``.

    Two variants share a notebook only if they change different exercises and neither
    exercise's tests call the other's answer cell, so each verdict is about one variant alone.
    """
    deps = {ex: set(calls) for ex, (_, calls) in catalogue.EXERCISES.items()}

    def clash(a: str, b: str) -> bool:
        return a == b or a in deps[b] or b in deps[a]

    notebooks: list[dict] = []
    for variant in catalogue.VARIANTS:
        for nb in notebooks:
            if not any(clash(variant.exercise, other) for other in nb):
                nb[variant.exercise] = variant
                break
        else:
            notebooks.append({variant.exercise: variant})
    return notebooks
