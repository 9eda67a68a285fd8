"""Values that cross between the grader and the learner's kernel, and nothing else.

Encoding is JSON with a few tagged objects; decoding never unpickles:

============================  =================================================================
Python value                  JSON
============================  =================================================================
None, bool, int, float, str   themselves
tuple                         ``{"__tuple__": [...]}``
list                          ``[...]``
dict (str or int keys)        ``{"__dict__": [[key, value], ...]}``
NumPy array or scalar         ``{"__nd__": base64 of the .npy bytes}`` (``allow_pickle=False``;
                              object arrays are not values)
torch tensor                  ``{"__tensor__": base64 .npy, "grad": bool}`` from the grader; a
                              tensor the kernel sends back arrives as a NumPy array (``__nd__``)
built-in torch.nn module      ``{"__module__": class name, "init": {...}, "state": {...}}`` for
                              the classes of :data:`MODULES` (exact type, not subclasses)
NumPy random Generator        ``{"__rng__": its PCG64 bit generator's state}`` (the other side
                              builds ``np.random.Generator(PCG64)`` in that state)
anything else                 ``{"__handle__": n}``: it stays where it is; the number refers to
                              it in the process that holds it
============================  =================================================================

Limits: nesting depth 32, and whatever size the caller allows for the whole message.
"""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np

MAX_DEPTH = 32

MODULES = {
    "RNN": ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first",
            "dropout", "bidirectional"),
    "LSTM": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
             "bidirectional", "proj_size"),
    "GRU": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
            "bidirectional"),
    "RNNCell": ("input_size", "hidden_size", "bias", "nonlinearity"),
    "LSTMCell": ("input_size", "hidden_size", "bias"),
    "GRUCell": ("input_size", "hidden_size", "bias"),
    "Linear": ("in_features", "out_features", "bias"),
}
"""Built-in torch.nn classes that travel by value, with the constructor arguments they need."""


class CodecError(ValueError):
    """A message that is not a well-formed value."""


