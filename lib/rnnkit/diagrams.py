"""The lessons' diagrams of recurrent cells, drawn with matplotlib in the lessons' notation.

Every diagram is a function of this module, so a change of notation (a symbol, a colour, a
label) is one edit here followed by one command::

    make diagrams    # python -m rnnkit.diagrams embed solutions; a release per changed lesson

which redraws every diagram, stores it as a **cell attachment** of a Markdown cell of the
solution notebook (``![RNN cell](attachment:rnn_cell.svg)``), and lets ``course.py release``
carry it into ``lessons/``. An attachment travels inside the notebook: the image shows offline
in JupyterLab, in nbconvert's HTML (the feedback) and in the formgrader, with no file beside
the notebook. The attachment holds a PNG (first: JupyterLab renders no SVG attachment) and the
SVG (nbconvert prefers it), see ``MIMES``.

The SVG bytes are deterministic (a fixed ``svg.hashsalt``, no date in the metadata, text drawn
as paths with matplotlib's own fonts), so ``render(name)`` today equals what is committed, and
``tests/test_diagrams.py`` fails when the notation changed here but ``make diagrams`` was not run.

=====================  ==========  =================================================================
diagram                lesson      what it shows
=====================  ==========  =================================================================
``rnn_cell``           01          one step of the plain RNN: W_ih, W_hh, b_ih, b_hh, tanh
``rnn_bptt``           01          the unrolled RNN, forward path and BPTT's backward path
``jacobian_chain``     02          ``dh_T/dh_t`` as the product ``J_T ... J_{t+1}`` along the chain
``lstm_cell``          03          the LSTM cell, gates i, f, g, o, and the cell-state path
``gru_vs_lstm``        04          the GRU beside the LSTM: z keeps, 1 - z writes, r on h_{t-1}
``stacked_bidir``      06          two stacked bidirectional layers, ``output`` and ``h_n``
``padded_packed``      06          a padded batch against the same batch packed
=====================  ==========  =================================================================

No exercise's solution is drawn: the diagrams show what the lessons' text states (the forward
equations, which paths a gradient takes), never a gradient formula an exercise asks for.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

# ------------------------------------------------------------------------------------------
# Notation and style: the one place to edit

SVG_RC = {
    "svg.hashsalt": "rnnkit-diagrams",     # fixed ids (clip paths, glyphs): identical bytes
    "svg.fonttype": "path",                 # text as paths: no font needed where it is shown
    "font.family": "DejaVu Sans",           # shipped with matplotlib
    "mathtext.fontset": "dejavusans",
    "font.size": 11,
    "path.simplify": False,
}

PNG_DPI = 110             # the raster copy JupyterLab shows (see MIMES)

INK = "#222222"            # forward path
GRAD = "#c0392b"           # backward path (gradients)
CELL = "#1f5fa8"           # the memory path: c_t (LSTM), h_t (GRU)
FILL = {                   # boxes by role; the same role has the same colour in every diagram
    "sigmoid": "#fde3c0",  # a gate: sigma, values in (0, 1)
    "tanh": "#d6e9f8",     # tanh (a candidate, a squashed state)
    "affine": "#eeeeee",   # x W^T + b
    "keep": "#cfe8cf",     # the fraction of the old memory kept: f_t (LSTM), z_t (GRU)
    "write": "#f6d5e7",    # the fraction of the candidate written: i_t (LSTM), 1 - z_t (GRU)
    "reset": "#e3dcf5",    # r_t (GRU only)
    "real": "#d6e9f8",     # a real element of a sequence
    "pad": "#f2f2f2",      # padding
}


def m(tex: str) -> str:
    """``tex`` as matplotlib mathtext."""
    return f"${tex}$"


# ------------------------------------------------------------------------------------------
# A small drawing kit on a plain Figure (no pyplot state is touched)


class Canvas:
    """A figure whose one axis spans it, in units of ``scale`` inches, y upwards."""

    def __init__(self, width: float, height: float, scale: float = 0.62):
        self.fig = Figure(figsize=(width * scale, height * scale))
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.set_aspect("equal")
        self.ax.axis("off")

    def text(self, x, y, s, size=11, color=INK, ha="center", va="center", **kw):
        return self.ax.text(x, y, s, fontsize=size, color=color, ha=ha, va=va, **kw)

    def box(self, x, y, w, h, label="", fill=FILL["affine"], size=11, edge=INK, lw=1.2,
            round_=0.12, color=INK):
        """A rounded box centred on (x, y); returns the patch (arrows clip at its edge)."""
        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                               boxstyle=f"round,pad=0,rounding_size={round_}",
                               fc=fill, ec=edge, lw=lw, zorder=2)
        self.ax.add_patch(patch)
        if label:
            self.text(x, y, label, size=size, zorder=3, color=color)
        return patch

    def node(self, x, y, symbol, r=0.24, fill="white", edge=INK, size=12):
        """A pointwise operation (a circle with x, +, 1-)."""
        patch = Circle((x, y), r, fc=fill, ec=edge, lw=1.2, zorder=2)
        self.ax.add_patch(patch)
        self.text(x, y, symbol, size=size, zorder=3)
        return patch

    def arrow(self, a, b, color=INK, lw=1.3, ls="-", pa=None, pb=None, rad=0.0, head=True,
              shrink=1.0):
        """An arrow from point a to point b, clipped at patches ``pa``, ``pb`` when given."""
        arr = FancyArrowPatch(a, b, patchA=pa, patchB=pb, shrinkA=shrink, shrinkB=shrink,
                              arrowstyle="-|>" if head else "-", mutation_scale=11,
                              color=color, lw=lw, linestyle=ls, zorder=1,
                              connectionstyle=f"arc3,rad={rad}")
        self.ax.add_patch(arr)
        return arr

    def line(self, points, color=INK, lw=1.3, ls="-", head=True, pb=None):
        """A polyline through ``points``; an arrow head on its last segment."""
        xs, ys = zip(*points)
        if len(points) > 2:
            self.ax.plot(xs[:-1], ys[:-1], color=color, lw=lw, ls=ls, zorder=1,
                         solid_capstyle="butt")
        self.arrow(points[-2], points[-1], color=color, lw=lw, ls=ls, pb=pb, head=head,
                   shrink=0.0)

    def svg(self) -> bytes:
        buf = io.BytesIO()
        with matplotlib.rc_context(SVG_RC):
            self.fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight",
                             pad_inches=0.05)
        return buf.getvalue()

    def png(self) -> bytes:
        buf = io.BytesIO()
        with matplotlib.rc_context(SVG_RC):
            self.fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None},
                             bbox_inches="tight", pad_inches=0.05, facecolor="white")
        return buf.getvalue()


def _canvas(width, height, scale=0.62) -> Canvas:
    with matplotlib.rc_context(SVG_RC):        # fonts are chosen when the text is made
        return Canvas(width, height, scale)


# ------------------------------------------------------------------------------------------
# Lesson 01


def rnn_cell() -> Canvas:
    c = _canvas(10.5, 5.6)
    with matplotlib.rc_context(SVG_RC):
        c.text(0.2, 5.25, "one step of the plain RNN", size=12, ha="left", weight="bold")
        ih = c.box(3.0, 1.7, 2.7, 0.75, m(r"x_t W_{ih}^\top + b_{ih}"))
        hh = c.box(3.0, 3.2, 2.7, 0.75, m(r"h_{t-1} W_{hh}^\top + b_{hh}"))
        plus = c.node(5.3, 2.45, "+")
        th = c.box(7.0, 2.45, 1.1, 0.7, m(r"\tanh"), fill=FILL["tanh"])
        c.text(3.0, 0.35, m("x_t") + "   (N, D)", size=11)
        c.arrow((3.0, 0.6), (3.0, 1.7), pb=ih)
        c.text(0.25, 3.2, m("h_{t-1}"), ha="left")
        c.text(0.25, 2.75, "(N, H)", size=9.5, ha="left")
        c.arrow((1.05, 3.2), (3.0, 3.2), pb=hh)
        c.arrow((3.0, 1.7), (5.3, 2.45), pa=ih, pb=plus)
        c.arrow((3.0, 3.2), (5.3, 2.45), pa=hh, pb=plus)
        c.arrow((5.3, 2.45), (7.0, 2.45), pa=plus, pb=th)
        c.text(6.05, 2.75, m("a_t"), size=11)
        c.line([(7.55, 2.45), (9.0, 2.45), (9.0, 4.6)])
        c.arrow((9.0, 2.45), (10.3, 2.45))
        c.text(9.1, 4.85, m("h_t") + " to the output / loss", size=10, ha="center")
        c.text(9.75, 2.1, m("h_t"), size=11)
        c.text(9.75, 1.65, "to step t+1", size=9.5)
        c.text(5.3, 0.55, m(r"a_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh},"
                            r"\quad h_t = \tanh(a_t)"), size=10.5, ha="left")
        c.text(0.2, 4.55, m(r"W_{ih}: (H, D),\ W_{hh}: (H, H),\ b_{ih}, b_{hh}: (H,)"),
               size=10, ha="left")
    return c


def rnn_bptt() -> Canvas:
    c = _canvas(15.0, 7.6)
    xs = {"1": 3.2, "2": 6.2, "T": 11.3}
    y_box, y_h, y_loss = 2.3, 4.2, 6.4
    with matplotlib.rc_context(SVG_RC):
        c.text(0.2, 7.3, "the unrolled RNN: forward (black) and backward, BPTT (red, dashed)",
               size=12, ha="left", weight="bold")
        loss = c.box(7.4, y_loss, 11.0, 0.6, "loss  " + m("L") + "  (through an output at "
                     "every step)", fill="#fff7d6")
        h0 = c.box(0.8, y_box, 0.9, 0.6, m("h_0"), fill="white")
        prev_patch, prev_x = h0, 0.8
        for k, x in xs.items():
            step = c.box(x, y_box, 1.25, 0.75, "step " + k if k != "T" else "step T",
                         fill=FILL["tanh"])
            t = k if k != "T" else "T"
            hlab = m(f"h_{t}")
            c.text(x, 0.4, m(f"x_{t}"))
            c.arrow((x, 0.65), (x, y_box), pb=step)
            c.arrow((x - 0.22, y_box - 0.4), (x - 0.22, 0.7), color=GRAD, ls="--", shrink=0)
            c.text(x - 0.3, 1.2, m(rf"\delta x_{t}"), color=GRAD, size=10, ha="right")
            # forward: previous state into this step, this step's state up and to the right
            if k == "T":
                c.text(8.75, y_box, m(r"\cdots"), size=14)
                c.arrow((prev_x, y_box), (8.4, y_box), pa=prev_patch)
                c.arrow((9.1, y_box), (x, y_box), pb=step)
            else:
                c.arrow((prev_x, y_box), (x, y_box), pa=prev_patch, pb=step)
            hnode = c.node(x, y_h, "+", fill="white", edge=GRAD)
            c.arrow((x, y_box), (x, y_h), pa=step, pb=hnode)
            c.text(x + 0.35, (y_box + y_h) / 2 - 0.05, hlab, ha="left")
            c.arrow((x, y_h), (x, y_loss), pa=hnode, pb=loss)
            # backward: the direct gradient from the loss, and the one step t+1 sends back
            c.arrow((x + 0.3, y_loss - 0.3), (x + 0.3, y_h + 0.28), color=GRAD, ls="--",
                    shrink=0, head=True)
            c.text(x + 0.4, 5.35, m(rf"\partial L / \partial h_{t}"), color=GRAD, size=10,
                   ha="left")
            c.arrow((x - 0.24, y_h - 0.06), (x - 0.24, y_box + 0.38), color=GRAD, ls="--",
                    shrink=0)
            c.text(x - 0.3, 3.55, m(rf"\delta h_{t}"), color=GRAD, size=10, ha="right")
            prev_patch, prev_x = step, x
        # delta h_prev: from step 2 into the node of h_1, from step 3 (in the dots) into the
        # node of h_2, from step T towards h_{T-1} (in the dots)
        for src, dst in ((xs["2"] - 0.63, xs["1"]), (8.3, xs["2"])):
            c.line([(src, y_box + 0.2), (dst + 0.75, y_box + 0.2), (dst + 0.75, y_h - 0.1),
                    (dst + 0.25, y_h - 0.1)], color=GRAD, ls="--")
        c.arrow((xs["T"] - 0.63, y_box + 0.2), (9.25, y_box + 0.2), color=GRAD, ls="--",
                shrink=0)
        c.text(4.65, 1.55, m(r"\delta h_{prev}") + "\nof step 2", color=GRAD, size=9.5)
        c.arrow((xs["1"] - 0.63, y_box - 0.25), (1.25, y_box - 0.25), color=GRAD, ls="--",
                shrink=0)
        c.text(0.8, 1.55, m(r"\delta h_0"), color=GRAD, size=10)
        c.text(12.35, 3.6, "at step T only the\ndirect gradient arrives", size=9.5,
               color=GRAD, ha="left")
        c.text(0.2, -0.35, "every step uses the same " + m(r"W_{ih}, W_{hh}, b_{ih}, b_{hh}")
               + ": their gradients add up over all steps;  a red " + m("+")
               + ": two gradients reach " + m("h_t") + " and add", size=10, ha="left")
    return c


# ------------------------------------------------------------------------------------------
# Lesson 02


def jacobian_chain() -> Canvas:
    c = _canvas(14.5, 5.4)
    labels = ["h_t", "h_{t+1}", "h_{t+2}", None, "h_{T-1}", "h_T"]
    xs = [1.0, 3.6, 6.2, 8.05, 9.9, 12.5]
    jac = ["J_{t+1}", "J_{t+2}", None, None, "J_T"]
    y = 3.0
    with matplotlib.rc_context(SVG_RC):
        c.text(0.2, 5.1, m(r"\partial h_T / \partial h_t") + " is a product of one Jacobian "
               "per step along the chain", size=12, ha="left", weight="bold")
        patches = []
        for lab, x in zip(labels, xs):
            if lab is None:
                c.text(x, y, m(r"\cdots"), size=16)
                patches.append(None)
            else:
                patches.append(c.box(x, y, 1.15, 0.7, m(lab), fill="white"))
        for i, j in enumerate(jac):
            a, b = patches[i], patches[i + 1]
            xa = xs[i] + (0.6 if a is not None else 0.35)
            xb = xs[i + 1] - (0.6 if b is not None else 0.35)
            c.arrow((xa, y), (xb, y), shrink=0)
            if j is not None:
                c.text((xa + xb) / 2, y + 0.45, m(j), size=11)
        c.text(7.0, 4.3, m(r"J_k = \partial h_k / \partial h_{k-1} = \mathrm{diag}(1 - h_k^2)"
                           r"\, W_{hh}") + "    (tanh' at the output " + m("h_k")
               + " of step k)", size=10.5)
        # backward: the row vector g_k = dL/dh_k walks back, one factor at a time
        yb = 1.75
        for i in range(len(xs) - 1, 0, -1):
            xa = xs[i] - 0.3
            xb = xs[i - 1] + 0.3
            if labels[i] is None or labels[i - 1] is None:
                c.arrow((xa, yb), (xb, yb), color=GRAD, ls="--", shrink=0)
                continue
            c.arrow((xa, yb), (xb, yb), color=GRAD, ls="--", shrink=0)
        gl = {0: "g_t", 1: "g_{t+1}", 2: "g_{t+2}", 4: "g_{T-1}", 5: "g_T"}
        for i, g in gl.items():
            c.text(xs[i], yb - 0.4, m(g), color=GRAD, size=10.5)
        c.text(12.9, yb + 0.35, m(r"g_k = \partial L / \partial h_k"), color=GRAD, size=10,
               ha="left")
        c.text(7.0, 0.6, m(r"\frac{\partial h_T}{\partial h_t} = J_T\, J_{T-1} \cdots J_{t+1}")
               + "   T - t factors, the latest on the left;   "
               + m(r"g_{k-1} = g_k J_k"), size=11.5)
    return c


# ------------------------------------------------------------------------------------------
# Lessons 03 and 04: the LSTM cell and the GRU cell, drawn alike


def _lstm(c: Canvas, ox: float = 0.0, title: bool = True, grad: bool = True) -> None:
    """The LSTM cell with its lower-left corner at x = ``ox``."""
    X = lambda x: ox + x                                              # noqa: E731
    yc, yg, ya, yh = 6.0, 3.3, 1.85, 1.85
    if title:
        c.text(X(0.1), 7.35, "LSTM: gates i, f, g, o and the cell state " + m("c_t"),
               size=12, ha="left", weight="bold")
    # the cell-state path
    fx, px, tx = 2.6, 4.9, 8.3
    mul_f = c.node(X(fx), yc, r"$\times$", fill=FILL["keep"], edge=CELL)
    add = c.node(X(px), yc, "+", edge=CELL)
    c.text(X(0.05), yc + 0.35, m("c_{t-1}"), color=CELL, ha="left")
    c.arrow((X(0.1), yc), (X(fx), yc), color=CELL, lw=2.6, pb=mul_f)
    c.arrow((X(fx), yc), (X(px), yc), color=CELL, lw=2.6, pa=mul_f, pb=add)
    c.arrow((X(px), yc), (X(9.6), yc), color=CELL, lw=2.6, pa=add)
    c.text(X(9.45), yc + 0.35, m("c_t"), color=CELL, ha="right")
    if grad:
        c.arrow((X(9.3), yc + 0.75), (X(0.4), yc + 0.75), color=GRAD, ls="--", shrink=0)
        c.text(X(3.75), yc + 1.0, m(r"\partial c_t / \partial c_{t-1} = \mathrm{diag}(f_t)")
               + " along this path", color=GRAD, size=9.5)
    # the pre-activations of all four gates in one product
    A = c.box(X(4.6), ya, 6.0, 0.8, m(r"x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top"
                                      r" + b_{hh}") + "  (N, 4H)", size=10)
    c.text(X(6.6), ya - 0.62, "blocks i, f, g, o", size=9)
    c.text(X(0.05), yh + 0.35, m("h_{t-1}"), ha="left")
    c.arrow((X(0.1), yh), (X(4.6), ya), pb=A)
    c.text(X(3.4), 0.05, m("x_t"))
    c.arrow((X(3.4), 0.3), (X(3.4), ya), pb=A)
    gates = {"f": (2.6, "keep", r"\sigma"), "i": (4.2, "write", r"\sigma"),
             "g": (5.6, "tanh", r"\tanh"), "o": (7.0, "sigmoid", r"\sigma")}
    boxes = {}
    for name, (gx, fill, fn) in gates.items():
        boxes[name] = c.box(X(gx), yg, 0.95, 0.62, m(fn), fill=FILL[fill])
        c.arrow((X(gx), ya), (X(gx), yg), pa=A, pb=boxes[name])
    # f_t scales the old content; i_t * g_t is written
    c.arrow((X(fx), yg), (X(fx), yc), pa=boxes["f"], pb=mul_f)
    c.text(X(fx) + 0.15, (yg + yc) / 2, m("f_t"), ha="left")
    mul_w = c.node(X(px), 4.55, r"$\times$", fill=FILL["write"])
    c.arrow((X(4.2), yg), (X(px), 4.55), pa=boxes["i"], pb=mul_w)
    c.arrow((X(5.6), yg), (X(px), 4.55), pa=boxes["g"], pb=mul_w)
    c.text(X(4.05), 4.0, m("i_t"), ha="right")
    c.text(X(5.75), 4.0, m("g_t"), ha="left")
    c.arrow((X(px), 4.55), (X(px), yc), pa=mul_w, pb=add)
    # h_t = o_t * tanh(c_t)
    th = c.box(X(tx), 4.8, 0.95, 0.58, m(r"\tanh"), fill=FILL["tanh"])
    c.arrow((X(tx), yc), (X(tx), 4.8), pb=th)
    mul_o = c.node(X(tx), yg, r"$\times$")
    c.arrow((X(tx), 4.8), (X(tx), yg), pa=th, pb=mul_o)
    c.arrow((X(7.0), yg), (X(tx), yg), pa=boxes["o"], pb=mul_o)
    c.text(X(7.65), yg + 0.3, m("o_t"))
    c.line([(X(tx), yg - 0.24), (X(tx), yh), (X(9.6), yh)])
    c.text(X(9.45), yh + 0.35, m("h_t"), ha="right")


def _gru(c: Canvas, ox: float = 0.0) -> None:
    """The GRU cell drawn as the LSTM of ``_lstm``: the memory path on top."""
    X = lambda x: ox + x                                              # noqa: E731
    yc, yg, ya = 6.0, 3.3, 1.85
    c.text(X(0.1), 7.35, "GRU: gates r, z and one state " + m("h_t"), size=12, ha="left",
           weight="bold")
    fx, px = 2.6, 4.9
    mul_z = c.node(X(fx), yc, r"$\times$", fill=FILL["keep"], edge=CELL)
    add = c.node(X(px), yc, "+", edge=CELL)
    c.text(X(0.05), yc + 0.35, m("h_{t-1}"), color=CELL, ha="left")
    c.arrow((X(0.1), yc), (X(fx), yc), color=CELL, lw=2.6, pb=mul_z)
    c.arrow((X(fx), yc), (X(px), yc), color=CELL, lw=2.6, pa=mul_z, pb=add)
    c.arrow((X(px), yc), (X(9.6), yc), color=CELL, lw=2.6, pa=add)
    c.text(X(9.45), yc + 0.35, m("h_t"), color=CELL, ha="right")
    c.text(X(8.3), 5.3, "no output gate: " + m("h_t") + " is shown whole", size=9.5)
    # the gates' pre-activations, from x_t and from h_{t-1} (read off the memory path)
    A = c.box(X(3.0), ya, 4.6, 0.8, m(r"x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top"
                                      r" + b_{hh}"), size=9.5)
    c.text(X(4.45), ya - 0.6, "blocks r, z", size=9)
    c.line([(X(0.35), yc), (X(0.35), ya), (X(0.7), ya)])
    c.text(X(3.0), 0.05, m("x_t"))
    c.arrow((X(3.0), 0.3), (X(3.0), ya), pb=A)
    # z_t keeps, 1 - z_t writes: one gate where the LSTM has two
    gz = c.box(X(fx), yg, 0.95, 0.62, m(r"\sigma"), fill=FILL["keep"])
    c.arrow((X(fx), ya), (X(fx), yg), pa=A, pb=gz)
    c.arrow((X(fx), yg), (X(fx), yc), pa=gz, pb=mul_z)
    c.text(X(fx) + 0.15, 5.2, m("z_t"), ha="left")
    one_minus = c.node(X(3.75), 4.55, r"$1-$", r=0.3, fill=FILL["write"], size=10)
    c.arrow((X(fx), yg), (X(3.75), 4.55), pa=gz, pb=one_minus)
    mul_w = c.node(X(px), 4.55, r"$\times$", fill=FILL["write"])
    c.arrow((X(3.75), 4.55), (X(px), 4.55), pa=one_minus, pb=mul_w)
    c.arrow((X(px), 4.55), (X(px), yc), pa=mul_w, pb=add)
    c.text(X(4.3), 4.05, m("1-z_t"), size=10)
    # r_t acts on what is read from h_{t-1}, inside the candidate n_t
    gr = c.box(X(4.4), yg, 0.95, 0.62, m(r"\sigma"), fill=FILL["reset"])
    c.arrow((X(4.4), ya), (X(4.4), yg), pa=A, pb=gr)
    mul_r = c.node(X(6.45), yg, r"$\times$", fill=FILL["reset"])
    c.arrow((X(4.4), yg), (X(6.45), yg), pa=gr, pb=mul_r)
    c.text(X(5.5), yg + 0.3, m("r_t"))
    hn = c.box(X(6.45), 2.1, 2.0, 0.55, m(r"W_{hn} h_{t-1} + b_{hn}"), size=9)
    c.arrow((X(6.45), 2.1), (X(6.45), yg), pa=hn, pb=mul_r)
    # h_{t-1} down the left and along the bottom to W_hn (it passes under x_t's arrow)
    c.line([(X(0.35), ya), (X(0.35), 0.8), (X(2.85), 0.8)], head=False)
    c.line([(X(3.15), 0.8), (X(6.45), 0.8), (X(6.45), 1.82)])
    wn = c.box(X(8.65), 2.1, 1.95, 0.55, m(r"W_{in} x_t + b_{in}"), size=9)
    c.line([(X(3.0), 0.45), (X(8.65), 0.45), (X(8.65), 1.82)])
    plus_n = c.node(X(8.65), yg, "+")
    c.arrow((X(6.45), yg), (X(8.65), yg), pa=mul_r, pb=plus_n)
    c.arrow((X(8.65), 2.1), (X(8.65), yg), pa=wn, pb=plus_n)
    tn = c.box(X(8.65), 4.55, 0.95, 0.58, m(r"\tanh"), fill=FILL["tanh"])
    c.arrow((X(8.65), yg), (X(8.65), 4.55), pa=plus_n, pb=tn)
    c.arrow((X(8.65), 4.55), (X(px), 4.55), pa=tn, pb=mul_w)
    c.text(X(6.9), 4.85, m("n_t"), size=11)


def lstm_cell() -> Canvas:
    c = _canvas(10.0, 7.9)
    with matplotlib.rc_context(SVG_RC):
        _lstm(c)
    return c


def gru_vs_lstm() -> Canvas:
    c = _canvas(21.0, 8.7)
    with matplotlib.rc_context(SVG_RC):
        _lstm(c, 0.0, grad=False)
        _gru(c, 11.0)
        c.ax.plot([10.45, 10.45], [0.0, 7.6], color="#bbbbbb", lw=1)
        y = 8.35
        for x, (fill, label) in zip((0.2, 6.0, 12.3, 16.6), (
                ("keep", "keep the old memory: " + m("f_t") + " / " + m("z_t")),
                ("write", "write the candidate: " + m("i_t") + " / " + m("1 - z_t")),
                ("reset", "reset: " + m("r_t") + " on " + m("h_{t-1}")),
                ("tanh", "candidate: " + m("g_t") + " / " + m("n_t")))):
            c.ax.add_patch(Rectangle((x, y - 0.2), 0.45, 0.4, fc=FILL[fill], ec=INK, lw=0.8))
            c.text(x + 0.6, y, label, size=10, ha="left")
    return c


# ------------------------------------------------------------------------------------------
# Lesson 06


def stacked_bidir() -> Canvas:
    T, dx = 4, 2.75
    xs = [1.9 + dx * t for t in range(T)]
    rows = {"l0f": 1.65, "l0b": 2.65, "l1f": 4.55, "l1b": 5.55}
    y_cat0, y_out = 3.6, 6.95
    off = {"f": -0.5, "b": 0.5}
    c = _canvas(15.6, 8.0)
    with matplotlib.rc_context(SVG_RC):
        c.text(0.1, 7.8, "nn.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)",
               size=11.5, ha="left", weight="bold", family="DejaVu Sans Mono")
        boxes = {}
        for key, y in rows.items():
            layer, d = key[1], key[2]
            for t, x in enumerate(xs):
                boxes[key, t] = c.box(x + off[d], y, 0.9, 0.6, m(rf"h^{{({layer})}}_{t}"),
                                      fill=FILL["tanh"] if d == "f" else FILL["keep"], size=10)
        for t, x in enumerate(xs):
            c.text(x, 0.3, m(f"x_{t}"))
            for key in ("l0f", "l0b"):
                c.arrow((x, 0.55), (x + off[key[2]], rows[key]), pb=boxes[key, t], lw=1.0)
            cat = c.node(x, y_cat0, ";", r=0.22, size=10)
            for key in ("l0f", "l0b"):
                c.arrow((x + off[key[2]], rows[key]), (x, y_cat0), pa=boxes[key, t], pb=cat,
                        lw=1.0, color="#666666")
            for key in ("l1f", "l1b"):
                c.arrow((x, y_cat0), (x + off[key[2]], rows[key]), pa=cat, pb=boxes[key, t],
                        lw=1.0, color="#666666")
            out = c.box(x, y_out, 1.85, 0.5, m(rf"\mathtt{{output}}[:, {t}]"), fill="white",
                        size=9.5)
            for key in ("l1f", "l1b"):
                c.arrow((x + off[key[2]], rows[key]), (x, y_out), pa=boxes[key, t], pb=out,
                        lw=1.0, color="#666666")
        for key, y in rows.items():
            d = key[2]
            for t in range(T - 1):
                a, b = (t, t + 1) if d == "f" else (t + 1, t)
                c.arrow((xs[a] + off[d], y), (xs[b] + off[d], y), pa=boxes[key, a],
                        pb=boxes[key, b], color=CELL, lw=1.7)
        right = xs[-1] + 1.0
        hn = {"l0f": "h_n[0]", "l0b": "h_n[1]", "l1f": "h_n[2] = h_n[-2]",
              "l1b": "h_n[3] = h_n[-1]"}
        names = {"l0f": "layer 0, forward", "l0b": "layer 0, backward",
                 "l1f": "layer 1, forward", "l1b": "layer 1, backward"}
        for key, y in rows.items():
            if key[2] == "f":        # the forward direction ends at t = T-1, on the right
                c.arrow((xs[-1] - 0.05, y), (right + 0.3, y), pa=boxes[key, T - 1], color=CELL,
                        lw=1.7)
                c.text(right + 0.4, y, hn[key], size=9.5, ha="left",
                       family="DejaVu Sans Mono")
                c.text(right + 0.4, y - 0.35, names[key], size=8.5, ha="left", color="#555555")
            else:                    # the backward direction ends at t = 0, on the left
                c.arrow((xs[0] + 0.05, y), (0.75, y), pa=boxes[key, 0], color=CELL, lw=1.7)
                c.text(0.1, y + 0.42, hn[key], size=9.5, ha="left",
                       family="DejaVu Sans Mono")
                c.text(right + 0.4, y, names[key], size=8.5, ha="left", color="#555555")
        c.text(right + 0.4, y_cat0, "; joins the two directions\n(N, 2H); dropout=p acts\n"
               "here, between the layers", size=8.5, ha="left", color="#555555")
        c.text(right + 0.4, y_out, "(N, T, 2H): the top\nlayer only", size=8.5, ha="left",
               color="#555555")
    return c


def packed_order(lengths: list[int]) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """What ``pack_padded_sequence(..., enforce_sorted=False)`` stores for these lengths:
    ``(sorted_indices, batch_sizes, [(sequence, t) of each row of data])``."""
    order = sorted(range(len(lengths)), key=lambda n: -lengths[n])
    batch_sizes = [sum(1 for L in lengths if L > t) for t in range(max(lengths))]
    data = [(n, t) for t in range(max(lengths)) for n in order if lengths[n] > t]
    return order, batch_sizes, data


def padded_packed(lengths=(5, 2, 3)) -> Canvas:
    lengths = list(lengths)
    N, T = len(lengths), max(lengths)
    order, batch_sizes, data = packed_order(lengths)
    c = _canvas(17.5, 6.2)
    s = 0.78
    seq_fill = ["#d6e9f8", "#fde3c0", "#cfe8cf", "#f6d5e7", "#e3dcf5"]
    with matplotlib.rc_context(SVG_RC):
        c.text(0.1, 6.3, "padded: x (N, T, D), lengths = " + str(lengths), size=11.5,
               ha="left", weight="bold")
        for n in range(N):
            y = 5.0 - n * (s + 0.15)
            c.text(0.1, y, f"seq {n}", size=10, ha="left")
            for t in range(T):
                real = t < lengths[n]
                x = 1.6 + t * (s + 0.08)
                c.ax.add_patch(Rectangle((x - s / 2, y - s / 2), s, s,
                                         fc=seq_fill[n % 5] if real else FILL["pad"],
                                         ec=INK if real else "#aaaaaa", lw=1.0))
                c.text(x, y, m(f"x_{t}") if real else "0", size=10,
                       color=INK if real else "#999999")
        c.text(0.1, 1.9, "a padded forward pass keeps stepping\nthrough the zeros; the "
               "backward direction\nstarts in them", size=9.5, ha="left", va="center")
        c.text(1.6 + 2 * (s + 0.08), 5.85, m("t = 0, 1, \\dots, T-1") + "  (batch-first)",
               size=9.5)
        # packed
        x0 = 7.3
        c.text(x0, 6.3, "packed: pack_padded_sequence(x, lengths, batch_first=True, "
               "enforce_sorted=False)", size=10.5, ha="left", weight="bold")
        i = 0
        y = 4.3
        w = s * 0.92
        x = x0 + 0.4
        for t, bs in enumerate(batch_sizes):
            x_start = x
            for _ in range(bs):
                n, tt = data[i]
                c.ax.add_patch(Rectangle((x - w / 2, y - s / 2), w, s, fc=seq_fill[n % 5],
                                         ec=INK, lw=1.0))
                c.text(x, y + 0.1, m(f"x_{tt}"), size=10)
                c.text(x, y - 0.24, f"seq {n}", size=6.5, color="#555555")
                i += 1
                x += w
            c.ax.plot([x_start - w / 2 + 0.05, x - w / 2 - 0.05], [y + 0.62, y + 0.62],
                      color=CELL, lw=2)
            c.text((x_start + x - w) / 2, y + 0.88, f"t = {t}", size=9, color=CELL)
            x += 0.22
        c.text(x0, 3.3, "data: (" + str(len(data)) + ", D), the real elements only, "
               "step by step", size=10, ha="left")
        c.text(x0, 2.7, "batch_sizes = " + str(batch_sizes) + ": how many sequences still "
               "run at each t", size=10, ha="left", family="DejaVu Sans Mono")
        c.text(x0, 2.1, "sorted_indices = " + str(order) + ": longest first", size=10,
               ha="left", family="DejaVu Sans Mono")
        c.text(x0, 1.25, "each sequence is run over its own length in both directions,\n"
               "and h_n holds each one's true final states", size=10, ha="left")
    return c


# ------------------------------------------------------------------------------------------
# The registry: which diagram goes where, with what caption


@dataclass(frozen=True)
class Diagram:
    name: str                 # the attachment's file name, e.g. "rnn_cell.svg"
    lesson: str
    draw: Callable[[], Canvas]
    alt: str                  # the image's alt text (short)
    caption: str              # one line under the image: what to look at
    after: str | None = None  # a new cell after the cell with this nbgrader grade_id ...
    inside: str | None = None  # ... or the image inside the cell with this grade_id,
    before_text: str = ""     # before the paragraph that starts with this text

    def markdown(self) -> str:
        return f"![{self.alt}](attachment:{self.name})\n\n*{self.caption}*"


DIAGRAMS: list[Diagram] = [
    Diagram("rnn_cell.svg", "01_rnn", rnn_cell, "RNN cell",
            r"One step: $x_t$ and $h_{t-1}$ enter through $W_{ih}$ and $W_{hh}$, their sum "
            r"$a_t$ goes through $\tanh$, and $h_t$ leaves twice, to the output and to the "
            r"next step.",
            after="md_005"),
    Diagram("rnn_bptt.svg", "01_rnn", rnn_bptt, "Unrolled RNN with the forward and backward paths",
            r"Follow the red arrows: at each red $+$ the gradient from the loss at step $t$ and "
            r"the one sent back by step $t+1$ add up, and the sum goes into step $t$.",
            after="md_010"),
    Diagram("jacobian_chain.svg", "02_vanishing_gradients", jacobian_chain,
            "Product of Jacobians along the chain",
            r"Each arrow multiplies by one $J_k = \operatorname{diag}(1 - h_k^2)\, W_{hh}$: the "
            r"gradient from $h_T$ back to $h_t$ crosses $T - t$ of them, so it shrinks or grows "
            r"geometrically with the distance.",
            after="md_005"),
    Diagram("lstm_cell.svg", "03_lstm", lstm_cell, "LSTM cell",
            r"Look at the thick blue line: on its way from $c_{t-1}$ to $c_t$ the cell state is "
            r"only scaled by $f_t$ and added to, never multiplied by a weight matrix or squashed.",
            after="md_004"),
    Diagram("gru_vs_lstm.svg", "04_gru", gru_vs_lstm, "GRU cell beside the LSTM cell",
            r"Same colours, same roles: the GRU's one gate $z_t$ keeps (green) and $1 - z_t$ "
            r"writes (pink) where the LSTM has $f_t$ and $i_t$; $r_t$ acts on what is read from "
            r"$h_{t-1}$; there is no output gate.",
            after="md_003"),
    Diagram("stacked_bidir.svg", "06_rnns_in_practice", stacked_bidir,
            "Stacked bidirectional layer",
            r"Layer 1 reads both directions of layer 0 at the same $t$; `output` is the top "
            r"layer only, and `h_n[-2]`, `h_n[-1]` are its forward state at $t = T-1$ and its "
            r"backward state at $t = 0$.",
            inside="md_006", before_text="To summarise a bidirectional sequence"),
    Diagram("padded_packed.svg", "06_rnns_in_practice", padded_packed,
            "Padded batch and packed batch",
            r"The same three sequences: padded, every row has $T$ steps; packed, only the real "
            r"elements are kept, longest sequence first, and `batch_sizes` says how many "
            r"sequences run at each step.",
            inside="md_008", before_text="**Sorting.**"),
]

BY_NAME = {d.name: d for d in DIAGRAMS}


# An attachment holds the diagram twice. JupyterLab (4.6) shows only the first type of an
# attachment's bundle and only if it is a raster type (its AttachmentsResolver throws "Cannot
# render unknown image mime type" on image/svg+xml), so PNG comes first (nbformat also writes the
# keys sorted); nbconvert, hence the feedback HTML and the formgrader, prefers the SVG.
MIMES = ("image/png", "image/svg+xml")


def render(name: str) -> bytes:
    """The SVG bytes of diagram ``name`` (e.g. ``"rnn_cell.svg"``); the same bytes every time."""
    return BY_NAME[name].draw().svg()


def render_images(name: str) -> dict[str, bytes]:
    """``{"image/png": ..., "image/svg+xml": ...}`` of diagram ``name``, drawn once."""
    canvas = BY_NAME[name].draw()
    return {"image/png": canvas.png(), "image/svg+xml": canvas.svg()}


def render_all() -> dict[str, dict[str, bytes]]:
    return {d.name: render_images(d.name) for d in DIAGRAMS}


# ------------------------------------------------------------------------------------------
# Embedding into the solution notebooks


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def find_cell(nb: dict, name: str) -> dict | None:
    """The Markdown cell that shows attachment ``name``, or None."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and f"(attachment:{name})" in _source(cell):
            return cell
    return None


