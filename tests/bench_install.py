"""Time a fresh `make venv` (`make bench`).

    python tests/bench_install.py [--json FILE]

Runs ``make venv VENV=<a new temporary folder>``: a new virtual environment, every pinned
package of requirements.txt and rnnkit, as a new clone's first ``make`` does; the folder is
removed afterwards. Packages come from the configured index and pip's cache as they are on this
machine (the figure is for a machine that has installed the course before; a first install
downloads more).
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv) -> int:
    out_json = argv[argv.index("--json") + 1] if "--json" in argv else None
    folder = Path(tempfile.mkdtemp(prefix="bench-venv-"))
    try:
        start = time.perf_counter()
        proc = subprocess.run(["make", "--no-print-directory", "venv", f"VENV={folder / 'venv'}"],
                              cwd=REPO, capture_output=True, text=True)
        took = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        print("a fresh `make venv` FAILED")
        return 1
    print(f"a fresh `make venv`: {took:.0f} s")
    if out_json:
        Path(out_json).write_text(json.dumps({"make_venv_s": took}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
