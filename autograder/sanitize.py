"""Nothing a learner wrote runs in the instructor's browser, nor in another learner's.

The autograded notebook is shown to the instructor by the formgrader (a Jupyter server that runs
as the instructor, as root when they start it as root) and to the learner, rendered to HTML, by
``course.py feedback``. Both render it with nbconvert's HTML exporter, which by default writes
HTML outputs, JavaScript outputs, widget views and the raw HTML of Markdown cells into the page
as they are. ``SanitizeLearnerCells`` is run on it at the end of ``nbgrader autograde``, so that
the notebook written to ``autograder/autograded/`` is clean, and again by every HTML export
(``HTMLExporter.preprocessors`` in nbgrader_config.py), so that a notebook graded before this
existed is rendered clean too. It

- keeps of each output only what cannot run: streams, errors (rendered as escaped text), and
  ``text/plain``, ``image/png`` and ``image/jpeg`` data (the images only when they are base64,
  their width and height only when they are numbers), and ``text/markdown`` rewritten as learner
  Markdown is (below: lesson 05 shows its table of results so); HTML, JavaScript, SVG, LaTeX,
  widget and every other kind of output is dropped (a line of text says what was dropped where
  nothing else of the output is left);
- rewrites the Markdown of every cell that is not the course's own (answer cells of written
  answers, cells the learner edited or added): raw HTML becomes text, while Markdown, code and
  LaTeX math (``$...$``, ``$$...$$``) render as before. The rewritten cell is rendered the way
  nbconvert renders it, and the result must consist of tags and attributes from an allow-list
  only (no script, event handler, iframe, ``javascript:`` link, ...); if it does not, the
  answer is shown as plain text in a code block instead;
- keeps attachments of a learner's Markdown only as base64 PNG or JPEG, and gives the course's
  own Markdown cells the figures (attachments) of the released lesson;
- removes nbgrader metadata that names no cell of the released lesson (a learner's forgery),
  and the notebook's saved widget state.

The course's own Markdown (identical to a cell of the released lesson in ``lessons/``) is left
as it is: it is trusted, and its collapsed hints use HTML.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import json
import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

SAFE_DATA = ("text/plain", "image/png", "image/jpeg")
"""Output data kept: text is rendered escaped, images as base64 ``data:`` URIs."""

IMAGE_DATA = ("image/png", "image/jpeg")

_B64 = re.compile(r"[A-Za-z0-9+/=\s]*\Z")

# ------------------------------------------------------------------------------------------
# Markdown: raw HTML becomes text outside code and math


_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$")
# The inline spans nbconvert's Markdown parser does not read as HTML: math (its own patterns,
# nbconvert.filters.markdown_mistune.MathInlineParser) and code spans.
_VERBATIM = re.compile("|".join([
    r"(?s:(?<!\\)\$\$.*?(?<!\\)\$\$)",
    r"(?s:(?<!\\)\\\\\[.*?(?<!\\)\\\\\])",
    r"(?s:(?<![$\\])\$.+?(?<![$\\])\$)",
    r"(?s:(?<!\\)\\\\\(.*?(?<!\\)\\\\\))",
    r"(?s:\\begin\{([a-z]*\*?)\}.*?\\end\{\1\})",
    r"(?P<ticks>`+)(?:[^`]|(?!(?P=ticks))`+)*?(?P=ticks)(?!`)",
    r"<[a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*>",          # an autolink (its scheme is checked)
    r"<[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9.-]+>",  # an e-mail autolink
]))


def _escape_inline(text: str) -> str:
    """``<`` as ``&lt;`` everywhere but in math and code spans."""
    out, i = [], 0
    while i < len(text):
        m = _VERBATIM.match(text, i)
        if m and m.end() > i:
            out.append(m.group(0))
            i = m.end()
        elif text[i] == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])               # a Markdown escape, "\\<" included
            i += 2
        else:
            out.append("&lt;" if text[i] == "<" else text[i])
            i += 1
    return "".join(out)


def escape_raw_html(source: str) -> str:
    """The Markdown ``source`` with every ``<`` outside code and math written as ``&lt;``.

    Fenced code blocks are kept as they are (nbconvert escapes them), except ``mermaid`` blocks,
    which nbconvert writes into the page unescaped."""
    lines = source.split("\n")
    out, prose, fence = [], [], None
    for line in lines:
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                out.append(_escape_inline("\n".join(prose)) if prose else None)
                prose = []
                fence = (m.group(1)[0], len(m.group(1)),
                         m.group(2).strip().lower().startswith("mermaid"))
                out.append(line)
            else:
                prose.append(line)
        else:
            char, size, mermaid = fence
            if re.match(r"^ {0,3}" + re.escape(char) + "{" + str(size) + r",}\s*$", line):
                fence = None
            out.append(line.replace("<", "&lt;") if mermaid else line)
    if prose:
        out.append(_escape_inline("\n".join(prose)))
    return "\n".join(part for part in out if part is not None)


# ------------------------------------------------------------------------------------------
# The rendered HTML: tags and attributes from an allow-list only

_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
         "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "li", "ol", "p", "pre",
         "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
         "tr", "ul"}
_ATTRS = {"class", "id", "href", "src", "alt", "title", "style", "type", "checked",
          "disabled", "start", "align", "colspan", "rowspan"}
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z][a-zA-Z-]*(?:="[^"<>]*")?)*)\s*/?>')
_ATTR = re.compile(r'([a-zA-Z][a-zA-Z-]*)(?:="([^"]*)")?')
_IMAGE_URI = re.compile(r"data:image/(png|jpeg|gif);base64,[a-z0-9+/=]*\Z")


def _url_ok(value: str, attr: str) -> bool:
    url = re.sub(r"[\x00-\x20]", "", html.unescape(value)).lower()
    if re.match(r"[a-z][a-z0-9+.-]*:", url):
        scheme = url.split(":", 1)[0]
        if scheme in ("http", "https"):
            return True
        return (scheme == "mailto" if attr == "href" else bool(_IMAGE_URI.match(url)))
    if attr == "href":
        return url.startswith("#")                 # a heading's anchor
    # an image next to the notebook: an <img> runs no script, but stay inside the folder
    return not url.startswith(("/", "\\")) and ".." not in url


def html_is_safe(rendered: str) -> bool:
    """True when ``rendered`` holds no tag or attribute outside the allow-list: every ``<``
    opens an allowed tag with double-quoted attribute values, links are http(s), mailto or
    anchors, images http(s), base64 PNG/JPEG/GIF or relative, styles only align text."""
    rest = []
    pos = 0
    for m in _TAG.finditer(rendered):
        rest.append(rendered[pos:m.start()])
        pos = m.end()
        if m.group(2).lower() not in _TAGS:
            return False
        for name, value in _ATTR.findall(m.group(3)):
            name = name.lower()
            if name not in _ATTRS:
                return False
            if name in ("href", "src") and not _url_ok(value, name):
                return False
            if name == "style" and not re.fullmatch(r"text-align:\s*(left|right|center)",
                                                   value.strip()):
                return False
            if name == "type" and value.lower() != "checkbox":
                return False
    rest.append(rendered[pos:])
    return "<" not in "".join(rest)


def render_markdown(source: str, attachments: dict | None = None) -> str:
    """``source`` rendered as nbconvert's HTML exporter renders a Markdown cell."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    renderer = IPythonRenderer(escape=False, attachments=attachments or {})
    return MarkdownWithMath(renderer=renderer).render(source)