def _image_block(name: str) -> re.Pattern:
    return re.compile(r"!\[[^\]\n]*\]\(attachment:" + re.escape(name) + r"\)(\n\n\*[^\n]*\*)?")


def embed(nb: dict, diagram: Diagram, images: dict[str, bytes]) -> bool:
    """Put ``images`` (``{mime: bytes}``, see ``MIMES``) into ``nb`` as the attachment of the
    diagram's cell, creating the cell (or the image in its host cell) the first time. Returns
    whether ``nb`` changed."""
    cell = find_cell(nb, diagram.name)
    if cell is None:
        if diagram.after:
            at = next((i for i, c in enumerate(nb["cells"]) if _grade_id(c) == diagram.after),
                      None)
            if at is None:
                raise LookupError(f"{diagram.lesson}: no cell {diagram.after!r} to put "
                                  f"{diagram.name} after")
            ids = {c.get("id") for c in nb["cells"]}
            new_id = "diagram-" + diagram.name.rsplit(".", 1)[0].replace("_", "-")
            assert new_id not in ids, f"{diagram.lesson}: a cell {new_id} exists already"
            cell = {"cell_type": "markdown", "id": new_id, "metadata": {},
                    "source": _lines(diagram.markdown())}
            nb["cells"].insert(at + 1, cell)
        else:
            host = next((c for c in nb["cells"] if _grade_id(c) == diagram.inside), None)
            if host is None:
                raise LookupError(f"{diagram.lesson}: no cell {diagram.inside!r} for "
                                  f"{diagram.name}")
            src = _source(host)
            pos = src.find("\n" + diagram.before_text)
            if pos < 0:
                raise LookupError(f"{diagram.lesson}: cell {diagram.inside!r} has no paragraph "
                                  f"starting {diagram.before_text!r}")
            host["source"] = _lines(src[:pos + 1] + diagram.markdown() + "\n\n" + src[pos + 1:])
            cell = host
    changed = False
    src = _source(cell)
    new_src = _image_block(diagram.name).sub(lambda _: diagram.markdown(), src, count=1)
    if new_src != src:
        cell["source"] = _lines(new_src)
        changed = True
    attachments = cell.setdefault("attachments", {})
    want = {mime: base64.b64encode(images[mime]).decode("ascii")
            for mime in MIMES if mime in images}
    old = attachments.get(diagram.name)
    if not (isinstance(old, dict) and list(old) == list(want)
            and all(_joined(old[k]) == v for k, v in want.items())):
        attachments[diagram.name] = want
        changed = True
    return changed


