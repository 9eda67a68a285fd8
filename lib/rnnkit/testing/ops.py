"""Helpers that let a harness act on the learner's objects the same way in both places.

A harness's learner objects are the learner's own (a learner running the test cell) or
:class:`rnnkit.testing.remote.Remote` handles to them (grading). The helpers below take either:

* :func:`kept_call`, :func:`element`, :func:`kept`: keep objects where the learner's objects
  live, so that a second call works on the same objects (a cache called twice, an argument
  written in place) in both places;
* :func:`repeated_call`: many calls of one function on the same objects (draws of a sampler);
  :func:`method`: a method call in one request;
* :func:`learner_autograd`: autograd through a learner's module, only where the harness runs
  in the learner's own process (the grader cannot run it: it would be a judgement made in the
  kernel, see :mod:`rnnkit.testing.kernel_side`).

None of them runs code of rnnkit in the learner's kernel: when grading, they only ask the
kernel's generic operations (call, store, fetch) for the learner's values.
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


def is_remote(obj) -> bool:
    """True when ``obj`` is a handle to an object of the learner's kernel (grading)."""
    from rnnkit.testing import remote
    return isinstance(obj, remote.Remote)


def kept_call(fn, *args):
    """``fn(*args)``, and the result where ``fn`` lives: ``(value, obj)``. Locally both are the
    result; when grading, ``obj`` is a handle to the kernel's result."""
    if is_remote(fn):
        from rnnkit.testing import remote
        return remote.call_kept(fn, *args)
    result = fn(*args)
    return result, result


def element(obj, key):
    """``obj[key]`` where ``obj`` lives (a handle to it when ``obj`` is one)."""
    if is_remote(obj):
        from rnnkit.testing import remote
        return remote.call_method(obj, "__getitem__", key, keep=True)
    return obj[key]


def kept(like, value):
    """``value`` where ``like`` lives: itself locally, a handle to the kernel's copy when
    ``like`` is a handle (so that the learner's calls on it all see one object)."""
    if is_remote(like):
        from rnnkit.testing import remote
        return remote.store(like, value)[0]
    return value


def method(obj, name: str, *args):
    """``obj.<name>(*args)``: when grading, one request to the kernel (reading the bound method
    and calling it would take two)."""
    if is_remote(obj):
        from rnnkit.testing import remote
        return remote.call_method(obj, name, *args)
    return getattr(obj, name)(*args)


def repeated_call(fn, n: int, *args) -> list:
    """The results of ``n`` calls ``fn(*args)`` on the same argument objects."""
    if is_remote(fn):
        from rnnkit.testing import remote
        return list(remote.call_repeated(fn, n, *args))
    return [fn(*args) for _ in range(int(n))]


def learner_autograd(fn, inputs, upstream, dtype="float64"):
    """Outputs and gradients of a learner's module or function under torch autograd, computed
    here: only where the module is a local object (a learner running the test cell).

    The inputs become tensors of ``dtype`` that require gradients; the loss is
    ``sum_k (outputs[k] * upstream[k]).sum()`` over the returned tensors (a returned tuple
    such as LSTM's ``(h, c)`` is flattened).

    When grading, the module lives in the learner's kernel, and gradients computed there would
    be the kernel's claim, not a value the grader can check: harnesses check a module's
    gradients from outside by finite differences of its forward values instead, and this
    function refuses a handle (``TypeError``).

    Args:
        fn: the learner's module (or function) taking tensors.
        inputs: arrays (or ``None`` to pass ``None``), one per positional argument.
        upstream: one array per returned tensor, the gradient of the loss on it.
        dtype: "float64" or "float32".

    Returns:
        outputs: list of arrays; input_grads: list of arrays (None where an input got none);
        param_grads: ``{name: array}`` over ``fn.named_parameters()`` (empty for a function).
    """
    if is_remote(fn):
        raise TypeError("learner_autograd runs only where the module is a local object: the "
                        "grader cannot trust gradients computed in the learner's kernel")
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
