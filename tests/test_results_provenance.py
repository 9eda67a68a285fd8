"""Lesson 05's results file was produced by the current experiments code (issue 18).

`make experiments` records in solutions/05_lstm_vs_gru/results.json the SHA-256 of the files that
decide the results (``rnnkit.experiments.CODE_FILES``: the sweep's code, the tasks, the text of the
language model), the git commit and the machine. These tests fail

* when that code changed after the results were made: rerun ``make experiments`` (it also
  releases the lesson, so that lessons/05_lstm_vs_gru/results.json is the same file);
* when the released lesson ships another results file than the solutions';
* when lesson 05's prose still holds a placeholder for a figure of the results, or quotes a
  figure of the new verdicts (float64 and float32 speed ratios, delayed recall at the best rates,
  the language model) that the results file does not hold.
"""

import hashlib
import json
import re

import numpy as np
import pytest

from conftest import REPO, load_nb

LESSON = "05_lstm_vs_gru"
RESULTS = REPO / "solutions" / LESSON / "results.json"
RELEASED = REPO / "lessons" / LESSON / "results.json"
PLACEHOLDER = re.compile(r"\{\{(FROM_RESULTS|CHECK)[^}]*\}\}")


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def _markdown(top="solutions"):
    nb = load_nb(REPO / top / LESSON / f"{LESSON}.ipynb")
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): re.sub(r"\s+", " ", "".join(c["source"]))
            for c in nb["cells"] if c["cell_type"] == "markdown"}


def _filled(text, what):
    left = PLACEHOLDER.findall(text)
    assert not left, f"lesson 05: fill the {len(left)} placeholder(s) of {what} from results.json first"


# ---------------------------------------------------------------- provenance

def test_results_record_the_code_and_the_machine(results):
    assert "code" in results and "machine" in results, (
        "results.json records no code version or machine: it predates the current rnnkit.experiments; "
        "run `make experiments`")
    code, machine = results["code"], results["machine"]
    assert re.fullmatch(r"[0-9a-f]{64}", code["sha256"]) and code["files"], code
    assert "git_commit" in code and "git_dirty" in code, code
    for key in ("cpu", "physical_cores", "logical_cpus", "threads_per_run", "parallel_runs", "torch"):
        assert machine.get(key) not in (None, ""), f"results.json's machine has no {key}: {machine}"


def test_results_were_made_by_the_current_experiments_code(results):
    from rnnkit import experiments as lab
    recorded = results.get("code", {})
    source = (REPO / "lib" / "rnnkit" / "experiments.py").read_bytes()
    assert recorded.get("files", {}).get("experiments.py") == hashlib.sha256(source).hexdigest(), (
        "lib/rnnkit/experiments.py changed after solutions/05_lstm_vs_gru/results.json was made: "
        "run `make experiments` (it rewrites the file and releases the lesson)")
    now = lab.source_digest()
    changed = sorted(n for n, h in now["files"].items() if recorded["files"].get(n) != h)
    assert recorded["sha256"] == now["sha256"], (
        f"results.json was made by other code than the current one (changed since: {changed}): "
        "run `make experiments`")


def test_released_lesson_ships_the_same_results():
    if RELEASED.exists():
        assert RELEASED.read_bytes() == RESULTS.read_bytes(), (
            "lessons/05_lstm_vs_gru/results.json differs from the solutions' one: "
            "run `make release LESSON=05_lstm_vs_gru`")


# ---------------------------------------------------------------- prose against the results

@pytest.mark.parametrize("top", ["solutions", "lessons"])
def test_no_placeholder_left_in_the_prose(top):
    nb = load_nb(REPO / top / LESSON / f"{LESSON}.ipynb")
    left = [(i, m.group(0)[:70]) for i, c in enumerate(nb["cells"])
            for m in PLACEHOLDER.finditer("".join(c["source"]))]
    assert not left, f"{top}/{LESSON}: {len(left)} placeholder(s) to fill from results.json, e.g. {left[:3]}"


def _speed_ratios(results, dtype, budget, key):
    """GRU/LSTM of ``key`` for each shape, in the order of the results file."""
    out = []
    for r in results["speed"]:
        if r["kind"] == "lstm" and r["onednn"] and r["dtype"] == dtype and r["budget"] == budget:
            g = next(x for x in results["speed"] if x["kind"] == "gru" and x["onednn"] and x["dtype"] == dtype
                     and x["budget"] == budget and (x["N"], x["T"], x["D"]) == (r["N"], r["T"], r["D"]))
            out.append(g[key] / r[key])
    return out