def notebook_path(root: Path, lesson: str) -> Path:
    return Path(root) / lesson / f"{lesson}.ipynb"


def embed_all(root: Path, lessons: list[str] | None = None) -> list[str]:
    """Redraw every diagram and embed it into the notebooks under ``root`` (``solutions/``).

    Each notebook is read right before it is written, and written at once (other cells may be
    edited by others meanwhile). Returns the lessons whose notebook changed."""
    drawn = render_all()
    changed = []
    for lesson in sorted({d.lesson for d in DIAGRAMS}):
        if lessons and lesson not in lessons:
            continue
        path = notebook_path(root, lesson)
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        before = json.dumps(nb, sort_keys=True)
        for d in DIAGRAMS:
            if d.lesson == lesson:
                embed(nb, d, drawn[d.name])
        if json.dumps(nb, sort_keys=True) != before:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            changed.append(lesson)
    return changed


def _joined(value):
    """nbformat stores an SVG attachment as a list of lines."""
    return "".join(value) if isinstance(value, list) else value


def attachment(nb: dict, name: str, mime: str = "image/svg+xml") -> bytes | None:
    """The bytes of type ``mime`` of attachment ``name`` in ``nb``, or None."""
    cell = find_cell(nb, name)
    if cell is None:
        return None
    data = cell.get("attachments", {}).get(name, {}).get(mime)
    return None if data is None else base64.b64decode(_joined(data))


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m rnnkit.diagrams", description=__doc__.split(
        "\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed", help="embed every diagram into the notebooks under ROOT; "
                                     "print the lessons that changed, one a line")
    e.add_argument("root", type=Path, help="the folder of lesson folders (solutions/)")
    e.add_argument("--lesson", action="append")
    w = sub.add_parser("write", help="write every diagram as an SVG file into DIR (to look at)")
    w.add_argument("dir", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "embed":
        for lesson in embed_all(args.root, args.lesson):
            print(lesson)
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        for name, images in render_all().items():
            stem = args.dir / name.rsplit(".", 1)[0]
            for mime, data in images.items():
                path = stem.with_suffix("." + mime.split("/")[1].split("+")[0])
                path.write_bytes(data)
                print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
