"""Make "(view feedback)" in nbgrader's Assignment List open the feedback page.

nbgrader 0.9.6's JupyterLab extension answers a click on "(view feedback)" by moving the file
browser to the feedback's folder (``<lesson>/feedback/<time>/``) only: the student then has to
find and double-click the HTML file. This script edits the extension's built JavaScript in an
environment (``make venv`` and ``hub/Dockerfile`` run it) so that the same click also opens
every ``.html`` file of that folder in a JupyterLab tab (the HTML viewer, which shows the page
in a sandboxed frame).

    python autograder/open_feedback_link.py [PREFIX]     # default: this interpreter's prefix

It changes one expression, exactly as nbgrader 0.9.6 builds it; it does nothing if the file is
already changed, and stops with an error that says what to do if the extension's code is not
the expected one (another nbgrader version).
"""

from __future__ import annotations

import sys
from pathlib import Path

STATIC = Path("share", "jupyter", "labextensions", "@jupyter", "nbgrader", "static")
MARK = "/*rnncourse:open-feedback*/"
ORIGINAL = 'i.onclick=function(){n.commands.execute("filebrowser:go-to-path",{path:a})}'
PATCHED = (
    'i.onclick=function(){' + MARK
    + 'n.commands.execute("filebrowser:go-to-path",{path:a});'
    'n.serviceManager.contents.get(a).then(function(m){(m.content||[])'
    '.filter(function(f){return f.type==="file"&&/\\.html$/.test(f.name)})'
    '.forEach(function(f){n.commands.execute("docmanager:open",'
    '{path:f.path,factory:"HTML Viewer"})})})}'
)


def patch(prefix: Path) -> str:
    """Patch the extension under ``prefix``; return what was done (raises SystemExit if the
    extension is missing or not the expected build)."""
    static = prefix / STATIC
    chunks = [p for p in sorted(static.glob("*.js")) if "view feedback" in p.read_text(errors="replace")]
    if not chunks:
        raise SystemExit(f"open_feedback_link: nbgrader's JupyterLab extension is not in {static}; "
                         f"install the course environment first (make venv).")
    done = []
    for chunk in chunks:
        text = chunk.read_text()
        if MARK in text:
            done.append(f"{chunk.name}: already opens the feedback page")
            continue
        if text.count(ORIGINAL) != 1:
            raise SystemExit(
                f"open_feedback_link: {chunk} does not hold nbgrader 0.9.6's '(view feedback)' "
                f"handler (another nbgrader version?). Pin nbgrader==0.9.6 (requirements.txt), "
                f"or leave the link as it is: it then shows the feedback's folder, where the "
                f"student double-clicks the .html file.")
        chunk.write_text(text.replace(ORIGINAL, PATCHED))
        done.append(f"{chunk.name}: '(view feedback)' now opens the feedback page")
    return "; ".join(done)


if __name__ == "__main__":
    print(patch(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.prefix)))