def _as_code_block(source: str) -> str:
    longest = max((len(m) for m in re.findall(r"~+", source)), default=0)
    fence = "~" * max(3, longest + 1)
    return ("*(This answer contained HTML or links that are not shown in grading pages; "
            "its text follows as it was written.)*\n\n" + f"{fence}\n{source}\n{fence}")


def sanitize_markdown(source: str, attachments: dict | None = None) -> str:
    """Learner Markdown that renders with no active HTML (see the module's docstring)."""
    for candidate in (escape_raw_html(source), _as_code_block(source)):
        try:
            if html_is_safe(render_markdown(candidate, attachments)):
                return candidate
        except Exception:                                   # noqa: BLE001 (a missing attachment)
            continue
    return "*(This answer could not be shown safely: read it in the submitted notebook.)*"


# ------------------------------------------------------------------------------------------
# Outputs


def _is_base64(value) -> bool:
    if not isinstance(value, str) or not _B64.match(value):
        return False
    try:
        base64.b64decode("".join(value.split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def _image_metadata(meta) -> dict:
    """Of an image's metadata, only a numeric width and height (templates write them unquoted)."""
    if not isinstance(meta, dict):
        return {}
    return {k: meta[k] for k in ("width", "height")
            if isinstance(meta.get(k), (int, float)) and not isinstance(meta.get(k), bool)}


def sanitize_output(output: dict) -> dict | None:
    """The output with only inert data, or None when nothing of it can be shown."""
    kind = output.get("output_type")
    if kind == "stream":
        ok = output.get("name") in ("stdout", "stderr") and isinstance(output.get("text"),
                                                                       (str, list))
        return output if ok else None
    if kind == "error":
        return output
    if kind not in ("display_data", "execute_result"):
        return None
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    kept = {}
    for mime in SAFE_DATA:
        value = data.get(mime)
        if mime in IMAGE_DATA:
            if _is_base64(value):
                kept[mime] = value
        elif isinstance(value, (str, list)):
            kept[mime] = value
    markdown = data.get("text/markdown")
    if isinstance(markdown, (str, list)):       # a table of results: Markdown made inert
        kept["text/markdown"] = sanitize_markdown(
            "".join(markdown) if isinstance(markdown, list) else markdown)
    dropped = sorted(k for k in data if k not in kept)
    if dropped and not kept:                    # else its text or image stands for it
        kept["text/plain"] = (f"[{', '.join(dropped)} output not shown: HTML, JavaScript and "
                              f"other active outputs of a submission are removed before "
                              f"grading pages show it]")
    output["data"] = nbformat.from_dict(kept)
    meta = output.get("metadata") if isinstance(output.get("metadata"), dict) else {}
    sizes = {m: _image_metadata(meta.get(m)) for m in IMAGE_DATA if m in kept}
    output["metadata"] = nbformat.from_dict({m: v for m, v in sizes.items() if v})
    if kind == "execute_result" and not isinstance(output.get("execution_count"), int):
        output["execution_count"] = None
    return output


# ------------------------------------------------------------------------------------------
# The preprocessor


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


class SanitizeLearnerCells(Preprocessor):
    """Strip what could run in a browser from a graded notebook (see the module's docstring).

    An nbconvert preprocessor (not an nbgrader one), so that nbconvert's HTML exporter can run
    it too; enabled by default, as nbgrader's preprocessors are."""

    enabled = Bool(True, help="Whether to sanitise the notebook").tag(config=True)

    release_directory = Unicode(
        "", help="The folder of released lessons (lessons/): its notebooks say which Markdown "
                 "is the course's own and which nbgrader cells exist.").tag(config=True)

    def _reference(self, resources) -> tuple[dict, set | None]:
        """({Markdown source of the course: its attachments}, grade ids) of the released
        notebook; ({}, None) when it cannot be read: then every Markdown cell is rewritten and
        no metadata removed."""
        nbg = resources.get("nbgrader") or {}
        assignment = nbg.get("assignment") or resources.get("assignment_id")
        notebook = nbg.get("notebook") or resources.get("notebook_id")
        if not (self.release_directory and assignment and notebook):
            return {}, None
        top = Path(self.release_directory).resolve()
        path = (top / str(assignment) / f"{notebook}.ipynb").resolve()
        if top not in path.parents:
            return {}, None
        try:
            # nbformat.reads, not json.loads: it joins the multi-line strings (an SVG
            # attachment is stored as a list of lines) as the renderers expect them
            released = nbformat.reads(path.read_text(), as_version=4)
        except Exception:                                   # noqa: BLE001 (unreadable lesson)
            return {}, None
        course_md, ids = {}, set()
        for cell in released.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade_id"):
                ids.add(meta["grade_id"])
            if cell.get("cell_type") == "markdown" and not meta.get("solution"):
                course_md.setdefault(_source(cell), cell.get("attachments"))
        return course_md, ids

    def preprocess(self, nb, resources):
        course_md, ids = self._reference(resources)
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            meta = cell.get("metadata", {})
            nbg = meta.get("nbgrader")
            if nbg is not None and ids is not None and (not isinstance(nbg, dict)
                                                        or nbg.get("grade_id") not in ids):
                del meta["nbgrader"]
            meta.pop("widgets", None)
            if cell.get("cell_type") == "code":
                outputs = [sanitize_output(o) for o in cell.get("outputs", [])]
                cell.outputs = [o for o in outputs if o is not None]
                if not isinstance(cell.get("execution_count"), (int, type(None))):
                    cell.execution_count = None
            elif cell.get("cell_type") == "markdown":
                self._markdown(cell, course_md)
        return nb, resources

    @staticmethod
    def _markdown(cell, course_md: dict) -> None:
        source = _source(cell)
        if source in course_md:                 # the course's own text, with its own figures
            if course_md[source]:
                cell.attachments = nbformat.from_dict(copy.deepcopy(course_md[source]))
            else:
                cell.pop("attachments", None)
            return
        kept = {}
        for name, value in (cell.get("attachments") or {}).items():
            images = ({m: v for m, v in value.items() if m in IMAGE_DATA and _is_base64(v)}
                      if isinstance(value, dict) else {})
            if images:
                kept[name] = images
        if kept:
            cell.attachments = nbformat.from_dict(kept)
        else:
            cell.pop("attachments", None)
        cell.source = sanitize_markdown(source, kept)
