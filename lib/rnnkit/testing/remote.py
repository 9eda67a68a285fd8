"""The grader's side of the channel to the learner's kernel.

When a test cell is graded, it runs in the grader process; every name it does not bind
itself is a :class:`Remote` standing for the learner's object in the kernel. Calling it sends
an ``execute_request`` whose only content is a user expression,
``rnnkit.testing.kernel_side.serve(<request>)``; the kernel answers in its ``execute_reply``
with values only (see :mod:`rnnkit.testing.codec`): no code of the test cell, no expected value
and no reference object ever enters the kernel, and nothing the kernel sends is unpickled.

A learner's function that raises makes the call raise the same kind of exception here
(``NotImplementedError`` stays ``NotImplementedError``; kinds outside the built-in exceptions
become :class:`LearnerError`), with the learner's message.
"""

from __future__ import annotations

import ast
import builtins
import time

from rnnkit.testing import codec

MAX_REPLY_BYTES = 256 * 1024 * 1024


class LearnerError(Exception):
    """An exception raised by the learner's code whose type is not a built-in exception."""


class KernelTimeout(Exception):
    """The learner's code ran longer than the grader allows for one call."""


class Channel:
    """A shell-channel connection to a kernel, for user-expression requests."""

    def __init__(self, connection_info: dict, timeout: float = 60.0):
        from jupyter_client.blocking import BlockingKernelClient
        self.client = BlockingKernelClient()
        self.client.load_connection_info(connection_info)
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self.timeout = timeout
        self.expression = "__import__('rnnkit.testing.kernel_side', fromlist=['serve']).serve({!r})"

    def close(self):
        self.client.stop_channels()

    def request(self, req: dict):
        enc = codec.Encoder(keep=self._keep_local)
        payload = codec.dumps({k: (enc.encode(v) if k in ("args", "kwargs") else v)
                               for k, v in req.items()})
        msg_id = self.client.execute("", silent=True, store_history=False,
                                     user_expressions={"r": self.expression.format(payload)},
                                     allow_stdin=False)
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelTimeout(f"your code did not return within {self.timeout:g} s")
            try:
                reply = self.client.get_shell_msg(timeout=left)
            except Exception:
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        content = reply["content"]
        expr = content.get("user_expressions", {}).get("r")
        if content.get("status") != "ok" or not isinstance(expr, dict):
            raise LearnerError("the notebook's kernel could not answer the test "
                               f"({content.get('ename', 'no reply')}: {content.get('evalue', '')})")
        if expr.get("status") != "ok":
            raise LearnerError("the grading channel in your notebook is broken "
                               f"({expr.get('ename')}: {expr.get('evalue')}); did the notebook "
                               f"replace or delete rnnkit?")
        text = expr.get("data", {}).get("text/plain", "")
        if not isinstance(text, str) or len(text) > MAX_REPLY_BYTES:
            raise LearnerError("your function returned more data than a test accepts")
        try:
            answer = codec.loads(ast.literal_eval(text), MAX_REPLY_BYTES)
        except (ValueError, SyntaxError, MemoryError) as err:
            raise LearnerError(f"the notebook's answer could not be read ({err})") from None
        if not isinstance(answer, dict):
            raise LearnerError("the notebook's answer could not be read")
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            ename, evalue = str(err.get("ename", "Error")), str(err.get("evalue", ""))
            where = str(err.get("where", ""))
            if ename == "KeyboardInterrupt":
                raise KernelTimeout(f"your code did not return within {self.timeout:g} s")
            kind = getattr(builtins, ename, None)
            if ename == "NotImplementedError" and not evalue.strip():
                evalue = "not written yet: the answer cell still raises NotImplementedError"
            message = evalue + (f" (raised at {where} in your code)" if where else "")
            if isinstance(kind, type) and issubclass(kind, Exception) and \
                    kind.__module__ == "builtins" and kind not in (SystemExit,):
                try:
                    raise kind(message)
                except TypeError:
                    pass
            raise LearnerError(f"{ename}: {message}")
        if "ok" not in answer:
            raise LearnerError("the notebook's answer could not be read")
        dec = codec.Decoder(handle=lambda n: Remote(self, {"handle": n}), tensors=False)
        try:
            return dec.decode(answer["ok"])
        except codec.CodecError as err:
            raise LearnerError(f"your function returned something a test cannot read ({err})") \
                from None

    def _keep_local(self, value):
        if isinstance(value, Remote):
            if "handle" not in value._spec:          # a name: ask the kernel for a handle
                ref = self.request({"op": "ref", "target": value._spec})
                value._spec["handle"] = ref._spec["handle"]
            return value._spec["handle"]
        raise codec.CodecError(f"a {type(value).__name__} cannot be sent to the notebook")


