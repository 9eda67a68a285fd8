"""Harnesses for the lessons' test cells, and the channel that lets them grade from outside.

A test cell of the course reads as a few calls, one visible case and then the hidden ones::

    # Tests of gru_step_forward: torch.nn.GRUCell with the same weights is the reference.
    from rnnkit.testing import gru as tests
    tests.step_forward(gru_step_forward, N=3, D=4, H=5, seed=0)
    print("gru_step_forward matches torch.nn.GRUCell (visible tests passed)")
    # then, between nbgrader's hidden-tests markers (kept out of every released lesson):
    for case in tests.random_sizes(n=..., seed=hidden_seed(...)):
        tests.step_forward(gru_step_forward, **case)

The same cell runs in two places:

* **In the learner's kernel** (JupyterLab, Validate): ``gru_step_forward`` is the learner's
  function and the harness calls it directly. This is feedback only.
* **In the grader process** (``make grade``, ``make check``): the cell never enters the
  learner's kernel. It runs in a separate process outside the sandbox, where every name the
  cell does not bind itself (``gru_step_forward``) is a :class:`rnnkit.testing.remote.Remote`
  that calls the learner's object in the kernel through a narrow channel and gets back
  **values only**: NumPy arrays (a tensor comes back as an array), numbers, strings, ``None``,
  and tuples, lists and dicts of them. Anything else (a cache of the learner's own structure, a
  module instance) stays in the kernel and comes back as an opaque handle, which the harness
  may pass back to the learner's functions, call, or read attributes from. The kernel runs
  only generic operations (call, getattr, store a value, fetch a value back: see
  :mod:`rnnkit.testing.kernel_side`) and no code of rnnkit that judges; every judgement is
  made in the grader, from values it fetched or computed itself.

Rules a harness follows so that it works the same in both places:

1. The learner's callables are **arguments** of the harness (never looked up by name).
2. Call them only with NumPy arrays, torch tensors, Python numbers, strings, ``None``, tuples,
   lists and dicts of these, objects a learner call returned (caches, module instances), and
   built-in ``torch.nn`` modules (RNN, LSTM, GRU, their cells, Linear), which travel as their
   class, constructor arguments and state.
3. Treat what comes back as data: compare it with :mod:`rnnkit.checks` (which accepts arrays
   and tensors), turn it into an array with :func:`to_numpy`; never call tensor methods on it
   (``.detach()``, ``.numpy()``), never ``isinstance`` it against a learner's class. Learner
   objects that are not data (module instances) may be called, have their methods called
   (``cell.load_state_dict(sd)``, ``cell.double()``) and attributes read (``cell.hidden_size``);
   a built-in ``torch.nn`` module a learner function returns comes back as a real module.
4. Judge only values: what the learner's calls return, and objects fetched back by handle
   (:mod:`rnnkit.testing.ops` keeps a cache or an argument where the learner's objects live,
   so that a second call sees what the first did to it, in both places). Nothing else computed
   in the kernel is trusted: gradients through a learner's module are checked by finite
   differences of its forward values; :func:`learner_autograd` (autograd through the module)
   runs only where the module is a local object, never when grading.
5. The reference (torch) is computed in the harness, in the grader's own process.
6. Hidden cases draw their seeds from :func:`hidden_seed`, so each submission is graded on its
   own random values (the salt is fixed per student and lesson: regrading gives the same
   scores).

Importing this package in a learner's IPython kernel installs :mod:`rnnkit.testing.display`'s
exception handler: a failing test cell shows its message (and the line of the learner's code
that raised, when theirs did), not the harness's traceback.
"""

from __future__ import annotations

import os

import numpy as np

from rnnkit.testing import display
from rnnkit.testing.ops import learner_autograd, to_numpy

__all__ = ["hidden_seed", "learner_autograd", "to_numpy"]

display.install()


def hidden_seed(base: int) -> int:
    """The seed of a hidden case: ``base`` plus the per-submission salt.

    The grader sets ``RNNCOURSE_SEED_SALT`` for each submission (a number derived from the
    student and the lesson); without it (a learner running the cell) the salt is 0.
    """
    try:
        salt = int(os.environ.get("RNNCOURSE_SEED_SALT", "0"))
    except ValueError:
        salt = 0
    return int(base) + salt % 1_000_003


def _unused():  # pragma: no cover - keeps numpy imported for submodules' doctest examples
    return np
