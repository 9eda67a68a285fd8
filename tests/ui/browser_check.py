#!/usr/bin/env python3
"""The course in a real browser: JupyterLab and nbgrader's extensions driven by Playwright.

Run it with ``make test-ui`` (it installs Debian's ``chromium`` and ``fonts-noto-cjk`` when run
as root, and Playwright for Python into .venv/), or alone with::

    .venv/bin/python tests/ui/browser_check.py [--lesson 01_rnn ...] [--skip-learner] [--skip-instructor]

It is a plain script, not a pytest module: ``pytest lib/tests tests`` does not collect it.

What it does
------------
A learner (JupyterLab started as ``make lab`` starts it: in a workspace that
``autograder/workspace.py sync`` filled with the released lessons, with
``JUPYTER_CONFIG_PATH=autograder``, on 127.0.0.1 with a token, ``--no-browser``, ``--allow-root``
as root). For every lesson (or those named with ``--lesson``):

1. open the workspace copy of the released lesson from the file browser (a temporary workspace,
   ``<tmp>/_ui_test_<pid>/<lesson>/``, removed at the end: ``lessons/`` is never written);
   the "official Jupyter news" prompt must not appear (autograder/labconfig switches it off);
2. Run All: the first error is ``NotImplementedError`` in the first exercise, none before it;
   every image of its Markdown (the cell diagrams, stored as cell attachments) is in the page
   and decoded (natural width > 0); one screenshot per image, ``diagram-<lesson>-<k>-<name>.png``;
3. Validate: nbgrader's verdict is a failure;
4. the solution's answer cells (from ``solutions/``, markers removed) are written into the copy,
   which is opened again; Run All: no error at all, every figure rendered (each image output of
   the saved notebook is an ``<img>`` in the page that the browser decoded);
5. Validate: "Success! Your notebook passes all the tests."

The kernels run with ``NBGRADER_EXECUTION=autograde`` in their environment, so that they run
the experiments at their shrunk grading-mode sizes (``rnnkit.training.grading_mode``): learner
sizes take up to 3 minutes a lesson on 2 cores. The variable is set in a copy of .venv's
``python3`` kernel spec put first on ``JUPYTER_PATH``, not in the server's environment:
nbgrader 0.9.6's ``utils.setenv`` deletes it from the server's process after the first
Validate (it saves ``os.environ.get(value)`` instead of ``os.environ.get(key)``), and every
later kernel would run at learner sizes. Each user starts with empty JupyterLab
user settings and workspaces (a new learner), so nothing of yours changes what is tested.

An instructor (JupyterLab started as ``make lab-instructor`` starts it: at the repository root):

6. Nbgrader > Formgrader lists every lesson of ``solutions/``;
7. the lesson's link in the formgrader (its source folder) opens ``solutions/<lesson>/`` in the
   file browser; the source notebook opens and Nbgrader > Create assignment shows the Create
   Assignment panel with the cells' nbgrader types;
8. in a temporary copy of the course (``RNNCOURSE_ROOT``, made as tests/conftest.py makes it),
   ``course.py release`` and ``course.py grade`` of two submissions of the first lesson (the
   solution as ``alice``, the blank lesson as ``bob``); JupyterLab at that copy's root; the
   formgrader's manual grading of bob's written answer saves 1 point, and ``course.py export``'s
   CSV shows bob's score 1 higher than before.

Screenshots of every step go to ``tests/ui/screenshots/`` (ignored by git); a failed step
saves ``FAILED-<step>.png`` and ``FAILED-<step>.console.txt`` (the browser console) there.
Exit status 0 when every step passed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "autograder"))
import workspace  # noqa: E402  (autograder/workspace.py: what `make lab` serves)
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
SHOTS = REPO / "tests" / "ui" / "screenshots"
BIN = Path(sys.executable).parent
NEWS_PROMPT = "official Jupyter news"
RUN_TIMEOUT = float(os.environ.get("UI_RUN_TIMEOUT", "420"))       # one Run All, seconds
VALIDATE_TIMEOUT = float(os.environ.get("UI_VALIDATE_TIMEOUT", "420"))


def lesson_ids() -> list[str]:
    return sorted(p.parent.name for p in (REPO / "lessons").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# JupyterLab servers


class Lab:
    """``jupyter lab`` in ``cwd`` on a free loopback port with a random token."""

    def __init__(self, cwd: Path, env_extra: dict | None = None, name: str = "lab",
                 kernel_env: dict | None = None):
        self.cwd, self.name = cwd, name
        self.token = secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.state = Path(tempfile.mkdtemp(prefix=f"ui-{name}-"))
        self.env = dict(os.environ,
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                        JUPYTER_CONFIG_PATH=str(REPO / "autograder"),     # as the Makefile exports
                        JUPYTERLAB_SETTINGS_DIR=str(self.state / "user-settings"),
                        JUPYTERLAB_WORKSPACES_DIR=str(self.state / "workspaces"),
                        **(env_extra or {}))
        if kernel_env:
            # The python3 kernel as .venv's, with ``kernel_env`` added: found first on JUPYTER_PATH.
            spec = json.loads((BIN.parent / "share/jupyter/kernels/python3/kernel.json").read_text())
            spec["env"] = {**spec.get("env", {}), **kernel_env}
            kdir = self.state / "jupyter" / "kernels" / "python3"
            kdir.mkdir(parents=True)
            (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
            self.env["JUPYTER_PATH"] = os.pathsep.join(
                p for p in (str(self.state / "jupyter"), os.environ.get("JUPYTER_PATH")) if p)
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Lab":
        cmd = [str(BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.logfile = open(self.state / "server.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(self.state / 'server.log').read_text()}")
            try:
                self.api("GET", "/api/status")
                log(f"{self.name}: JupyterLab in {self.cwd} on {self.url}")
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("jupyter lab did not answer within 120 s")

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for s in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{s['id']}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)       # the server's own process group
                self.proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.logfile.close()
        server_log = self.state / "server.log"
        if server_log.exists():
            shutil.copy(server_log, SHOTS / f"{self.name}-server.log")
        shutil.rmtree(self.state, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Steps, screenshots and the console


class Runner:
    def __init__(self, page: Page):
        self.page = page
        self.console: list[str] = []
        self.results: list[tuple[str, bool, float, str]] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def shot(self, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def step(self, name: str, fn, *args) -> bool:
        log(f"step {name} ...")
        t0 = time.time()
        try:
            note = fn(*args) or ""
            ok = True
        except Exception as e:                                  # noqa: BLE001 (any failure)
            ok, note = False, f"{type(e).__name__}: {e}"
            traceback.print_exc()
            try:
                self.shot(f"FAILED-{name}")
            except Exception:                                   # noqa: BLE001
                pass
            (SHOTS / f"FAILED-{name}.console.txt").write_text("\n".join(self.console) + "\n")
        dt = time.time() - t0
        self.results.append((name, ok, dt, str(note)))
        log(f"step {name}: {'PASS' if ok else 'FAIL'} ({dt:.0f} s) {note}")
        return ok


# --------------------------------------------------------------------------------------------
# JupyterLab in the page


def open_lab(page: Page, lab: Lab) -> None:
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.locator(".jp-DirListing-content").wait_for(timeout=60_000)
    page.locator("#jp-main-dock-panel").wait_for()
    page.wait_for_timeout(1500)           # let the notifications (news prompt) arrive if any
    if page.get_by_text(NEWS_PROMPT).count():
        raise AssertionError("JupyterLab asks about official Jupyter news")


def menu(page: Page, top: str, label: str) -> None:
    """Click ``label`` in the menu bar's ``top`` menu."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                 has_text=re.compile(f"^{re.escape(label)}$")).first.click()