class Remote:
    """An object in the learner's kernel: a name of the notebook or a handle to a value.

    Calling it calls the object in the kernel; reading an attribute reads it there (a value
    comes back as a value, anything else as another Remote).
    """

    def __init__(self, channel: Channel, spec: dict, label: str = ""):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_label", label or spec.get("name", "an object of your notebook"))

    def __call__(self, *args, **kwargs):
        return self._channel.request({"op": "call", "target": self._target(), "args": list(args),
                                      "kwargs": dict(kwargs)})

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return self._channel.request({"op": "getattr", "target": self._target(), "attr": attr})

    def __setattr__(self, attr, value):
        raise AttributeError("a test cannot set attributes of the notebook's objects")

    def _target(self):
        return {"handle": self._spec["handle"]} if "handle" in self._spec else self._spec

    def __repr__(self):
        return f"<{self._label} (in your notebook)>"


def store(like: Remote, *values) -> list:
    """Copies of ``values`` kept in the kernel that holds ``like``: one :class:`Remote` each.

    A learner's function called with these handles works on the kernel's own objects, so what
    it does to them (an argument written in place, a cache consumed) shows in later calls and
    in :func:`fetch`, as it does when a learner calls the function twice in the notebook.
    """
    return like._channel.request({"op": "store", "args": list(values)})


def fetch(*objects: Remote) -> list:
    """The current values of objects held in the kernel (a non-value comes back as a handle)."""
    return objects[0]._channel.request({"op": "fetch", "args": list(objects)})


def call_kept(fn: Remote, *args, **kwargs):
    """``fn(*args, **kwargs)`` in the kernel, its result also kept there: ``(value, Remote)``."""
    answer = fn._channel.request({"op": "call", "target": fn._target(), "args": list(args),
                                  "kwargs": dict(kwargs), "keep": "both"})
    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], Remote)):
        raise LearnerError("the notebook's answer could not be read")
    return answer[1], answer[0]


def call_repeated(fn: Remote, n: int, *args, **kwargs) -> list:
    """The list of the values of ``n`` calls ``fn(*args, **kwargs)`` on the same kernel objects
    (one request: the arguments are decoded once, as one object each, and used by every call)."""
    return fn._channel.request({"op": "call", "target": fn._target(), "args": list(args),
                                "kwargs": dict(kwargs), "repeat": int(n)})


def call_method(obj: Remote, attr: str, *args, keep: bool = False, **kwargs):
    """``obj.<attr>(*args, **kwargs)`` in the kernel (also a dunder such as ``__getitem__``);
    with ``keep`` the result stays there and a :class:`Remote` to it comes back."""
    req = {"op": "call", "target": obj._target(), "attr": str(attr), "args": list(args),
           "kwargs": dict(kwargs)}
    if keep:
        req["keep"] = "handle"
    return obj._channel.request(req)


def free_names(source: str) -> set[str]:
    """Names a test cell reads but never binds (nor imports), minus the builtins."""
    tree = ast.parse(source)
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            if not isinstance(node, ast.ClassDef):
                a = node.args
                for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
                    if arg is not None:
                        bound.add(arg.arg)
        elif isinstance(node, ast.Lambda):
            a = node.args
            for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
                if arg is not None:
                    bound.add(arg.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return {n for n in used - bound if not hasattr(builtins, n)}


def namespace(channel: Channel, source: str) -> dict:
    """A fresh namespace for one test cell: its free names are the learner's objects."""
    ns = {"__name__": "__grader__", "__builtins__": builtins}
    for name in free_names(source):
        ns[name] = Remote(channel, {"name": name})
    return ns

