"""Operations that run where the learner's objects live (the kernel when grading).

:func:`learner_autograd` runs a learner's module or function under torch autograd and returns
outputs and gradients as NumPy arrays. When its callable is a remote handle (grading), the
operation is sent to the kernel, which runs this same code on its own objects and sends back
values only; otherwise (a learner running the test cell) it runs here.
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(value):
    """An array from a NumPy array, a torch tensor (detached, on the CPU) or a number; tuples,
    lists and dicts are converted entry by entry."""
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _autograd_here(fn, inputs, upstream, dtype="float64"):
    tdtype = getattr(torch, dtype)
    xs = []
    for a in inputs:
        if a is None:
            xs.append(None)
        else:
            xs.append(torch.tensor(np.asarray(to_numpy(a), dtype=dtype), dtype=tdtype,
                                   requires_grad=True))
    out = fn(*xs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    flat = []
    for o in outs:                                     # an LSTM cell returns (h, c)
        if isinstance(o, (tuple, list)):
            flat.extend(o)
        else:
            flat.append(o)
    if len(flat) != len(upstream):
        raise AssertionError(f"the module returned {len(flat)} tensors, the test expected "
                             f"{len(upstream)}")
    loss = 0
    for o, u in zip(flat, upstream):
        if not isinstance(o, torch.Tensor):
            raise AssertionError(f"the module returned a {type(o).__name__} where a tensor was "
                                 f"expected")
        loss = loss + (o * torch.as_tensor(np.asarray(u), dtype=o.dtype)).sum()
    params = list(fn.named_parameters()) if isinstance(fn, torch.nn.Module) else []
    for _, p in params:
        p.grad = None
    loss.backward()
    grads_in = [None if x is None or x.grad is None else x.grad.numpy().copy() for x in xs]
    grads_p = {name: (None if p.grad is None else p.grad.detach().cpu().numpy().copy())
               for name, p in params}
    return [to_numpy(o).copy() for o in flat], grads_in, grads_p


def learner_autograd(fn, inputs, upstream, dtype="float64"):
    """Outputs and gradients of a learner's module or function under torch autograd.

    The inputs become tensors of ``dtype`` that require gradients; the loss is
    ``sum_k (outputs[k] * upstream[k]).sum()`` over the returned tensors (a returned tuple
    such as LSTM's ``(h, c)`` is flattened).

    Args:
        fn: the learner's module (or function) taking tensors.
        inputs: arrays (or ``None`` to pass ``None``), one per positional argument.
        upstream: one array per returned tensor, the gradient of the loss on it.
        dtype: "float64" or "float32".

    Returns:
        outputs: list of arrays; input_grads: list of arrays (None where an input got none);
        param_grads: ``{name: array}`` over ``fn.named_parameters()`` (empty for a function).
    """
    from rnnkit.testing import remote
    if isinstance(fn, remote.Remote):
        return remote.call_op("autograd", fn, list(inputs), list(upstream), dtype)
    return _autograd_here(fn, inputs, upstream, dtype)


OPS = {"autograd": _autograd_here}
"""The operations the kernel may be asked to run, by name (see rnnkit.testing.remote)."""
