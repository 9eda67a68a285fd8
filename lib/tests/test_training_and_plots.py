import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch

from rnnkit import training
from rnnkit.plotting import plot_curves, plot_grad_norms


def test_grading_mode_and_budget(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not training.grading_mode() and training.budget(100, 5) == 100
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert training.grading_mode() and training.budget(100, 5) == 5


def test_train_torch_reduces_loss_and_clips():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(256, 3, generator=gen)
    y = X @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)

    def loss_fn(m, a, b):
        return torch.mean((m(a).squeeze(-1) - b) ** 2)

    hist = training.train_torch(model, lambda s: (X, y), loss_fn, steps=300, lr=0.05, clip=1.0,
                                eval_fn=lambda: loss_fn(model, X, y), eval_every=100)
    assert len(hist["loss"]) == 300 and hist["eval_step"] == [100, 200, 300]
    assert hist["eval"][-1] < 0.01 * hist["loss"][0]


def test_plots_draw_every_curve():
    ax = plot_curves({"a": [3, 2, 1], "b": ([1, 5], [1, 0.5])}, baseline=1 / 6, logy=True)
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    ax = plot_grad_norms({"rnn": np.array([1e-3, 1e-2, 1.0])})
    xs, ys = ax.lines[0].get_data()
    assert list(xs) == [2, 1, 0] and ax.get_yscale() == "log"


def test_last_step_regressor_shapes_and_forget_bias():
    from rnnkit.models import LastStepRegressor
    m = LastStepRegressor("lstm", 2, 8, forget_bias=1.0)
    assert m(torch.zeros(3, 5, 2)).shape == (3,)
    assert torch.all(m.rnn.bias_ih_l0[8:16] == 1.0) and torch.all(m.rnn.bias_hh_l0[8:16] == 0.0)


def test_adding_experiment_learns_a_short_task():
    from rnnkit.models import adding_experiment
    hist = adding_experiment("gru", T=5, steps=300, hidden_size=16, lr=1e-2, eval_every=150,
                             n_test=200)
    assert hist["eval_step"] == [150, 300]
    assert hist["final_mse"] < 0.05                     # the 1/6 baseline is 0.167
