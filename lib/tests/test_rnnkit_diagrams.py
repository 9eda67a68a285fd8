"""rnnkit.diagrams: every diagram draws, is valid SVG, is the same bytes every time, and is
embedded into a notebook as a Markdown cell attachment, once."""

import base64
import copy
import xml.etree.ElementTree as ET

import pytest

from rnnkit import diagrams

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def svgs():
    return diagrams.render_all()


def test_every_diagram_is_valid_svg_and_png_with_a_size(svgs):
    import io

    import matplotlib.image

    assert set(svgs) == {d.name for d in diagrams.DIAGRAMS}
    for name, images in svgs.items():
        assert list(images) == ["image/png", "image/svg+xml"], "JupyterLab shows the first type"
        pixels = matplotlib.image.imread(io.BytesIO(images["image/png"]), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 200 and pixels.std() > 0.05, name
        svg = images["image/svg+xml"]
        root = ET.fromstring(svg)
        assert root.tag == SVG_NS + "svg", f"{name}: the root element is {root.tag}"
        for attr in ("width", "height"):
            assert float(root.get(attr).removesuffix("pt")) > 50, f"{name}: {attr} {root.get(attr)}"
        assert root.find(f".//{SVG_NS}path") is not None, f"{name} draws nothing"
        assert b"<dc:date>" not in svg, f"{name} records the date it was made"
        assert b"<script" not in svg.lower()


def test_rendering_is_deterministic(svgs):
    for name in ("rnn_cell.svg", "padded_packed.svg"):
        assert diagrams.render_images(name) == svgs[name], f"{name}: two renders differ"
        assert diagrams.render(name) == svgs[name]["image/svg+xml"]


def test_captions_are_one_line_and_names_unique():
    names = [d.name for d in diagrams.DIAGRAMS]
    assert len(set(names)) == len(names)
    for d in diagrams.DIAGRAMS:
        assert d.name.endswith(".svg") and d.alt and "\n" not in d.caption + d.alt
        assert (d.after is None) != (d.inside is None), f"{d.name}: give after or inside"


@pytest.mark.parametrize("lengths", [(5, 2, 3), (1, 4, 4, 2), (3,)])
def test_packed_order_is_what_torch_packs(lengths):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    N, T = len(lengths), max(lengths)
    # element (n, t) carries the value 10 * n + t, so the packed data names its origin
    x = torch.tensor([[[10.0 * n + t] for t in range(T)] for n in range(N)])
    packed = pack_padded_sequence(x, list(lengths), batch_first=True, enforce_sorted=False)
    order, batch_sizes, data = diagrams.packed_order(list(lengths))
    assert batch_sizes == packed.batch_sizes.tolist()
    assert order == packed.sorted_indices.tolist()
    assert [10 * n + t for n, t in data] == packed.data[:, 0].int().tolist()


SVG1 = {"image/png": b"png", "image/svg+xml": b"<svg/>"}
SVG2 = {"image/png": b"png2", "image/svg+xml": b"<svg></svg>"}


def _notebook():
    def md(gid, text):
        return {"cell_type": "markdown", "id": gid.replace("_", "-"), "source": text,
                "metadata": {"nbgrader": {"grade_id": gid, "locked": True, "solution": False,
                                          "grade": False, "schema_version": 3}}}
    return {"cells": [md("md_001", "# Title"), md("md_002", "One.\n\n**Two.** more\n"),
                      md("md_003", "end")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_embed_adds_a_plain_markdown_cell_once():
    d = diagrams.Diagram("toy.svg", "00_toy", None, "Toy", "Look at the $x_t$.", after="md_001")
    nb = _notebook()
    assert diagrams.embed(nb, d, SVG1)
    cell = nb["cells"][1]
    assert cell["cell_type"] == "markdown" and cell["id"] == "diagram-toy"
    assert "nbgrader" not in cell["metadata"], "a diagram cell must not be an nbgrader cell"
    assert "".join(cell["source"]) == "![Toy](attachment:toy.svg)\n\n*Look at the $x_t$.*"
    assert list(cell["attachments"]["toy.svg"]) == ["image/png", "image/svg+xml"]
    assert base64.b64decode(cell["attachments"]["toy.svg"]["image/svg+xml"]) == b"<svg/>"
    assert diagrams.attachment(nb, "toy.svg") == b"<svg/>"
    assert diagrams.attachment(nb, "toy.svg", "image/png") == b"png"
    before = copy.deepcopy(nb)
    assert not diagrams.embed(nb, d, SVG1), "a second embed of the same image changed it"
    assert nb == before
    assert diagrams.embed(nb, d, SVG2)          # a new drawing replaces the old one
    assert diagrams.attachment(nb, "toy.svg") == b"<svg></svg>" and len(nb["cells"]) == 4
    # nbformat writes the SVG as a list of lines: the same image, nothing to change
    att = nb["cells"][1]["attachments"]["toy.svg"]
    att["image/svg+xml"] = [att["image/svg+xml"]]
    assert not diagrams.embed(nb, d, SVG2)
    # a new caption replaces the old one, in place
    d2 = diagrams.Diagram("toy.svg", "00_toy", None, "Toy", "Now look here.", after="md_001")
    assert diagrams.embed(nb, d2, SVG2)
    assert "".join(nb["cells"][1]["source"]).endswith("*Now look here.*")
    assert len(nb["cells"]) == 4


def test_embed_inside_a_cell_before_a_paragraph():
    d = diagrams.Diagram("toy.svg", "00_toy", None, "Toy", "Cap.", inside="md_002",
                         before_text="**Two.**")
    nb = _notebook()
    assert diagrams.embed(nb, d, SVG1)
    assert len(nb["cells"]) == 3
    assert "".join(nb["cells"][1]["source"]) == (
        "One.\n\n![Toy](attachment:toy.svg)\n\n*Cap.*\n\n**Two.** more\n")
    assert not diagrams.embed(nb, d, SVG1)


def test_embed_says_what_is_missing():
    nb = _notebook()
    with pytest.raises(LookupError, match="md_009"):
        diagrams.embed(nb, diagrams.Diagram("a.svg", "00_toy", None, "A", "c", after="md_009"),
                       SVG1)
    with pytest.raises(LookupError, match="no paragraph starting"):
        diagrams.embed(nb, diagrams.Diagram("a.svg", "00_toy", None, "A", "c", inside="md_002",
                                            before_text="**Three.**"), SVG1)
