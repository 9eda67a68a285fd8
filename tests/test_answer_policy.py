"""The report's 'torch in a NumPy exercise' flag covers lesson 05's parameter counts too: a count
read off a module built with torch (on the meta device, with no weights) is flagged."""

import json
import sys

from conftest import REPO, load_nb

sys.path.insert(0, str(REPO / "autograder"))
import answer_policy  # noqa: E402

LESSON = "05_lstm_vs_gru"
SOLUTION = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"
BUILT = '''import torch
def num_parameters(kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                   proj_size=0):
    extra = {"proj_size": proj_size} if proj_size else {}
    m = getattr(torch.nn, kind.upper())(input_size, hidden_size, num_layers=num_layers, bias=bias,
                                        bidirectional=bidirectional, device="meta", **extra)
    return sum(p.numel() for p in m.parameters())
'''


def test_counting_by_building_the_module_is_flagged(tmp_path):
    nb = load_nb(SOLUTION)
    cell = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "num_parameters")
    cell["source"] = BUILT
    submitted = tmp_path / f"{LESSON}.ipynb"
    submitted.write_text(json.dumps(nb))
    assert answer_policy.flags(submitted, SOLUTION, LESSON) == \
        ["torch in a NumPy exercise: num_parameters"]
    assert answer_policy.flags(SOLUTION, SOLUTION, LESSON) == []      # the solution is not
    assert "time_forward_backward" not in answer_policy.numpy_exercises(SOLUTION, LESSON)
