"""Training loops with progress bars, and the switch between learner and grading mode.

nbgrader sets the environment variable ``NBGRADER_EXECUTION`` while it validates or autogrades
a notebook. Experiments read :func:`grading_mode` and shrink to a few seconds there; what is
graded never depends on them.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm


def grading_mode() -> bool:
    """True while nbgrader validates or autogrades (``NBGRADER_EXECUTION`` is set)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def budget(learner: int, grading: int) -> int:
    """Pick a size for an experiment: ``learner`` normally, ``grading`` under nbgrader."""
    return grading if grading_mode() else learner


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs):
    """``tqdm.auto`` over ``iterable``: a widget in JupyterLab, text in a terminal.

    The bar is disabled in grading mode (nbgrader would store it as output for nothing).
    """
    return tqdm(iterable, desc=desc, total=total, disable=grading_mode() or None,
                leave=kwargs.pop("leave", True), **kwargs)


def train_torch(model: nn.Module, batch_fn: Callable[[int], tuple], loss_fn: Callable,
                steps: int, lr: float = 1e-3, clip: float | None = 1.0,
                eval_fn: Callable[[], float] | None = None, eval_every: int = 100,
                desc: str = "training", seed: int = 0) -> dict:
    """Train a torch model with Adam, optional clipping by global norm, and a progress bar.

    Args:
        model: the module to train.
        batch_fn: ``batch_fn(step) -> (inputs, targets)`` as tensors.
        loss_fn: ``loss_fn(model, inputs, targets) -> scalar tensor``.
        steps: number of optimisation steps.
        lr: Adam's learning rate.
        clip: max global gradient norm, or ``None`` for no clipping.
        eval_fn: called every ``eval_every`` steps and at the end; returns a float (test loss).
        seed: seeds torch locally for reproducible runs.

    Returns:
        ``{"step": [...], "loss": [...], "eval_step": [...], "eval": [...], "grad_norm": [...]}``
        with one training loss and one pre-clipping gradient norm per step.
    """
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"step": [], "loss": [], "grad_norm": [], "eval_step": [], "eval": []}
    bar = progress(range(1, steps + 1), desc=desc)
    for step in bar:
        inputs, targets = batch_fn(step)
        model.train()
        loss = loss_fn(model, inputs, targets)
        opt.zero_grad()
        loss.backward()
        max_norm = clip if clip is not None else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        history["step"].append(step)
        history["loss"].append(loss.item())
        history["grad_norm"].append(float(norm))
        if eval_fn is not None and (step % eval_every == 0 or step == steps):
            model.eval()
            with torch.no_grad():
                value = float(eval_fn())
            history["eval_step"].append(step)
            history["eval"].append(value)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(test=f"{value:.4f}")
    return history