def test_speed_ratios_in_the_prose_match_the_results(results):
    """Section 5 states, in this order, 'A and B (fastest blocks C and D)' for float64 equal sizes,
    float64 equal parameters, float32 equal sizes, float32 equal parameters (GRU/LSTM)."""
    text = _markdown()["md_017"]
    _filled(text, "section 5's speed ratios")
    found = re.findall(r"(\d+\.\d+) and (\d+\.\d+) \(fastest blocks (\d+\.\d+) and (\d+\.\d+)\)", text)
    order = [("float64", "equal sizes"), ("float64", "equal parameters"),
             ("float32", "equal sizes"), ("float32", "equal parameters")]
    assert len(found) == len(order), f"lesson 05 section 5: expected {len(order)} ratio groups, found {found}"
    for (dtype, budget), stated in zip(order, found):
        want = _speed_ratios(results, dtype, budget, "median_ms") + _speed_ratios(results, dtype, budget, "min_ms")
        got = [float(v) for v in stated]
        assert np.allclose(got, want, atol=0.0051), (
            f"lesson 05 says GRU/LSTM {got} for {dtype}, {budget}; results.json: {[round(w, 2) for w in want]}")


def test_recall_seeds_solved_in_the_prose_match_the_results(results):
    text = _markdown()["md_025"]
    _filled(text, "section 7's reading")
    names = {"LSTM": "lstm", "GRU": "gru", "plain RNN": "rnn"}
    found = re.findall(r"(LSTM|GRU|plain RNN): \$T = (\d+)\$: (\d+) of (\d+), \$T = (\d+)\$: (\d+) of (\d+)", text)
    assert len(found) == 3, f"lesson 05 section 7: expected the seeds solved for 3 architectures, found {found}"
    for name, *rest in found:
        for T, k, n in (rest[0:3], rest[3:6]):
            runs = [r for r in results["runs"]["recall"] if r["kind"] == names[name] and r["arg"] == int(T)]
            solved = sum(r["test_acc"][-1] > 0.9 for r in runs)
            assert (int(k), int(n)) == (solved, len(runs)), (
                f"lesson 05 says the {name} solved recall T={T} in {k} of {n} seeds; results.json: {solved} of {len(runs)}")


def test_language_model_in_the_prose_matches_the_results(results):
    text = _markdown()["md_035"]
    _filled(text, "section 9's reading")
    m = re.search(r"the LSTM reached a test perplexity of (\d+\.\d+) \[(\d+\.\d+), (\d+\.\d+)\] "
                  r"and the GRU (\d+\.\d+) \[(\d+\.\d+), (\d+\.\d+)\]", text)
    assert m, "lesson 05 section 9 should state both test perplexities as 'median [min, max]'"
    for kind, stated in (("lstm", m.groups()[:3]), ("gru", m.groups()[3:])):
        ppl = [r["test_ppl"] for r in results["runs"]["lm"] if r["kind"] == kind]
        want = [float(np.median(ppl)), min(ppl), max(ppl)]
        assert np.allclose([float(v) for v in stated], want, atol=0.0051), (
            f"lesson 05 says the {kind} perplexity is {stated}; results.json: {[round(w, 2) for w in want]}")


def test_claims_table_names_each_setting():
    """The claims table's rows on measurements name their setting (seeds, threads, rates): the
    row's code, with the lines that prepare it since the previous row, says so."""
    nb = load_nb(REPO / "solutions" / LESSON / f"{LESSON}.ipynb")
    code = next("".join(c["source"]) for c in nb["cells"] if "def claims_table" in "".join(c["source"]))
    blocks = code.split("rows.append(")
    for claim in ("GRU trains faster per step", "GRU converges faster", "delayed recall",
                  "language modelling", "does not depend on the learning rate"):
        found = [i for i, b in enumerate(blocks) if b.lstrip("(").lstrip().startswith(f'"{claim}')
                 or b.lstrip("(").lstrip().startswith(f'"LSTM is better on very long dependencies: {claim}')
                 or (claim in b.split("\n")[0])]
        assert found, f"lesson 05's claims table has no row for {claim!r}"
        i = found[0]
        row = blocks[i - 1].split("\n\n")[-1] + blocks[i]          # the row and what prepares it
        needed = (["thread", "float32", "float64"] if claim == "GRU trains faster per step"
                  else ["seeds", r"lr |rates\("])
        missing = [n for n in needed if not re.search(n, row)]
        assert not missing, f"lesson 05's claims table row {claim!r} does not name its setting: {missing}"
