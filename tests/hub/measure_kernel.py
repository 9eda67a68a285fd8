#!/usr/bin/env python3
"""Memory and CPU of one lesson kernel, idle and busy: the figures behind hub/README.md's sizing.

    .venv/bin/python tests/hub/measure_kernel.py [--lesson 01_rnn] [--threads 1] [--learner]

Starts an IPython kernel of the course's environment (as the hub starts one for a student, with
OMP_NUM_THREADS/MKL_NUM_THREADS = --threads, 1 on the hub), and samples its resident memory
(VmRSS, and the kernel's high-water mark VmHWM) and its CPU time (utime + stime of the kernel
and its children, from /proc) every 0.1 s:

* idle, fresh: a started kernel that ran nothing, over 10 s;
* busy: the lesson's solution executed cell by cell in grading mode (NBGRADER_EXECUTION=autograde,
  as in `make grade`; --learner runs it at the learner's sizes instead), peak RSS, CPU seconds,
  wall seconds and the mean number of busy cores;
* idle, after the lesson: the same kernel, everything imported and every array alive, over 10 s.

Prints a table and writes JSON with --out. Run it on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def sample(pid: int) -> tuple[int, int, float]:
    """(RSS KiB of the tree, VmHWM KiB of the kernel, CPU seconds of the tree incl. reaped children)."""
    rss = hwm = 0
    cpu = 0.0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        rss += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        if p == pid:
            hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
            cpu += sum(int(x) for x in fields[11:15]) / TICK   # utime stime cutime cstime
        else:
            cpu += sum(int(x) for x in fields[11:13]) / TICK
    return rss, hwm, cpu


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.peak = max(self.peak, sample(self.pid)[0])
            except Exception:                                   # noqa: BLE001
                pass
            time.sleep(0.1)

    def stop(self) -> int:
        self.stop_flag.set()
        self.join()
        return self.peak


def idle(pid: int, seconds: float = 10.0) -> dict:
    rss0, _, cpu0 = sample(pid)
    t0 = time.time()
    time.sleep(seconds)
    rss1, hwm, cpu1 = sample(pid)
    return {"rss_mib": round(rss1 / 1024, 1), "cpu_percent": round(100 * (cpu1 - cpu0) / (time.time() - t0), 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lesson", default="01_rnn")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--learner", action="store_true", help="learner sizes, not grading mode")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient

    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = args.threads
    os.environ["PYTHONWARNINGS"] = "ignore"
    if args.learner:
        os.environ.pop("NBGRADER_EXECUTION", None)
    else:
        os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    path = REPO / "solutions" / args.lesson / f"{args.lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    result = {"lesson": args.lesson, "mode": "learner" if args.learner else "grading",
              "threads": int(args.threads), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, tmp)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": tmp}})
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            time.sleep(2)
            result["idle_fresh"] = idle(pid)
            sampler = Sampler(pid)
            sampler.start()
            _, _, cpu0 = sample(pid)
            t0 = time.time()
            errors = 0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)
                    errors += sum(o.get("output_type") == "error" for o in cell.get("outputs", []))
            wall = time.time() - t0
            _, hwm, cpu1 = sample(pid)
            peak = max(sampler.stop(), hwm)
            result["busy"] = {"wall_s": round(wall, 1), "cpu_s": round(cpu1 - cpu0, 1),
                              "mean_cores": round((cpu1 - cpu0) / wall, 2),
                              "peak_rss_mib": round(peak / 1024, 1), "errors": errors}
            result["idle_after"] = idle(pid)
    print(f"lesson {args.lesson}, {result['mode']} mode, {args.threads} thread(s), {os.cpu_count()} CPUs")
    print(f"  idle kernel, fresh:        RSS {result['idle_fresh']['rss_mib']:7.1f} MiB, "
          f"CPU {result['idle_fresh']['cpu_percent']:.2f} %")
    b = result["busy"]
    print(f"  busy (the solution):       peak RSS {b['peak_rss_mib']:7.1f} MiB, {b['cpu_s']:.1f} CPU s "
          f"in {b['wall_s']:.1f} s = {b['mean_cores']:.2f} cores; {b['errors']} error(s)")
    print(f"  idle kernel, after lesson: RSS {result['idle_after']['rss_mib']:7.1f} MiB, "
          f"CPU {result['idle_after']['cpu_percent']:.2f} %")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
