import numpy as np
import pytest

from rnnkit.long_tasks import IGNORE, anbn, delayed_recall, recall_baseline


def test_delayed_recall_layout():
    x, y = delayed_recall(50, 12, K=5, seed=0)
    assert x.shape == (50, 12, 7) and x.dtype == np.float32
    assert y.shape == (50,) and y.dtype == np.int64
    assert np.all(x[:, :-1, :5].sum(-1) == 1)              # one symbol at every step but the last
    assert np.all(x[:, -1, :5] == 0)
    assert np.array_equal(x[:, :, 5].sum(1), np.ones(50)) and np.all(x[:, 0, 5] == 1)
    assert np.array_equal(x[:, :, 6].sum(1), np.ones(50)) and np.all(x[:, -1, 6] == 1)
    assert np.array_equal(x[:, 0, :5].argmax(-1), y)        # the target is the stored symbol


def test_delayed_recall_seeded_and_validates():
    a, _ = delayed_recall(4, 6, seed=1)
    b, _ = delayed_recall(4, 6, seed=1)
    c, _ = delayed_recall(4, 6, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError):
        delayed_recall(4, 1)
    assert recall_baseline(8) == {"accuracy": 0.125, "cross_entropy": pytest.approx(np.log(8))}


def test_anbn_inputs_and_targets():
    x, y = anbn([1, 3], length=8)
    assert x.shape == (2, 8, 2) and y.shape == (2, 8)
    assert "".join("ab"[c] if x[1, t].any() else "." for t, c in enumerate(x[1].argmax(-1))) == "aaabbb.."
    assert y[1].tolist() == [IGNORE, IGNORE, IGNORE, 0, 0, 1, IGNORE, IGNORE]
    assert y[0].tolist() == [IGNORE, 1] + [IGNORE] * 6
    x2, _ = anbn([4])
    assert x2.shape == (1, 8, 2)
    with pytest.raises(ValueError):
        anbn([3], length=5)
    with pytest.raises(ValueError):
        anbn([0])


def test_experiments_matched_budgets_and_parameter_table():
    from rnnkit import experiments as lab
    for D, sizes in lab.MATCHED.items():
        counts = {k: lab.count(lab.make_layer(k, D, H)) for k, H in sizes.items()}
        assert max(counts.values()) / min(counts.values()) < 1.04, counts
    for row in lab.parameter_table():
        if "proj_size" not in row["config"]:
            assert row["gru/lstm"] == 0.75 and 4 * row["rnn"] == row["lstm"], row
        else:
            assert row["rnn"] is None and row["gru"] is None


def test_experiment_runs_are_tiny_and_shaped():
    from rnnkit import experiments as lab
    h = lab.adding_run("gru", 6, 3, n_train=10, n_test=8, eval_every=2, show_progress=False)
    assert h["eval_step"] == [2, 3] and len(h["test_mse"]) == 2 and len(h["train_mse"]) == 2
    h = lab.recall_run("lstm", 5, 2, n_test=8, show_progress=False)
    assert 0 <= h["test_acc"][-1] <= 1
    h = lab.anbn_run("rnn", 2, n_train_max=3, n_test_max=5, show_progress=False)
    assert len(h["correct_by_n"]) == 5 and 0 <= h["generalises_to"] <= 5
    row = lab.speed_vs_length((4,), N=2, D=3, H=4, min_run_time=0.01, show_progress=False)[0]
    assert row["median_ms"] > 0 and row["ms_per_step"] == row["median_ms"] / 4
