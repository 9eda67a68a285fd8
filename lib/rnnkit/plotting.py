"""Plots the lessons share: learning curves and gradient norms against distance."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_curves(curves: dict, ax=None, xlabel: str = "step", ylabel: str = "loss",
                logy: bool = False, baseline: float | None = None,
                baseline_label: str = "baseline", title: str = ""):
    """Plot named curves on one axis.

    Args:
        curves: ``{label: ys}`` or ``{label: (xs, ys)}``.
        baseline: draw a dashed horizontal line at this value (e.g. the 1/6 of the adding problem).

    Returns:
        The matplotlib ``Axes``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, values in curves.items():
        if isinstance(values, tuple) and len(values) == 2:
            xs, ys = values
        else:
            ys = values
            xs = np.arange(1, len(ys) + 1)
        ax.plot(xs, ys, label=str(label))
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--", label=baseline_label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def plot_grad_norms(norms: dict, ax=None, title: str = "gradient norm against distance"):
    """Plot ``||dL/dh_t||`` against the distance ``T - t`` on a log scale.

    Args:
        norms: ``{label: norms}``, each a ``(T,)`` array of norms for ``t = 1..T`` (the last
            entry is the step where the loss is taken, distance 0).
    """
    curves = {}
    for label, values in norms.items():
        values = np.asarray(values, dtype=np.float64)
        distance = np.arange(len(values))[::-1]                         # (T,)
        curves[label] = (distance, np.maximum(values, 1e-300))
    return plot_curves(curves, ax=ax, xlabel="distance T - t", ylabel="||dL/dh_t||",
                       logy=True, title=title)