def browse_to(page: Page, *parts: str) -> None:
    """Go home in the file browser and double-click each folder of ``parts``, then the file."""
    page.locator(".jp-BreadCrumbs-home").first.click()
    for part in parts:
        item = page.locator(".jp-DirListing-item").filter(
            has=page.locator(".jp-DirListing-itemText").get_by_text(part, exact=True))
        item.wait_for(timeout=30_000)
        item.dblclick()
        page.wait_for_timeout(300)


def notebook(page: Page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first


PROMPTS_JS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  return [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
}"""


def open_notebook(page: Page, *parts: str) -> None:
    browse_to(page, *parts)
    notebook(page).wait_for(timeout=60_000)
    # the kernel is up when the kernel status reads Idle
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator"
                 "[data-status='idle']").wait_for(timeout=120_000)


def run_all(page: Page, timeout: float = RUN_TIMEOUT) -> float:
    t0 = time.time()
    menu(page, "Run", "Run All Cells")
    page.wait_for_timeout(1000)
    stable = 0
    while time.time() - t0 < timeout:
        prompts = page.evaluate(PROMPTS_JS) or []
        busy = any("*" in p for p in prompts)
        ran = any(re.search(r"\[\d+\]", p) for p in prompts)
        stable = stable + 1 if (ran and not busy) else 0
        if stable >= 3:
            return time.time() - t0
        page.wait_for_timeout(1000)
    raise TimeoutError(f"Run All still busy after {timeout:.0f} s")


def validate(page: Page, runner: Runner, shot: str) -> tuple[bool, str]:
    """Press nbgrader's Validate; return (passed, the dialog's text); close the dialog."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first.click()
    msg = page.locator("#validation-message")
    msg.wait_for(timeout=VALIDATE_TIMEOUT * 1000)
    page.wait_for_timeout(500)
    runner.shot(shot)
    classes = msg.get_attribute("class") or ""
    text = msg.inner_text()
    page.locator(".jp-Dialog .jp-mod-accept").first.click()
    return "validation-success" in classes, text