def _npy(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:        # (np.ascontiguousarray would make a 0-d array 1-d)
        arr = arr.copy(order="C")
    np.save(buf, arr, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _from_npy(text) -> np.ndarray:
    if not isinstance(text, str):
        raise CodecError("an array must be a base64 string")
    try:
        return np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except Exception as err:          # ValueError for object arrays, bad headers, ...
        raise CodecError(f"not an array: {err}") from None


def _module_init(module, name):
    init = {}
    for arg in MODULES[name]:
        if arg == "bias":          # Linear holds a Parameter or None, the others a bool
            init[arg] = module.bias is not None if name == "Linear" else bool(module.bias)
        else:
            init[arg] = getattr(module, arg)
    return init


class Encoder:
    """Turns values into JSON-ready structures; ``keep(obj) -> int`` stores what is not a value."""

    def __init__(self, keep=None, tensors_as_arrays: bool = False):
        self.keep = keep
        self.tensors_as_arrays = tensors_as_arrays

    def encode(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise CodecError("value nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) in (int,):
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"__nd__": _npy(np.float64(value))}
        if isinstance(value, np.ndarray) or isinstance(value, np.generic):
            arr = np.asarray(value)
            if arr.dtype.hasobject:
                return self._handle(value)
            return {"__nd__": _npy(arr)}
        torch = _torch()
        if torch is not None and type(value) is torch.Tensor or (
                torch is not None and isinstance(value, torch.nn.Parameter)):
            arr = value.detach().cpu().numpy()
            if self.tensors_as_arrays:
                return {"__nd__": _npy(arr)}
            return {"__tensor__": _npy(arr), "grad": bool(value.requires_grad)}
        if type(value) is np.random.Generator and type(value.bit_generator) is np.random.PCG64:
            return {"__rng__": value.bit_generator.state}
        if torch is not None and isinstance(value, torch.nn.Module) and \
                type(value).__name__ in MODULES and type(value) is getattr(torch.nn, type(value).__name__):
            name = type(value).__name__
            state = {k: _npy(v.detach().cpu().numpy()) for k, v in value.state_dict().items()}
            return {"__module__": name, "init": _module_init(value, name), "state": state,
                    "double": bool(any(p.dtype == torch.float64 for p in value.parameters()))}
        if type(value) is tuple:
            return {"__tuple__": [self.encode(v, depth + 1) for v in value]}
        if type(value) is list:
            return [self.encode(v, depth + 1) for v in value]
        if type(value) is dict or (type(value).__name__ == "OrderedDict" and isinstance(value, dict)):
            if all(type(k) in (str, int) for k in value):
                return {"__dict__": [[k, self.encode(v, depth + 1)] for k, v in value.items()]}
        return self._handle(value)

    def _handle(self, value):
        if self.keep is None:
            raise CodecError(f"a {type(value).__name__} cannot be sent")
        return {"__handle__": self.keep(value)}


class Decoder:
    """Turns JSON structures back into values; ``handle(n)`` gives what a handle refers to."""

    def __init__(self, handle=None, tensors: bool = True):
        self.handle = handle
        self.tensors = tensors

    def decode(self, obj, depth: int = 0):
        if depth > MAX_DEPTH:
            raise CodecError("value nested too deeply")
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, list):
            return [self.decode(v, depth + 1) for v in obj]
        if not isinstance(obj, dict) or len(obj) == 0:
            raise CodecError(f"unexpected {type(obj).__name__} in a message")
        if "__nd__" in obj:
            arr = _from_npy(obj["__nd__"])
            return arr[()] if arr.ndim == 0 and arr.dtype.kind in "fiub" else arr
        if "__tuple__" in obj:
            items = obj["__tuple__"]
            if not isinstance(items, list):
                raise CodecError("a tuple must hold a list")
            return tuple(self.decode(v, depth + 1) for v in items)
        if "__dict__" in obj:
            out = {}
            for pair in obj["__dict__"]:
                if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
                    raise CodecError("a dict must hold [key, value] pairs")
                out[pair[0]] = self.decode(pair[1], depth + 1)
            return out
        if "__handle__" in obj:
            if self.handle is None or type(obj["__handle__"]) is not int:
                raise CodecError("unexpected handle")
            return self.handle(obj["__handle__"])
        if "__tensor__" in obj:
            arr = _from_npy(obj["__tensor__"])
            if not self.tensors:
                return arr
            import torch
            t = torch.from_numpy(np.array(arr))
            if obj.get("grad") and t.is_floating_point():
                t.requires_grad_(True)
            return t
        if "__module__" in obj:
            return self._module(obj)
        if "__rng__" in obj:
            return _generator(obj["__rng__"])
        raise CodecError(f"unknown object with keys {sorted(obj)[:4]}")

    def _module(self, obj):
        import torch
        name = obj.get("__module__")
        if name not in MODULES:
            raise CodecError(f"{name!r} is not a module that travels by value")
        init = obj.get("init")
        if not isinstance(init, dict) or set(init) != set(MODULES[name]):
            raise CodecError(f"bad constructor arguments for {name}")
        for k, v in init.items():
            if not isinstance(v, (bool, int, float, str)):
                raise CodecError(f"bad constructor argument {k} for {name}")
        module = getattr(torch.nn, name)(**init)
        if obj.get("double"):
            module = module.double()
        state = obj.get("state")
        if not isinstance(state, dict):
            raise CodecError("a module needs its state")
        tensors = {k: torch.from_numpy(np.array(_from_npy(v))) for k, v in state.items()}
        try:
            module.load_state_dict(tensors, strict=True)
        except Exception as err:
            raise CodecError(f"the state does not fit a {name}: {err}") from None
        return module


def _generator(state) -> np.random.Generator:
    """A NumPy Generator (PCG64) in the state ``state`` (a dict of ints, as PCG64 reports it)."""
    ok = (isinstance(state, dict) and state.get("bit_generator") == "PCG64"
          and isinstance(state.get("state"), dict)
          and set(state["state"]) == {"state", "inc"}
          and all(type(v) is int for v in state["state"].values())
          and type(state.get("has_uint32")) is int and type(state.get("uinteger")) is int)
    if not ok:
        raise CodecError("a random generator must be given as a PCG64 state")
    bits = np.random.PCG64()
    try:
        bits.state = {"bit_generator": "PCG64", "state": dict(state["state"]),
                      "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}
    except (ValueError, TypeError, OverflowError) as err:
        raise CodecError(f"not a PCG64 state: {err}") from None
    return np.random.Generator(bits)


def dumps(obj) -> str:
    return json.dumps(obj, allow_nan=False, separators=(",", ":"))


def loads(text: str, max_bytes: int):
    if len(text) > max_bytes:
        raise CodecError(f"message of {len(text)} bytes is larger than the limit {max_bytes}")
    try:
        return json.loads(text)
    except ValueError as err:
        raise CodecError(f"not JSON: {err}") from None


def _torch():
    import sys
    return sys.modules.get("torch")
