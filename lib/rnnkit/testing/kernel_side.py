"""The learner kernel's side of the grading channel (see :mod:`rnnkit.testing.remote`).

The grader evaluates ``rnnkit.testing.kernel_side.serve(request)`` in the kernel as an
``execute_request`` user expression. :func:`serve` decodes the request, runs it on the
notebook's objects and returns the answer as a JSON string: values only, and a numbered handle
for anything that is not a value (kept in :data:`HANDLES` for later requests).

Nothing here is trusted by the grader: the learner's code can replace this module, and all it
gains is the power to return other values, which the grader checks like any answer.
"""

from __future__ import annotations

import json
import traceback

from rnnkit.testing import codec

HANDLES: dict = {}
"""Objects of the kernel the grader holds a handle to, by number."""


def _keep(obj) -> int:
    n = len(HANDLES) + 1
    HANDLES[n] = obj
    return n


def _handle(n: int):
    if n not in HANDLES:
        raise codec.CodecError(f"no object with handle {n}")
    return HANDLES[n]


def _namespace():
    from IPython import get_ipython
    ip = get_ipython()
    return ip.user_ns if ip is not None else {}


def _target(spec):
    if "name" in spec:
        ns = _namespace()
        name = spec["name"]
        if name not in ns:
            raise NameError(f"name '{name}' is not defined in your notebook: run the cell that "
                            f"defines it (or check its spelling)")
        return ns[name]
    return _handle(spec["handle"])


def _op(name: str):
    """An operation of :data:`rnnkit.testing.ops.OPS`; harness modules of rnnkit.testing may
    register their own there, so they are imported when a name is not found."""
    from rnnkit.testing.ops import OPS
    if name not in OPS:
        import importlib
        import pkgutil

        import rnnkit.testing
        for info in pkgutil.iter_modules(rnnkit.testing.__path__):
            importlib.import_module(f"rnnkit.testing.{info.name}")
    if name not in OPS:
        raise KeyError(f"no grading operation named {name!r}")
    return OPS[name]


def serve(request: str) -> str:
    """Run one request and return the JSON answer ``{"ok": value}`` or ``{"error": ...}``."""
    enc = codec.Encoder(keep=_keep, tensors_as_arrays=True)
    try:
        req = json.loads(request)
        dec = codec.Decoder(handle=_handle, tensors=True)
        args = dec.decode(req.get("args", []))
        kwargs = dec.decode(req.get("kwargs", {"__dict__": []}))
        op = req["op"]
        if op == "op":
            result = _op(req["name"])(*args, **kwargs)
        else:
            target = _target(req["target"])
            if op == "ref":
                return json.dumps({"ok": {"__handle__": _keep(target)}})
            if op == "getattr":
                result = getattr(target, req["attr"])
            elif op == "call":
                result = target(*args, **kwargs)
            else:
                raise ValueError(f"unknown operation {op!r}")
        return json.dumps({"ok": enc.encode(result)}, allow_nan=False, separators=(",", ":"))
    except BaseException as err:            # KeyboardInterrupt too: the grader reports it
        tb = traceback.extract_tb(err.__traceback__)
        where = ""
        for frame in reversed(tb):
            if "rnnkit" not in frame.filename:
                where = f"line {frame.lineno} of {frame.name}"
                break
        return json.dumps({"error": {"ename": type(err).__name__, "evalue": str(err)[:2000],
                                     "where": where}})