def close_all_tabs(page: Page) -> None:
    menu(page, "File", "Close All Tabs")
    page.wait_for_timeout(500)
    discard = page.locator(".jp-Dialog button", has_text=re.compile("Discard|Don't Save"))
    if discard.count():
        discard.first.click()


DOM_IMAGES_JS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  return [...nb.querySelectorAll('.jp-OutputArea-output img')].map(
      i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}));
}"""


MARKDOWN_IMAGES = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell .jp-RenderedMarkdown img"

IMAGE_STATE_JS = """img => ({complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                       alt: img.getAttribute('alt') || '', src: (img.getAttribute('src') || '').slice(0, 30)})"""


def markdown_images(nb: dict) -> list[str]:
    """The images the Markdown cells of ``nb`` show, in order: the attachment's name for
    ``![...](attachment:NAME)``, else the link or ``<img>``'s source."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        src = "".join(cell["source"])
        for m in re.finditer(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*\bsrc=[\"']([^\"']+)", src):
            target = m.group(1) or m.group(2)
            found.append(target.removeprefix("attachment:"))
    return found


def check_markdown_images(page: Page, runner: Runner, lesson: str, nb: dict) -> str:
    """Every image of the lesson's Markdown is in the page and decoded (natural width > 0);
    one screenshot per image (the image and the caption under it)."""
    expected = markdown_images(nb)
    imgs = page.locator(MARKDOWN_IMAGES)
    n = imgs.count()
    assert n == len(expected), (f"{len(expected)} images in the lesson's Markdown "
                                f"({', '.join(expected)}), {n} in the page")
    bad = []
    for k, name in enumerate(expected):
        img = imgs.nth(k)
        img.scroll_into_view_if_needed()
        try:
            img.evaluate("img => img.decode ? img.decode() : null", timeout=15_000)
        except Exception:                                       # noqa: BLE001 (decode failed)
            pass
        state = img.evaluate(IMAGE_STATE_JS)
        if not (state["complete"] and state["w"] > 0):
            bad.append(f"{name}: {state}")
        page.wait_for_timeout(300)
        box = img.bounding_box()
        if box:
            view = page.viewport_size
            clip = {"x": max(box["x"] - 10, 0), "y": max(box["y"] - 10, 0)}
            clip["width"] = min(box["width"] + 20, view["width"] - clip["x"])
            clip["height"] = min(box["height"] + 70, view["height"] - clip["y"])  # + caption
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.rsplit("/", 1)[-1]).removesuffix(".svg")
            page.screenshot(path=str(SHOTS / f"diagram-{lesson}-{k + 1}-{stem}.png"), clip=clip)
    assert not bad, f"images not rendered: {bad}"
    return f"{n} Markdown images rendered ({', '.join(expected)})"


def scroll_to(page: Page, selector: str) -> None:
    loc = page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) {selector}")
    if loc.count():
        loc.first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)


# --------------------------------------------------------------------------------------------
# Notebooks on disk


def errors_in(nb: dict) -> list[tuple[int, dict, dict]]:
    return [(i, c, o) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def images_in(nb: dict) -> int:
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))


