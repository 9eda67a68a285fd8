"""The learner kernel's side of the grading channel (see :mod:`rnnkit.testing.remote`).

The grader evaluates ``rnnkit.testing.kernel_side.serve(request)`` in the kernel as an
``execute_request`` user expression. :func:`serve` decodes the request, runs it on the
notebook's objects and returns the answer as a JSON string: values only, and a numbered handle
for anything that is not a value (kept in :data:`HANDLES` for later requests).

The operations are generic, and none of them judges anything:

``ref``      a handle to a name of the notebook;
``getattr``  an attribute of an object;
``call``     call an object (or its method ``attr``) with arguments, ``repeat`` times when
             asked (the list of the results);
``store``    keep the grader's values here, one handle each (the kernel's own copies);
``fetch``    the values of objects held by handle.

``call`` and ``getattr`` with ``keep`` keep their result here too: ``"handle"`` answers its
handle, ``"both"`` the pair (handle, value).

Nothing here is trusted by the grader: the learner's code can replace this module, and all it
gains is the power to send other values back, which the grader checks like any answer. Every
judgement (was an argument changed, are these draws from this distribution, are these
gradients right) is made in the grader, from values it fetched or computed itself.
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


def serve(request: str) -> str:
    """Run one request and return the JSON answer ``{"ok": value}`` or ``{"error": ...}``."""
    enc = codec.Encoder(keep=_keep, tensors_as_arrays=True)
    try:
        req = json.loads(request)
        dec = codec.Decoder(handle=_handle, tensors=True)
        args = dec.decode(req.get("args", []))
        kwargs = dec.decode(req.get("kwargs", {"__dict__": []}))
        op = req["op"]
        if op == "store":
            return _answer([{"__handle__": _keep(a)} for a in args])
        if op == "fetch":
            return _answer(enc.encode(args))
        if op not in ("ref", "getattr", "call"):
            raise ValueError(f"unknown operation {op!r}")
        target = _target(req["target"])
        if op == "ref":
            return _answer({"__handle__": _keep(target)})
        if op == "getattr":
            result = getattr(target, req["attr"])
        else:
            if "attr" in req:
                target = getattr(target, req["attr"])
            repeat = req.get("repeat")
            if repeat is None:
                result = target(*args, **kwargs)
            else:
                result = [target(*args, **kwargs) for _ in range(int(repeat))]
        keep = req.get("keep")
        if keep == "handle":
            return _answer({"__handle__": _keep(result)})
        if keep == "both":
            return _answer({"__tuple__": [{"__handle__": _keep(result)}, enc.encode(result)]})
        return _answer(enc.encode(result))
    except BaseException as err:            # KeyboardInterrupt too: the grader reports it
        tb = traceback.extract_tb(err.__traceback__)
        where = ""
        for frame in reversed(tb):
            if "rnnkit" not in frame.filename:
                where = f"line {frame.lineno} of {frame.name}"
                break
        return json.dumps({"error": {"ename": type(err).__name__, "evalue": str(err)[:2000],
                                     "where": where}})


def _answer(encoded) -> str:
    return json.dumps({"ok": encoded}, allow_nan=False, separators=(",", ":"))
