"""Small torch models and ready-made experiments the lessons share."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .tasks import adding_problem
from .training import train_torch

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class LastStepRegressor(nn.Module):
    """A recurrent layer followed by a linear read-out of its last hidden state.

    ``y = W_out h_T + b_out`` where ``h_T`` is the top layer's hidden state after the last step.

    Args:
        kind: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        input_size: D.  hidden_size: H.  num_layers: stacked layers.
        forget_bias: for an LSTM, the value given to the forget-gate biases (``b_if + b_hf``);
            ``None`` keeps torch's initialisation.

    Shape:
        input ``(N, T, D)`` -> output ``(N,)``.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 forget_bias: float | None = None):
        super().__init__()
        if kind not in _LAYERS:
            raise ValueError(f"kind must be one of {sorted(_LAYERS)}, got {kind!r}")
        self.rnn = _LAYERS[kind](input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, 1)
        if forget_bias is not None:
            if kind != "lstm":
                raise ValueError("forget_bias only applies to an LSTM")
            H = hidden_size
            with torch.no_grad():
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        p[H:2 * H].fill_(forget_bias)          # gate order i, f, g, o
                    elif name.startswith("bias_hh"):
                        p[H:2 * H].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)                  # (N, T, H)
        return self.out(out[:, -1]).squeeze(-1)  # (N,)


def adding_experiment(kind: str, T: int, steps: int, hidden_size: int = 64, lr: float = 1e-3,
                      batch_size: int = 64, clip: float | None = 1.0, n_test: int = 1000,
                      eval_every: int = 100, seed: int = 0, forget_bias: float | None = None,
                      desc: str | None = None) -> dict:
    """Train a :class:`LastStepRegressor` on the adding problem of length ``T``.

    Each step draws a fresh batch; a fixed test set of ``n_test`` sequences is scored every
    ``eval_every`` steps. Always predicting 1 scores 1/6; a model that solves the task
    goes well under 0.01.

    Returns:
        The history of :func:`rnnkit.training.train_torch` plus ``"model"`` and ``"final_mse"``.
    """
    torch.manual_seed(seed)
    model = LastStepRegressor(kind, 2, hidden_size, forget_bias=forget_bias)
    x_test, y_test = (torch.from_numpy(a) for a in adding_problem(n_test, T, seed=10_000 + seed))
    rng = np.random.default_rng(seed)

    def batch_fn(step):
        x, y = adding_problem(batch_size, T, seed=rng)
        return torch.from_numpy(x), torch.from_numpy(y)

    def loss_fn(m, x, y):
        return torch.mean((m(x) - y) ** 2)

    history = train_torch(model, batch_fn, loss_fn, steps=steps, lr=lr, clip=clip,
                          eval_fn=lambda: loss_fn(model, x_test, y_test), eval_every=eval_every,
                          desc=desc or f"{kind.upper()} T={T}", seed=seed)
    history["model"] = model
    history["final_mse"] = history["eval"][-1]
    return history