def strip_markers(source: str) -> str:
    return "\n".join(l for l in source.split("\n")
                     if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def filled(lesson: str) -> dict:
    """The released lesson with every answer cell holding the solution's answer."""
    nb = json.loads((REPO / "lessons" / lesson / f"{lesson}.ipynb").read_text())
    sol = json.loads((REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in sol["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    n = 0
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            src = answers[meta["grade_id"]]
            cell["source"] = strip_markers(src if isinstance(src, str) else "".join(src))
            n += 1
    assert n, f"{lesson}: no answer cell found"
    return nb


# --------------------------------------------------------------------------------------------
# The learner


def learner(runner: Runner, lab: Lab, lessons: list[str], tmpname: str) -> None:
    page = runner.page
    served = lab.cwd / tmpname
    workspace.sync(served, REPO / "lessons")          # what `make lab` does before it starts

    runner.step("learner-open-lab", lambda: (open_lab(page, lab), runner.shot("learner-0-lab"))
                and None)
    for lesson in lessons:
        folder = served / lesson
        path = folder / f"{lesson}.ipynb"
        cells = json.loads(path.read_text())["cells"]
        first_answer = next(i for i, c in enumerate(cells) if c["cell_type"] == "code"
                            and c["metadata"].get("nbgrader", {}).get("solution"))
        # the first exercise's test cell: where calling the blank answer raises
        first_test = next(i for i, c in enumerate(cells) if i > first_answer
                          and c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade"))

        def blank_run():
            open_notebook(page, tmpname, lesson, path.name)
            runner.shot(f"learner-{lesson}-1-opened")
            dt = run_all(page)
            err = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output",
                               has_text="NotImplementedError")
            assert err.count(), "no NotImplementedError shown in the page"
            err.first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            runner.shot(f"learner-{lesson}-2-blank-run-all")
            return f"Run All {dt:.0f} s"

        def blank_validate():
            passed, text = validate(page, runner, f"learner-{lesson}-3-blank-validate")
            assert not passed, f"Validate passes the blank lesson: {text[:300]}"
            # Validate saved the notebook: read what the page ran
            nb = json.loads(path.read_text())
            errs = errors_in(nb)
            assert errs, "the saved notebook holds no error"
            i, cell, out = errs[0]
            assert out["ename"] == "NotImplementedError", f"first error: {out['ename']}: {out['evalue']}"
            assert i in (first_answer, first_test), \
                f"first error in cell {i}; the first exercise is cell {first_answer}, its test {first_test}"
            assert len(errs) == 1, f"{len(errs)} errors: Run All did not stop at the first"
            return f"verdict: {text.strip().splitlines()[0][:80]!r}"

        def filled_run():
            close_all_tabs(page)
            lab.shutdown_kernels()
            path.write_text(json.dumps(filled(lesson), indent=1))
            open_notebook(page, tmpname, lesson, path.name)
            dt = run_all(page)
            errs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback")
            assert not errs.count(), f"an error is shown: {errs.first.inner_text()[:500]}"
            imgs = page.evaluate(DOM_IMAGES_JS)
            bad = [im for im in imgs if not (im["complete"] and im["w"] > 0)]
            assert not bad, f"{len(bad)} of {len(imgs)} images not rendered"
            scroll_to(page, ".jp-OutputArea-output img")
            runner.shot(f"learner-{lesson}-4-filled-run-all")
            return f"Run All {dt:.0f} s, {len(imgs)} figures in the page"

        def filled_validate():
            passed, text = validate(page, runner, f"learner-{lesson}-5-filled-validate")
            assert passed, f"Validate fails the filled lesson: {text[:1000]}"
            nb = json.loads(path.read_text())
            errs = errors_in(nb)
            assert not errs, f"errors in the saved notebook: {[(i, o['ename']) for i, _, o in errs]}"
            prompts = page.evaluate(PROMPTS_JS)
            assert all(re.search(r"\[\d+\]", p) for p in prompts), "a code cell did not run"
            n_file = images_in(nb)
            n_dom = len(page.evaluate(DOM_IMAGES_JS))
            # the page may show more (a widget's figure is not saved in the file), never fewer
            assert n_dom >= n_file, f"{n_file} image outputs in the notebook, {n_dom} in the page"
            text_figs = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
                         for o in c.get("outputs", [])
                         if "<Figure size" in "".join(o.get("data", {}).get("text/plain", ""))
                         and not any(k.startswith("image/") for k in o.get("data", {}))]
            assert not text_figs, f"figures shown as text only in cells {text_figs}"
            return f"verdict: {text.strip().splitlines()[0][:80]!r}; {n_file} figures"

        if runner.step(f"learner-{lesson}-blank-run-all", blank_run):
            runner.step(f"learner-{lesson}-markdown-images", check_markdown_images, page, runner,
                        lesson, json.loads(path.read_text()))
            runner.step(f"learner-{lesson}-blank-validate", blank_validate)
        if runner.step(f"learner-{lesson}-filled-run-all", filled_run):
            runner.step(f"learner-{lesson}-filled-validate", filled_validate)
        try:
            close_all_tabs(page)
            lab.shutdown_kernels()
        except Exception:                                       # noqa: BLE001
            traceback.print_exc()


# --------------------------------------------------------------------------------------------
# The instructor


def formgrader_frame(page: Page):
    menu(page, "Nbgrader", "Formgrader")
    deadline = time.time() + 60
    while time.time() < deadline:
        for frame in page.frames:
            if "/formgrader" in frame.url:
                frame.wait_for_load_state()
                return frame
        page.wait_for_timeout(500)
    raise TimeoutError("the formgrader did not open")


def instructor_repo(runner: Runner, lab: Lab) -> None:
    page = runner.page
    all_lessons = sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb")
                         if p.stem == p.parent.name)
    first = all_lessons[0]

    def formgrader_list():
        open_lab(page, lab)
        frame = formgrader_frame(page)
        for lesson in all_lessons:
            frame.locator("#main_table a, table a", has_text=lesson).first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        runner.shot("instructor-1-formgrader-lessons")
        warning = frame.get_by_text("does not exist and could not be created")
        assert not warning.count(), f"the formgrader warns: {warning.first.inner_text()[:300]}"
        return f"{len(all_lessons)} lessons listed, no exchange warning"

    def edit_source():
        frame = next(f for f in page.frames if "/formgrader" in f.url)
        frame.locator("table a", has_text=re.compile(f"^{first}$")).first.click()
        # the link sends the file browser to solutions/<lesson>/
        page.locator(".jp-BreadCrumbs").get_by_text(first).wait_for(timeout=30_000)
        item = page.locator(".jp-DirListing-item").filter(
            has=page.locator(".jp-DirListing-itemText").get_by_text(f"{first}.ipynb", exact=True))
        item.dblclick()
        notebook(page).wait_for(timeout=60_000)
        menu(page, "Nbgrader", "Create assignment")
        panel = page.locator("#nbgrader-create_assignemnt")
        panel.wait_for(timeout=30_000)
        panel.locator("select").first.wait_for(timeout=30_000)
        kinds = panel.locator("select").evaluate_all("els => els.map(e => e.value)")
        assert "solution" in kinds and "tests" in kinds, f"cell types in the panel: {set(kinds)}"
        runner.shot("instructor-2-create-assignment")
        return f"{len(kinds)} cells typed in the Create Assignment panel"

    if runner.step("instructor-formgrader-lessons", formgrader_list):
        runner.step("instructor-edit-source", edit_source)
    try:
        close_all_tabs(page)
        lab.shutdown_kernels()
    except Exception:                                           # noqa: BLE001
        traceback.print_exc()


def course(root: Path, *args: str) -> str:
    env = dict(os.environ, RNNCOURSE_ROOT=str(root),
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_CONFIG_PATH=str(REPO / "autograder"))
    proc = subprocess.run([sys.executable, str(root / "autograder" / "course.py"), *args],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"course.py {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def make_course_copy(dest: Path) -> Path:
    """tests/conftest.py's copy of the course, plus a link to lib/."""
    from conftest import make_course_copy as copy_for_grading
    copy_for_grading(dest)
    (dest / "lib").symlink_to(REPO / "lib")
    return dest


def read_csv(path: Path) -> dict:
    with open(path, newline="") as f:
        return {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(f)}


def instructor_grading(runner: Runner, page: Page, lesson: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="ui-course-"))
    root = make_course_copy(work / "course")
    state: dict = {}
    sol = json.loads((REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    written = next(c["metadata"]["nbgrader"]["grade_id"] for c in sol["cells"]
                   if c["cell_type"] == "markdown" and c["metadata"].get("nbgrader", {}).get("grade")
                   and c["metadata"]["nbgrader"].get("solution"))

    def grade():
        course(root, "release", "--lesson", lesson)
        for student, nb in (("alice", REPO / "solutions" / lesson / f"{lesson}.ipynb"),
                            ("bob", root / "lessons" / lesson / f"{lesson}.ipynb")):
            folder = root / "autograder" / "submitted" / student / lesson
            folder.mkdir(parents=True)
            shutil.copy(nb, folder / f"{lesson}.ipynb")
        out = course(root, "grade", "--lesson", lesson, "--jobs", "2")
        course(root, "export", "--to", str(work / "before.csv"))
        state["before"] = read_csv(work / "before.csv")
        assert ("bob", lesson) in state["before"], f"bob not in the CSV: {state['before']}"
        return f"before: {state['before']}; " + " | ".join(out.strip().splitlines()[-4:])

    def manual_grade():
        with Lab(root, {"RNNCOURSE_ROOT": str(root)}, name="instructor-copy") as lab:
            open_lab(page, lab)
            frame = formgrader_frame(page)
            frame.get_by_role("link", name="Manual Grading").click()
            frame.get_by_role("link", name=lesson, exact=True).first.click()     # the lesson
            frame.get_by_role("link", name=lesson, exact=True).first.click()     # its notebook
            # the submissions list: show the students' names, then open bob's
            frame.locator("table").first.wait_for()
            show = frame.get_by_text("Show student names", exact=False)
            if show.count():
                show.first.click()
            row = frame.locator("tr", has_text="bob")
            row.locator("a", has_text="Submission #").first.click()
            score = frame.locator(f'input.score[id="{written}"]')
            score.wait_for(timeout=60_000)
            score.scroll_into_view_if_needed()
            with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url
                                      and r.request.method == "PUT", timeout=30_000) as resp:
                score.fill("1")
                score.press("Tab")
            assert resp.value.ok, f"saving the score: HTTP {resp.value.status}"
            page.wait_for_timeout(500)
            runner.shot("instructor-3-manual-grade-saved")
            lab.shutdown_kernels()
        course(root, "export", "--to", str(work / "after.csv"))
        after = read_csv(work / "after.csv")
        shutil.copy(work / "after.csv", SHOTS / "instructor-grades.csv")
        d = after[("bob", lesson)] - state["before"][("bob", lesson)]
        assert abs(d - 1) < 1e-9, f"bob's score moved by {d}: before {state['before']}, after {after}"
        return f"export after: {after}"

    try:
        if runner.step("instructor-grade-two-submissions", grade):
            runner.step("instructor-manual-grade-export", manual_grade)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lesson", action="append", help="a lesson id (default: every lesson)")
    ap.add_argument("--skip-learner", action="store_true")
    ap.add_argument("--skip-instructor", action="store_true")
    args = ap.parse_args(argv)
    lessons = args.lesson or lesson_ids()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.iterdir():
        if old.is_file():
            old.unlink()
    t0 = time.time()
    tmpname = f"_ui_test_{os.getpid()}"
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="ui-chromium-") as profile:
        # a fresh profile: Playwright passes it to Chromium as --user-data-dir
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(30_000)
        page = context.new_page()
        runner = Runner(page)
        try:
            if not args.skip_learner:
                top = Path(tempfile.mkdtemp(prefix="ui-workspace-"))
                try:
                    with Lab(top, name="learner",
                             kernel_env={"NBGRADER_EXECUTION": "autograde"}) as lab:
                        learner(runner, lab, lessons, tmpname)
                finally:
                    shutil.rmtree(top, ignore_errors=True)
            if not args.skip_instructor:
                exchange = Path(tempfile.mkdtemp(prefix="ui-exchange-"))   # as make lab-instructor
                try:
                    with Lab(REPO, {"RNNCOURSE_LOCAL_EXCHANGE": str(exchange)},
                             name="instructor") as lab:
                        instructor_repo(runner, lab)
                finally:
                    shutil.rmtree(exchange, ignore_errors=True)
                instructor_grading(runner, page, lessons[0])
        finally:
            context.close()
    print()
    print(f"{'step':<44} {'result':<6} {'s':>5}  note")
    for name, ok, dt, note in runner.results:
        print(f"{name:<44} {'PASS' if ok else 'FAIL':<6} {dt:5.0f}  {note[:150]}")
    failed = [r for r in runner.results if not r[1]]
    print(f"\n{len(runner.results) - len(failed)}/{len(runner.results)} steps passed in "
          f"{time.time() - t0:.0f} s; screenshots in {SHOTS.relative_to(REPO)}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
