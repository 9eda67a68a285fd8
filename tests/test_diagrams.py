"""The lessons' diagrams (lib/rnnkit/diagrams.py, issue 19 item 1).

- what the notebooks carry is what the code draws now: a change of notation in
  ``rnnkit.diagrams`` without ``make diagrams`` fails here;
- every lesson that introduces a cell (or, as 02 and 06, a structure drawn in the lessons) has
  its diagrams, in ``solutions/`` and, through ``course.py release``, in ``lessons/``, as cell
  attachments of plain (non-nbgrader) Markdown cells;
- the feedback HTML of a graded submission shows them as images (``<img src="data:...">``).
"""

from __future__ import annotations

import base64
import html.parser
import json

import pytest

from conftest import REPO
from rnnkit import diagrams

# the lesson of each picture the course promises (issue 19: 01 RNN cell and BPTT, 02 Jacobian
# chain, 03 LSTM cell, 04 GRU beside the LSTM, 06 stacked bidirectional and padded vs packed)
EXPECTED = {
    "01_rnn": {"rnn_cell.svg", "rnn_bptt.svg"},
    "02_vanishing_gradients": {"jacobian_chain.svg"},
    "03_lstm": {"lstm_cell.svg"},
    "04_gru": {"gru_vs_lstm.svg"},
    "06_rnns_in_practice": {"stacked_bidir.svg", "padded_packed.svg"},
}


def _nb(folder: str, lesson: str) -> dict:
    return json.loads((REPO / folder / lesson / f"{lesson}.ipynb").read_text())


def test_every_promised_diagram_is_drawn():
    drawn = {}
    for d in diagrams.DIAGRAMS:
        drawn.setdefault(d.lesson, set()).add(d.name)
    assert drawn == EXPECTED


@pytest.fixture(scope="module")
def drawn_now():
    return diagrams.render_all()


@pytest.mark.parametrize("folder", ["solutions", "lessons"])
def test_notebooks_carry_what_the_code_draws_now(folder, drawn_now):
    stale = []
    for lesson, names in EXPECTED.items():
        nb = _nb(folder, lesson)
        for name in sorted(names):
            cell = diagrams.find_cell(nb, name)
            assert cell is not None, (f"{folder}/{lesson} shows no {name}: run `make diagrams`"
                                      + (" (it releases the lesson too)" if folder == "lessons"
                                         else ""))
            meta = cell.get("metadata", {}).get("nbgrader", {})
            assert not meta.get("solution") and not meta.get("grade"), \
                f"{folder}/{lesson}: {name} sits in an answer or graded cell"
            att = cell.get("attachments", {}).get(name, {})
            assert list(att) == list(diagrams.MIMES), \
                f"{folder}/{lesson}: {name} holds {list(att)}; JupyterLab shows only a PNG first"
            if diagrams.attachment(nb, name) != drawn_now[name]["image/svg+xml"] \
                    or not _same_pixels(diagrams.attachment(nb, name, "image/png"),
                                        drawn_now[name]["image/png"]):
                stale.append(f"{lesson}/{name}")
            d = diagrams.BY_NAME[name]
            assert d.markdown() in "".join(cell["source"]), \
                f"{folder}/{lesson}: the image line or caption of {name} is not the current one"
    assert not stale, (f"{folder}: these diagrams differ from what lib/rnnkit/diagrams.py draws "
                       f"now: {stale}; run `make diagrams` and commit the notebooks")


def _same_pixels(a: bytes, b: bytes) -> bool:
    """The two PNGs decode to the same pixels (the bytes may differ with the zlib in use)."""
    import io

    import matplotlib.image
    import numpy as np
    pa, pb = (matplotlib.image.imread(io.BytesIO(x), format="png") for x in (a, b))
    return pa.shape == pb.shape and np.array_equal(pa, pb)


def test_new_diagram_cells_are_plain_markdown_with_unique_ids():
    for lesson in EXPECTED:
        for folder in ("solutions", "lessons"):
            nb = _nb(folder, lesson)
            ids = [c.get("id") for c in nb["cells"]]
            assert len(set(ids)) == len(ids), f"{folder}/{lesson}: duplicate cell ids"
            for c in nb["cells"]:
                if str(c.get("id", "")).startswith("diagram-"):
                    assert c["cell_type"] == "markdown"
                    assert "nbgrader" not in c.get("metadata", {}), \
                        f"{folder}/{lesson}: {c['id']} is an nbgrader cell"


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src") or "")


def test_feedback_shows_the_diagrams(graded_course, class_feedback):
    """The blank submission's feedback page holds each diagram as an <img> with its data URI
    (nbconvert renders an attachment as ``data:image/svg+xml;base64,...``)."""
    root = graded_course[0]
    missing = []
    for lesson, names in EXPECTED.items():
        page = root / "autograder" / "feedback" / "blank" / lesson / f"{lesson}.html"
        parser = _Images()
        parser.feed(page.read_text())
        for name in sorted(names):
            want = "data:image/svg+xml;base64," + base64.b64encode(
                diagrams.attachment(_nb("lessons", lesson), name)).decode()
            if want not in parser.srcs:
                missing.append(f"{lesson}/{name}")
    assert not missing, (f"the feedback HTML of blank submissions does not show {missing} as "
                         f"images (is the attachment dropped or the <img> escaped by the HTML "
                         f"sanitising of feedback?)")
