"""Mutation testing: every wrong variant of an exercise loses points on it, every correct
variant keeps them all, through the real grading path (see tests/mutants/__init__.py)."""

import pytest

import mutants
from conftest import MUTATION_RESULTS, lesson_ids

LESSONS = lesson_ids()


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_has_a_mutation_catalogue(lesson):
    catalogue = mutants.load(lesson)
    assert catalogue is not None, f"tests/mutants/{lesson}.py is missing"
    kinds = {(v.exercise, v.correct) for v in catalogue.VARIANTS}
    for exercise in catalogue.EXERCISES:
        assert (exercise, False) in kinds, f"{lesson}: no wrong variant of {exercise}"
        assert (exercise, True) in kinds, f"{lesson}: no correct variant of {exercise}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_wrong_variants_lose_points_and_correct_ones_keep_them(graded_course, lesson):
    root, rows, log, plans = graded_course
    if lesson not in plans:
        pytest.skip(f"no catalogue for {lesson}")
    catalogue, notebooks = plans[lesson]
    failures = []
    for i, replacements in enumerate(notebooks):
        grades = rows.get((f"mutant{i:02d}", lesson))
        assert grades, f"mutant{i:02d}/{lesson} was not graded:\n{log}"
        for exercise, variant in replacements.items():
            tests = catalogue.EXERCISES[exercise][0]
            missing = [t for t in tests if t not in grades]
            assert not missing, f"{lesson}: the catalogue names unknown test cells {missing}"
            score = sum(grades[t][2] or 0 for t in tests)
            top = sum(grades[t][1] for t in tests)
            ok = (score == top) if variant.correct else (score < top)
            MUTATION_RESULTS.append({"lesson": lesson, "correct": variant.correct, "ok": ok})
            if not ok:
                kind = "correct variant lost points" if variant.correct else "wrong variant kept every point"
                failures.append(f"{exercise} / {variant.name}: {kind} ({score:g}/{top:g}, mutant{i:02d})")
    assert not failures, f"{lesson}:\n" + "\n".join(failures)
