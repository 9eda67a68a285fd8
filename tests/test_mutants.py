"""Mutation testing: every wrong variant of an exercise loses points on it, every correct
variant keeps them all (on every test cell that calls it), and a wrong forward leaves a right
backward its points, through the real grading path (see tests/mutants/__init__.py)."""

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

    def points(grades, tests):
        missing = [t for t in tests if t not in grades]
        assert not missing, f"{lesson}: the catalogue names unknown test cells {missing}"
        return sum(grades[t][2] or 0 for t in tests), sum(grades[t][1] for t in tests)

    for i, replacements in enumerate(notebooks):
        grades = rows.get((f"mutant{i:02d}", lesson))
        assert grades, f"mutant{i:02d}/{lesson} was not graded:\n{log}"
        for exercise, variant in replacements.items():
            tests = list(catalogue.EXERCISES[exercise][0])
            if variant.correct:                # every test cell that calls it keeps its points
                through = mutants.untouched_callers(catalogue, exercise, replacements)
                assert through == mutants.callers(catalogue, exercise), (
                    f"{lesson}: mutant{i:02d} changes a caller of {exercise} or what it calls")
                tests += [t for ex in through for t in catalogue.EXERCISES[ex][0]]
            score, top = points(grades, tests)
            ok = (score == top) if variant.correct else (score < top)
            MUTATION_RESULTS.append({"lesson": lesson, "correct": variant.correct, "ok": ok})
            if not ok:
                kind = "correct variant lost points" if variant.correct else "wrong variant kept every point"
                failures.append(f"{exercise} / {variant.name}: {kind} ({score:g}/{top:g} on "
                                f"{', '.join(tests)}, mutant{i:02d})")
            if variant.correct:
                continue
            fallback = mutants.untouched_callers(catalogue, exercise, replacements, fallback=True)
            if (exercise, variant.name) in catalogue.NOT_SEPARATED:
                fallback = []
            if (exercise, variant.name) in catalogue.PAIRS:
                assert fallback == mutants.fallback_callers(catalogue, exercise), (
                    f"{lesson}: mutant{i:02d} changes a caller of {exercise} or what it calls")
            for caller in fallback:
                tests = catalogue.EXERCISES[caller][0]
                score, top = points(grades, tests)
                if score != top:
                    failures.append(f"{exercise} / {variant.name}: the right {caller} lost points "
                                    f"because of it ({score:g}/{top:g} on {', '.join(tests)}, "
                                    f"mutant{i:02d}); its tests should fall back on the "
                                    f"documented cache")
    assert not failures, f"{lesson}:\n" + "\n".join(failures)


@pytest.mark.parametrize("lesson", LESSONS)
def test_fallbacks_are_exercised(lesson):
    """Every FALLBACK callee has a wrong variant in PAIRS, so the fallback is tried for real."""
    catalogue = mutants.load(lesson)
    for caller, callees in catalogue.FALLBACK.items():
        for callee in callees:
            assert any(ex == callee for ex, _ in catalogue.PAIRS), (
                f"{lesson}: FALLBACK[{caller!r}] names {callee}, but PAIRS has no wrong variant "
                f"of it")
