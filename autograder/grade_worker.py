"""A long-lived grading worker: nbgrader as a library, one submission after another.

``course.py grade`` starts one worker per job and sends it submissions in JSON lines on stdin;
the worker answers each with a JSON line on stdout:

    -> {"student": "alice", "lesson": "01_rnn", "slot": 0, "sandboxed": true, "env": {...},
        "scratch": "/tmp/rnngrade-x", "cgroups": [...], "notebook_timeout": 900}
    <- {"success": true, "log": "...", "took": 12.3}

Importing nbgrader, nbconvert and the gradebook's schema check is paid once per worker instead
of once per submission. Each submission still gets its own kernel, sandbox, scratch folder and
grader process; the worker keeps no state between submissions but the imports. If a submission
kills the worker (or runs past its time), ``course.py`` records it and starts a new worker.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sandbox  # noqa: E402


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                           # nbgrader's prints must not corrupt the protocol
    sys.stdout = sys.stderr
    from traitlets.config.loader import PyFileConfigLoader
    from nbgrader.apps import NbGraderAPI
    base = PyFileConfigLoader("nbgrader_config.py", path=str(HERE)).load_config()
    root = Path(base.CourseDirectory.root)
    saved_env = dict(os.environ)
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if req.get("op") == "quit":
            break
        start = time.monotonic()
        scratch = None
        os.environ.clear()
        os.environ.update(saved_env)
        os.environ.update(req.get("env", {}))
        cfg = copy.deepcopy(base)
        try:
            if req.get("notebook_timeout"):          # always shorter than this worker's limit
                cfg.IsolatedExecute.notebook_timeout = int(req["notebook_timeout"])
            if req.get("sandboxed"):
                scratch, env, settings = sandbox.prepare(
                    root, req["lesson"], int(req.get("slot", 0)), scratch=req.get("scratch"),
                    cgroups=[Path(c) for c in req.get("cgroups", [])])
                os.environ.update(env)
                for name, value in settings.items():
                    setattr(cfg.IsolatedExecute, name, value)
            api = NbGraderAPI(config=cfg)
            api.log.setLevel("WARN")
            result = api.autograde(req["lesson"], req["student"], force=True, create=True)
            reply = {"success": bool(result.get("success")),
                     "log": (result.get("log") or "") + (result.get("error") or "")}
        except BaseException as err:            # report, never die silently
            import traceback
            reply = {"success": False, "log": f"[ERROR] {err}\n{traceback.format_exc()}"}
        finally:
            if scratch is not None:              # course.py deletes it too (a lost worker)
                shutil.rmtree(scratch, ignore_errors=True)
        reply["took"] = time.monotonic() - start
        proto.write(json.dumps(reply) + "\n")
        proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
