#!/usr/bin/env python3
"""The course on a real JupyterHub with nbgrader's exchange, end to end, in headless Chromium.

Run by ``make test-hub`` (as root: it creates system users and starts a hub)::

    .venv/bin/python tests/hub/hub_check.py [--keep]

A plain script, not a pytest module: no file of tests/hub/ is named test_*.py, so
``pytest lib/tests tests`` collects nothing here (and there is no conftest.py, whose module name
would shadow tests/conftest.py).

What it does, all on loopback ports in a temporary folder (the repository's own autograder/ and
/srv/nbgrader/exchange are never touched):

1. a copy of the course (solutions/, lessons/, autograder/*.py, as tests/conftest.py makes it)
   as the instructor's course root, an exchange folder, the hub's runtime folder;
   ``hub/setup_hub.sh`` (groups, exchange 1777, permissions, proxy) and ``hub/users.py`` create
   one instructor and three students (system accounts with random passwords);
2. the instructor (as that user, on the command line): ``course.py release`` and
   ``nbgrader release_assignment 01_rnn`` into the exchange;
3. JupyterHub (hub/jupyterhub_config.py, PAM login, configurable-http-proxy from hub/node_modules);
4. each student logs in through the hub's login form, opens Nbgrader > Assignment List, fetches
   01_rnn; the formgrader is absent for them (404 at /user/<student>/formgrader, no menu item);
   the fetched notebook is filled on disk as that user (``runuser``): alice with the solution's
   answer cells, bob left blank, carol with the first half of the answer cells (carol first
   submits it blank, then again half done: nbgrader's resubmission, the newest one counts);
   each submits from the Assignment List;
5. the instructor logs in (the formgrader is served by the instructor's own server),
   ``nbgrader collect 01_rnn`` as the instructor puts the three submissions into
   autograder/submitted/<student>/01_rnn/ of the course, the formgrader's Manage Submissions page
   lists them; ``course.py grade`` as the instructor (bubblewrap sandbox with a user namespace);
   the written answers of alice are hand-graded through the formgrader's API (the calls its
   grading page makes); ``course.py feedback`` + ``nbgrader release_feedback``; ``course.py export``;
6. each student presses Fetch Feedback in the Assignment List and "(view feedback)", which opens
   the feedback page in a JupyterLab tab; it
   shows their own total (the gradebook's) and no other student's name;
7. the file system refuses a student: another student's home, the exchange's inbound folder and a
   submission in it, the exchange's feedback listing, the gradebook, the submitted/ folder and
   the solutions, and the repository's .git/, tests/, lib/tests/, solutions/, autograder/,
   hub/runtime/ (``runuser -u <student> -- cat|ls ...``); then bob walks the whole file system
   (student_walk.py, as his uid) and finds no answer line, hidden test or nbgrader marker
   outside third-party code (issue 17, items 1-2). Before the collect, bob forges submissions
   (``nbgrader submit --student=alice``, folders named for carol dated 2099, his own dated 2099
   or of 60 MiB; renaming or deleting alice's folder is refused by the sticky bit); the second
   instructor's collect refuses all five and collects each student's own newest submission;
   while the servers run, bob sees none of the others' processes in /proc (setup_hub.sh's
   hidepid=invisible), and his write of 1 GiB into inbound/ stops at the exchange's own file
   system's size (a 256 MiB image here; setup_hub.sh), so he cannot fill the machine's disk;
   alice's kernel listens on no TCP port (kernels on Unix sockets: another user could read its
   output); the formgrader's Autograde button is refused (it would run bob's code as the
   instructor, unsandboxed);
   after the feedback, root grades alice's submission again (the README allows it) while bob
   looks through /tmp, /var/tmp and /dev/shm: he sees the scratch folders' names but can enter
   none, and reads no answer line, IPython history or kernel connection file (item 7);
8. the hub and everything it started stop; the users, their homes and the folder are removed
   (``--keep`` keeps them for a look).

Screenshots and logs go to tests/hub/screenshots/ (ignored by git). Exit status 0 when every
step passed.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import pwd
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
HUB = REPO / "hub"
SHOTS = REPO / "tests" / "hub" / "screenshots"
BIN = Path(sys.executable).parent
LESSON = "01_rnn"
INSTRUCTOR = "rnnt-ada"
INSTRUCTOR2 = "rnnt-bea"                                 # a second instructor: collects, grades
INSTRUCTORS = [INSTRUCTOR, INSTRUCTOR2]
STUDENTS = ["rnnt-alice", "rnnt-bob", "rnnt-carol"]      # solution, blank, half done
ALICE, BOB, CAROL = STUDENTS
T0 = time.time()
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
EXCHANGE_MB = 256          # the test hub's exchange: a file system of this size (setup_hub.sh)


def log(msg: str) -> None:
    print(f"[{time.time() - T0:6.1f}s] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Steps:
    def __init__(self):
        self.results: list[tuple[str, bool, float, str]] = []
        self.page = None

    def run(self, name: str, fn, *args) -> bool:
        log(f"step {name} ...")
        t0 = time.time()
        try:
            note = fn(*args) or ""
            ok = True
        except Exception as e:                                  # noqa: BLE001 (any failure)
            ok, note = False, f"{type(e).__name__}: {e}"
            traceback.print_exc()
            if self.page is not None:
                try:
                    self.page.screenshot(path=str(SHOTS / f"FAILED-{name}.png"))
                except Exception:                               # noqa: BLE001
                    pass
        dt = time.time() - t0
        self.results.append((name, ok, dt, str(note)))
        log(f"step {name}: {'PASS' if ok else 'FAIL'} ({dt:.0f} s) {note}")
        return ok

    def require(self, name: str, fn, *args) -> None:
        if not self.run(name, fn, *args):
            raise RuntimeError(f"step {name} failed; later steps depend on it")


# --------------------------------------------------------------------------------------------
# The setup: a course copy, users, the exchange, the hub


class Hub:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.course = tmp / "course"
        self.exchange = tmp / "exchange"
        self.runtime = tmp / "runtime"
        self.port = free_port()
        self.ports = f"{free_port()},{free_port()}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.passwords = {n: secrets.token_urlsafe(12) for n in [*INSTRUCTORS, *STUDENTS]}
        self.env = dict(os.environ,
                        RNNCOURSE_HUB_URL=f"http://127.0.0.1:{self.port}",
                        RNNCOURSE_HUB_PORTS=self.ports,
                        RNNCOURSE_HUB_COURSE=str(self.course),
                        RNNCOURSE_HUB_EXCHANGE=str(self.exchange),
                        RNNCOURSE_HUB_RUNTIME=str(self.runtime),
                        RNNCOURSE_HUB_EXCHANGE_SIZE=f"{EXCHANGE_MB}M")
        self.env.pop("JUPYTER_CONFIG_PATH", None)
        self.proc = None

    # commands as a user, with the environment the hub gives that user's server
    def user_env(self, name: str) -> dict:
        u = pwd.getpwnam(name)
        env = {"HOME": u.pw_dir, "USER": name, "LOGNAME": name, "SHELL": u.pw_shell,
               "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "RNNCOURSE_EXCHANGE": str(self.exchange), "PYTHONWARNINGS": "ignore"}
        if name in INSTRUCTORS:
            env["JUPYTER_CONFIG_PATH"] = f"{HUB / 'jupyter' / 'instructor'}:{self.course / 'autograder'}"
            env["RNNCOURSE_ROOT"] = str(self.course)
        else:
            env["JUPYTER_CONFIG_PATH"] = str(HUB / "jupyter" / "student")
        return env

    def as_user(self, name: str, *cmd: str, cwd: Path | None = None, check: bool = True,
                stdin: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        cwd = cwd or Path(pwd.getpwnam(name).pw_dir)
        proc = subprocess.run([RUNUSER, "-u", name, "--", "sh", "-c", 'umask 007 && exec "$@"',
                               "sh", *cmd], cwd=cwd, env=self.user_env(name), input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} as {name} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def instructor(self, *cmd: str, who: str = INSTRUCTOR, **kw) -> subprocess.CompletedProcess:
        """A command of an instructor's terminal: at the course root (where it opens)."""
        return self.as_user(who, *cmd, cwd=self.course, **kw)

    def setup(self) -> str:
        self.tmp.chmod(0o755)
        self.course.mkdir()
        for sub in ("solutions", "lessons"):
            shutil.copytree(REPO / sub, self.course / sub,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_ui_test_*"))
        # autograder/ without its runtime folders (gradebook, submissions, ... : .gitignore)
        shutil.copytree(REPO / "autograder", self.course / "autograder",
                        ignore=shutil.ignore_patterns(
                            "gradebook.db*", "grades*.csv", "submitted", "autograded", "feedback",
                            "reports", "release", "source_with_tests", "exchange",
                            "lab-workspaces", "__pycache__", ".ipynb_checkpoints"))
        self.proc_options = proc_mount_options()
        setup = subprocess.run([str(HUB / "setup_hub.sh"), str(self.course)], env=self.env,
                               check=True, capture_output=True, text=True)
        sys.stdout.write(setup.stdout)
        sys.stderr.write(setup.stderr)
        self.setup_log = setup.stdout + setup.stderr
        pwfile = self.tmp / "passwords.tsv"
        pwfile.write_text("".join(f"{n}\t{p}\n" for n, p in self.passwords.items()))
        pwfile.chmod(0o600)
        subprocess.run([sys.executable, str(HUB / "users.py"), "add", "--instructor", *INSTRUCTORS,
                        "--students", *STUDENTS, "--password-file", str(pwfile)],
                       env=self.env, check=True)
        return f"course copy {self.course}, exchange {self.exchange}"

    def start(self) -> str:
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        self.logfile = open(SHOTS / "hub.log", "w")
        self.proc = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(HUB / "jupyterhub_config.py")],
                                     cwd=self.runtime, env=self.env, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited {self.proc.returncode}; see {SHOTS / 'hub.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/health", timeout=5) as r:
                    if r.status == 200:
                        return f"JupyterHub on {self.url}"
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("the hub did not answer within 90 s")

    def stop(self) -> str:
        notes = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)        # the hub stops its servers and proxy
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                notes.append("the hub had to be killed")
        # anything of the test users still running (their servers, kernels) is ended by pid
        uids = set()
        for n in [*INSTRUCTORS, *STUDENTS]:
            try:
                uids.add(pwd.getpwnam(n).pw_uid)
            except KeyError:
                pass
        left = [p for p in user_processes(uids)]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            notes.append(f"{len(left)} process(es) of the test users left after the hub stopped "
                         f"(killed)")
        # and nothing still listens on the hub's ports
        for port in [self.port, *map(int, self.ports.split(","))]:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    notes.append(f"port {port} still open")
        if hasattr(self, "logfile"):
            self.logfile.close()
        if notes:
            raise RuntimeError("; ".join(notes))
        return "the hub, the proxy and every user's server stopped"


# bob's look while root grades (issue 17, item 7): run as bob, with the answer patterns on
# stdin; it looks until the flag file (argv[1]) is gone and prints what it saw as JSON
PEEK = r"""
import json, os, sys, time
flag, patterns = sys.argv[1], json.load(sys.stdin)
start = time.time()
seen = {"scratch": set(), "entered": set(), "hits": {}, "kernel_files": set(), "rounds": 0}
def look():
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        for root, dirs, files in os.walk(top):          # what bob cannot list is skipped
            for d in dirs:
                if d.startswith("rnngrade"):
                    seen["scratch"].add(os.path.join(root, d))
            if "rnngrade" in root:
                seen["entered"].add(root)
            for f in files:
                path = os.path.join(root, f)
                try:
                    if os.stat(path).st_mtime < start - 900 or os.path.getsize(path) > 4 << 20:
                        continue
                    with open(path, "rb") as fh:
                        text = fh.read().decode("utf-8", "replace")
                except OSError:
                    continue
                if f.endswith("history.sqlite") or (f.startswith("kernel-") and f.endswith(".json")):
                    seen["kernel_files"].add(path)
                found = [p for p in patterns if p in text]
                if found:
                    seen["hits"][path] = found[:3]
    seen["rounds"] += 1
while os.path.exists(flag):
    look()
    time.sleep(0.2)
look()
print(json.dumps({k: sorted(v) if isinstance(v, set) else v for k, v in seen.items()}))
"""


def listening_tcp(uid: int) -> set[int]:
    """The TCP ports (v4 and v6) that ``uid`` listens on, from /proc/net/tcp{,6}."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[7]) == uid:          # LISTEN
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def proc_mount_options() -> str:
    """The mount options of /proc (setup_hub.sh adds hidepid=invisible)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        dev, mnt, fstype, opts = line.split()[:4]
        if mnt == "/proc" and fstype == "proc":
            return opts
    return ""


def user_processes(uids: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def rss_of(uids: set[int]) -> dict[int, tuple[str, int]]:
    """pid -> (command, RSS in KiB) of the processes of ``uids``."""
    out = {}
    for pid in user_processes(uids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
            rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            out[pid] = (cmd, rss)
        except (OSError, AttributeError):
            pass
    return out


# --------------------------------------------------------------------------------------------
# Notebooks


def strip_markers(source: str) -> str:
    return "\n".join(l for l in source.split("\n")
                     if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def fill(nb: dict, fraction: float) -> tuple[dict, int]:
    """``nb`` with the first ``fraction`` of its answer cells holding the solution's answer."""
    sol = json.loads((REPO / "solutions" / LESSON / f"{LESSON}.ipynb").read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in sol["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    cells = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    n = round(len(cells) * fraction)
    for cell in cells[:n]:
        src = answers[cell["metadata"]["nbgrader"]["grade_id"]]
        cell["source"] = strip_markers(src if isinstance(src, str) else "".join(src))
    return nb, n


def cell_text(cell) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def answer_patterns() -> tuple[list[str], list[str]]:
    """What a student must find nowhere: nbgrader's markers, and the lines of the solutions'
    answer regions and hidden tests (24 characters or more, not comments) that the released
    lessons do not contain, as written and as a notebook's JSON holds them.

    Returns (patterns, lines left out because rnnkit, which every server imports, has them too:
    library code such as ``N, T, V = logits.shape``, not an answer)."""
    released = "\n".join(cell_text(c) for nb in (REPO / "lessons").glob("*/*.ipynb")
                         for c in json.loads(nb.read_text())["cells"])
    lines = set()
    for nb in (REPO / "solutions").glob("*/*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            text = cell_text(cell)
            marked = re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", text, re.S)
            if cell["metadata"].get("nbgrader", {}).get("solution") and not marked:
                marked = [("", text)]
            for _, region in marked:
                for line in region.split("\n"):
                    line = line.strip()
                    if len(line) >= 24 and not line.startswith(("#", "import ", "from ")) \
                            and line not in released:                # an import is no answer
                        lines.add(line)
    lib = "\n".join(p.read_text() for p in (REPO / "lib" / "rnnkit").rglob("*.py"))
    in_lib = sorted(l for l in lines if l in lib)
    patterns = {"BEGIN SOLUTION", "BEGIN HIDDEN"}
    for line in lines - set(in_lib):
        patterns |= {line, json.dumps(line)[1:-1]}
    return sorted(patterns), in_lib


# --------------------------------------------------------------------------------------------
# The browser


def menu(page, top: str, label: str) -> None:
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                 has_text=re.compile(f"^{re.escape(label)}$")).first.click()


def menu_labels(page, top: str) -> list[str]:
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.wait_for_timeout(300)
    labels = page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    return labels


def file_new_labels(page) -> list[str]:
    """The items of File > New."""
    page.locator(".lm-MenuBar-item", has_text=re.compile("^File$")).click()
    page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                 has_text=re.compile("^New$")).first.hover()
    page.wait_for_timeout(700)
    menus = page.locator(".lm-Menu")
    labels = menus.nth(menus.count() - 1).locator(
        ".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    return labels


def login(page, hub: Hub, name: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", hub.passwords[name])
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{re.escape(name)}/lab"), timeout=150_000)
    page.locator(".jp-DirListing-content").wait_for(timeout=120_000)
    page.locator("#jp-main-dock-panel").wait_for()
    page.wait_for_timeout(1000)


def open_assignment_list(page) -> None:
    menu(page, "Nbgrader", "Assignment List")
    page.locator("#released_assignments_list").wait_for(timeout=30_000)
    wait_loaded(page)


def wait_loaded(page, timeout: float = 60) -> None:
    """Until the Assignment List's three lists have finished loading."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        loading = page.evaluate("""() => [...document.querySelectorAll(
            '[id$="_assignments_list_loading"]')].some(e => !e.hidden)""")
        if not loading:
            page.wait_for_timeout(300)
            return
        page.wait_for_timeout(300)
    raise TimeoutError("the Assignment List is still loading")


def refresh_assignment_list(page) -> None:
    """Close the Assignments tab and open it again (a fresh listing from the exchange)."""
    tab = page.locator(".lm-TabBar-tab", has_text=re.compile("^Assignments$"))
    if tab.count():
        tab.first.locator(".lm-TabBar-tabCloseIcon").click()
        page.wait_for_timeout(300)
    open_assignment_list(page)


def click_in(page, list_id: str, button: str, timeout: float = 60_000) -> None:
    lst = page.locator(f"#{list_id}")
    row = lst.locator(".list_item", has_text=LESSON).first
    row.wait_for(timeout=timeout)
    row.locator("button", has_text=re.compile(f"^{button}$")).click()


def wait_in(page, list_id: str, text: str = LESSON, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if page.locator(f"#{list_id} .list_item", has_text=text).count():
            return
        page.wait_for_timeout(500)
    raise TimeoutError(f"{text!r} did not appear in #{list_id} within {timeout:.0f} s")


API_JS = """async ([method, url, body]) => {
  const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
  const r = await fetch(url, {method, credentials: 'same-origin',
      headers: {'X-XSRFToken': decodeURIComponent(xsrf), 'Content-Type': 'application/json'},
      body: body === null ? undefined : JSON.stringify(body)});
  return [r.status, await r.text()];
}"""


def api(page, method: str, url: str, body=None):
    status, text = page.evaluate(API_JS, [method, url, body])
    if status >= 400:
        raise RuntimeError(f"{method} {url}: HTTP {status}: {text[:300]}")
    return json.loads(text) if text else None


# --------------------------------------------------------------------------------------------
# The run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the users and the folder")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("tests/hub/hub_check.py runs as root (system users, a hub); use make test-hub")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*"):            # this run's files; folders (e.g. a README walk's) stay
        if not old.is_dir():
            old.unlink()
    tmp = Path(tempfile.mkdtemp(prefix="rnn-hub-test-"))
    hub = Hub(tmp)
    steps = Steps()
    facts: dict = {"submission": {}, "totals": {}, "rss": {}}

    def instructor_release():
        hub.instructor(str(BIN / "python"), "autograder/course.py", "release", "--lesson", LESSON)
        hub.instructor(str(BIN / "nbgrader"), "release_assignment", LESSON, "--log-level=WARN")
        out = hub.exchange / "rnn-course" / "outbound" / LESSON / f"{LESSON}.ipynb"
        assert out.is_file(), f"{out} missing after release_assignment"
        inbound = hub.exchange / "rnn-course" / "inbound"
        mode = oct(inbound.stat().st_mode & 0o7777)
        assert mode == "0o3773", f"inbound is {mode}, not 3773 (sticky, setgid, students write only)"
        import grp
        group = grp.getgrgid(out.parent.stat().st_gid).gr_name
        assert group == "rnn-instructors", f"{out.parent} belongs to group {group}"
        # the released lesson stays readable by students after the instructor's release (umask 007)
        seen = hub.as_user(ALICE, "cat", str(hub.course / "lessons" / LESSON / f"{LESSON}.ipynb"),
                           check=False)
        assert seen.returncode == 0, f"a student cannot read lessons/ after a release: {seen.stderr}"
        return f"released into {out.parent} (group {group}); inbound {mode}; lessons/ readable by students"

    try:
        steps.require("setup", hub.setup)
        steps.require("release", instructor_release)
        steps.require("hub-start", hub.start)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = {}

            def new_page(name):
                ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                page = ctx.new_page()
                page.set_default_timeout(60_000)
                pages[name] = page
                steps.page = page
                return page

            # --- students: log in, fetch, fill, submit ----------------------------------------
            def student_fetch(name):
                page = new_page(name)
                login(page, hub, name)
                labels = menu_labels(page, "Nbgrader")
                assert "Assignment List" in labels, f"no Assignment List in the Nbgrader menu: {labels}"
                assert not any(l.startswith("Formgrader") for l in labels), \
                    f"a student sees the formgrader in the menu: {labels}"
                resp = page.request.get(f"{hub.url}/user/{name}/formgrader")
                assert resp.status == 404, f"/user/{name}/formgrader answers {resp.status}, not 404"
                new = file_new_labels(page)
                assert "Notebook" in new and "Terminal" not in new, f"{name}'s File > New: {new}"
                resp = page.request.get(f"{hub.url}/user/{name}/api/terminals")
                assert resp.status == 404, f"/user/{name}/api/terminals answers {resp.status}, not 404"
                open_assignment_list(page)
                wait_in(page, "released_assignments_list")
                if name == ALICE:
                    page.screenshot(path=str(SHOTS / "student-assignment-list.png"))
                click_in(page, "released_assignments_list", "Fetch")
                wait_in(page, "fetched_assignments_list")
                fetched = Path(pwd.getpwnam(name).pw_dir) / LESSON / f"{LESSON}.ipynb"
                assert fetched.is_file(), f"{fetched} missing after Fetch"
                assert fetched.stat().st_uid == pwd.getpwnam(name).pw_uid
                if name == ALICE:
                    page.screenshot(path=str(SHOTS / "student-fetched.png"))
                return f"menu {labels}; fetched to {fetched}; /formgrader 404; File > New {new}"

            def write_as(name, nb):
                path = Path(pwd.getpwnam(name).pw_dir) / LESSON / f"{LESSON}.ipynb"
                hub.as_user(name, "tee", str(path), stdin=json.dumps(nb, indent=1) + "\n")

            def submit(name):
                page = pages[name]
                steps.page = page
                before = page.locator("#submitted_assignments_list .list_item").count()
                click_in(page, "fetched_assignments_list", "Submit")
                t0 = time.time()
                while page.locator("#submitted_assignments_list .list_item").count() <= before:
                    dialog = page.locator(".jp-Dialog")
                    if dialog.count():
                        raise AssertionError(f"submit: {dialog.first.inner_text()[:300]}")
                    if time.time() - t0 > 90:
                        raise TimeoutError("no new submission in the Assignment List after 90 s")
                    page.wait_for_timeout(500)

            def student_work(name):
                path = Path(pwd.getpwnam(name).pw_dir) / LESSON / f"{LESSON}.ipynb"
                nb = json.loads(path.read_text())
                if name == CAROL:                     # a first, blank submission, then a resubmission
                    submit(name)
                    time.sleep(1.1)                   # nbgrader's timestamps: a new second
                fraction = {ALICE: 1.0, BOB: 0.0, CAROL: 0.5}[name]
                nb, n = fill(nb, fraction)
                if n:
                    write_as(name, nb)
                submit(name)
                if name == ALICE:
                    page = pages[name]
                    page.screenshot(path=str(SHOTS / "student-submitted.png"))
                facts["submission"][name] = n
                return f"{n} answer cell(s) filled on disk as {name}, submitted" + \
                    (" (her second submission)" if name == CAROL else "")

            for s in STUDENTS:
                steps.require(f"{s}-login-fetch", student_fetch, s)
            for s in STUDENTS:
                steps.require(f"{s}-fill-submit", student_work, s)

            # --- bob submits in others' names (items 3-5 of issue 17) -----------------------------
            def bob_forges():
                inbound = hub.exchange / "rnn-course" / "inbound"
                bob_home = Path(pwd.getpwnam(BOB).pw_dir)
                lines = []
                # 3. nbgrader submit --student=alice, run by bob: the newest "alice" submission
                hub.as_user(BOB, str(BIN / "nbgrader"), "submit", LESSON, "--student", ALICE,
                            cwd=bob_home)
                lines.append("bob: nbgrader submit --student=alice: accepted by the exchange")
                # 4. a folder named for carol, dated 2099: without timestamp.txt, and with one
                for n, stamp in enumerate([False, True]):
                    name = f"{CAROL}+{LESSON}+2099-01-0{n + 1} 00:00:00.000000 UTC+bobwashere{n}"
                    d = inbound / name
                    hub.as_user(BOB, "mkdir", str(d))
                    hub.as_user(BOB, "cp", str(bob_home / LESSON / f"{LESSON}.ipynb"), str(d))
                    if stamp:
                        hub.as_user(BOB, "tee", str(d / "timestamp.txt"),
                                    stdin=f"2099-01-0{n + 1} 00:00:00.000000 UTC")
                lines.append("bob: two inbound folders named for carol, dated 2099")
                # 5. alice's folder renamed to bob (bob learnt its name) and deleted: the sticky bit
                alices = sorted(p for p in inbound.iterdir() if p.name.startswith(ALICE + "+")
                                and p.stat().st_uid == pwd.getpwnam(ALICE).pw_uid)
                assert alices, "no submission of alice's own in inbound/"
                for cmd in (["mv", str(alices[-1]), str(inbound / alices[-1].name.replace(ALICE, BOB, 1))],
                            ["rm", "-rf", str(alices[-1])]):
                    proc = hub.as_user(BOB, *cmd, check=False)
                    assert proc.returncode != 0 and alices[-1].is_dir(), \
                        f"bob: {' '.join(cmd[:2])} alice's submission was not refused: {proc.stderr}"
                lines.append("bob: mv/rm of alice's submission folder refused")
                # 6. the space: one huge submission of bob's own, his newest (so collect looks at
                # it first), well formed but for its size: refused at collect, not the disk
                stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%d %H:%M:%S.%f UTC")
                big = inbound / f"{BOB}+{LESSON}+{stamp}+big"
                hub.as_user(BOB, "mkdir", str(big))
                hub.as_user(BOB, "cp", str(bob_home / LESSON / f"{LESSON}.ipynb"), str(big))
                hub.as_user(BOB, "tee", str(big / "timestamp.txt"), stdin=stamp)
                hub.as_user(BOB, "tee", str(big / "submission_secret.txt"),
                            stdin=secrets.token_hex(64))
                hub.as_user(BOB, "truncate", "-s", "60M", str(big / "data.bin"))
                lines.append("bob: a 60 MiB submission of his own (his newest)")
                # 4'. one of his own, dated 2099 (it would beat his later ones)
                late = inbound / f"{BOB}+{LESSON}+2099-01-01 00:00:00.000000 UTC+future"
                hub.as_user(BOB, "mkdir", str(late))
                hub.as_user(BOB, "cp", str(bob_home / LESSON / f"{LESSON}.ipynb"), str(late))
                hub.as_user(BOB, "tee", str(late / "timestamp.txt"), stdin="2099-01-01 00:00:00.000000 UTC")
                lines.append("bob: a submission of his own dated 2099")
                (SHOTS / "forgeries.txt").write_text("\n".join(lines) + "\n")
                return "; ".join(lines)

            steps.run("bob-forges", bob_forges)

            def memory():
                uids = {pwd.getpwnam(n).pw_uid for n in STUDENTS}
                procs = rss_of(uids)
                servers = [kb for cmd, kb in procs.values() if "jupyterhub-singleuser" in cmd]
                facts["rss"]["student server (idle, no kernel) MiB"] = [round(k / 1024) for k in servers]
                return f"student servers' RSS: {', '.join(f'{k / 1024:.0f} MiB' for k in servers)}"
            steps.run("server-memory", memory)

            # --- a student sees only their own processes (/proc hidepid) ---------------------
            def processes_hidden():
                others = {pwd.getpwnam(n).pw_uid for n in [ALICE, CAROL, INSTRUCTOR]}
                running = user_processes(others)          # as root: their servers run now
                assert running, "no process of alice, carol or the instructor runs (the test's premise)"
                seen = hub.as_user(BOB, str(BIN / "python"), "-c", (
                    "import os, json; out = []\n"
                    "for e in os.listdir('/proc'):\n"
                    "    if e.isdigit():\n"
                    "        try: out.append(os.stat('/proc/' + e).st_uid)\n"
                    "        except OSError: pass\n"
                    "print(json.dumps(out))"))
                uids = json.loads(seen.stdout)
                shown = [u for u in uids if u in others]
                assert not shown, (f"{BOB} sees {len(shown)} process(es) of other users in /proc "
                                   f"(root sees {len(running)}); /proc is mounted {proc_mount_options()}")
                assert uids, f"{BOB} sees no process at all, not even his own"
                return (f"{BOB} sees {len(uids)} process(es), all his own; root sees {len(running)} of "
                        f"alice, carol and the instructor (/proc: {proc_mount_options()})")
            steps.run("processes-hidden", processes_hidden)

            # --- kernels listen on no TCP port (a subscriber to IOPub reads every cell) -------
            def kernel_sockets_private():
                page = pages[ALICE]
                steps.page = page
                uid = pwd.getpwnam(ALICE).pw_uid
                before = listening_tcp(uid)            # her server's own port(s)
                kernel = api(page, "POST", f"{hub.url}/user/{ALICE}/api/kernels", {"name": "python3"})
                try:
                    deadline = time.time() + 60
                    while time.time() < deadline:
                        mine = [p for p in user_processes({uid})
                                if b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes()]
                        if mine:
                            break
                        time.sleep(0.5)
                    assert mine, "alice's kernel did not start"
                    time.sleep(3)
                    home = Path(pwd.getpwnam(ALICE).pw_dir)
                    files = list(home.rglob(f"kernel-{kernel['id']}.json"))
                    assert files, f"no connection file of alice's kernel in {home}"
                    conn = json.loads(files[0].read_text())
                    assert conn["transport"] == "ipc", \
                        f"alice's kernel talks {conn['transport']} on {conn['ip']}: anyone may subscribe to its output"
                    # ipykernel's one TCP socket: a PULL for its forked children's output, that only
                    # takes messages in (a TCP kernel listens on its 5 channels besides)
                    new = listening_tcp(uid) - before
                    assert len(new) <= 1, (f"alice's kernel listens on TCP ports {sorted(new)}: any "
                                           f"local user can subscribe to its output")
                finally:
                    api(page, "DELETE", f"{hub.url}/user/{ALICE}/api/kernels/{kernel['id']}")
                return (f"alice's kernel uses Unix sockets ({conn['ip']}-N); new TCP listeners: "
                        f"{len(new)} (ipykernel's inbound pipe for subprocess output)")
            steps.run("kernel-sockets-private", kernel_sockets_private)

            # --- a student cannot fill the disk through the exchange (issue 17, item 6) ---------
            def exchange_space():
                inbound = hub.exchange / "rnn-course" / "inbound"
                image = Path(f"{hub.exchange}.img")
                if not os.path.ismount(hub.exchange):
                    assert "could not mount" in hub.setup_log, \
                        "the exchange is not a file system of its own and setup_hub.sh did not say why"
                    return ("NOT CHECKED: setup_hub.sh could not mount the exchange's image on this "
                            "machine (no loop device); it said so")
                fill = inbound / "bob-fills-the-disk"
                proc = hub.as_user(BOB, "dd", "if=/dev/zero", f"of={fill}", "bs=1M",
                                   f"count={4 * EXCHANGE_MB}", check=False, timeout=300)
                assert proc.returncode != 0 and "No space left" in proc.stderr, \
                    f"bob's {4 * EXCHANGE_MB} MiB write into inbound/ was not stopped: {proc.stderr[-300:]}"
                written = fill.stat().st_size
                on_disk = image.stat().st_blocks * 512
                assert written <= EXCHANGE_MB << 20 and on_disk <= (EXCHANGE_MB << 20), \
                    f"bob wrote {written >> 20} MiB, the image takes {on_disk >> 20} MiB of the disk"
                # what hub/README.md tells the instructor to do: remove it as root
                fill.unlink()
                return (f"bob's write into inbound/ stopped at {written >> 20} MiB (No space left on "
                        f"device); the exchange's image takes {on_disk >> 20} MiB of the machine's "
                        f"disk, at most {EXCHANGE_MB} MiB")
            steps.run("exchange-space-capped", exchange_space)

            # --- the instructor: collect, formgrader, grade, hand-grade, feedback ----------------
            def instructor_collect():
                page = new_page(INSTRUCTOR)
                login(page, hub, INSTRUCTOR)
                labels = menu_labels(page, "Nbgrader")
                assert "Formgrader" in labels, f"no Formgrader in the instructor's menu: {labels}"
                assert "Terminal" in file_new_labels(page), "the instructor has no File > New > Terminal"
                # the instructor's terminal: at the course root, the course's nbgrader on PATH
                page.locator(".lm-MenuBar-item", has_text=re.compile("^File$")).click()
                page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                             has_text=re.compile("^New$")).first.hover()
                page.wait_for_timeout(700)
                page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                             has_text=re.compile("^Terminal$")).last.click()
                term = page.locator(".jp-Terminal").first
                term.wait_for(timeout=30_000)
                page.wait_for_timeout(2500)
                term.click()
                check = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / "terminal-check.txt"
                page.keyboard.type(f"(pwd; command -v nbgrader) > {check}\n", delay=20)
                t0 = time.time()
                while not (check.exists() and len(check.read_text().split()) >= 2):
                    assert time.time() - t0 < 30, "the instructor's terminal ran nothing"
                    page.wait_for_timeout(500)
                page.screenshot(path=str(SHOTS / "instructor-terminal.png"))
                cwd, nbg = check.read_text().split()[:2]
                assert cwd == str(hub.course) and nbg == str(BIN / "nbgrader"), \
                    f"the instructor's terminal opens in {cwd} with nbgrader {nbg}"
                # the second instructor collects what the first released (the exchange's group)
                proc = hub.instructor(str(BIN / "nbgrader"), "collect", LESSON, "--log-level=INFO",
                                      who=INSTRUCTOR2)
                out = proc.stdout + proc.stderr
                (SHOTS / "collect.log").write_text(out)
                refused = re.findall(r"REFUSED (\S+\+\S+ \S+ UTC\+\S+): ", out)
                assert len(refused) == 5 and not re.search(r"cheating attempt", out), \
                    f"collect refused {refused} (expected bob's 5):\n{out[-2000:]}"
                got = sorted(p.parent.parent.name for p in
                             (hub.course / "autograder" / "submitted").glob(f"*/{LESSON}/{LESSON}.ipynb"))
                assert got == sorted(STUDENTS), f"collected {got}"
                # each collected notebook is the newest submission its student made (owner's uid)
                inbound = hub.exchange / "rnn-course" / "inbound"
                for st in STUDENTS:
                    uid = pwd.getpwnam(st).pw_uid
                    own = sorted((p for p in inbound.iterdir() if p.name.startswith(st + "+")
                                  and p.stat().st_uid == uid and p.name not in refused),
                                 key=lambda p: p.name.split("+")[2])
                    sub = hub.course / "autograder" / "submitted" / st / LESSON
                    assert (sub / f"{LESSON}.ipynb").read_bytes() == \
                        (own[-1] / f"{LESSON}.ipynb").read_bytes(), f"{st}'s collected notebook is not theirs"
                    stamp = (sub / "timestamp.txt").read_text().strip()
                    assert stamp == own[-1].name.split("+")[2], f"{st}: collected {stamp}, newest {own[-1].name}"
                    assert not (sub / ".ipynb_checkpoints").exists(), f"{st}: checkpoints collected"
                ts = (hub.course / "autograder" / "submitted" / CAROL / LESSON / "timestamp.txt").read_text()
                facts["carol_timestamp"] = ts.strip()
                # the formgrader panel inside JupyterLab (README: what the instructor sees there)
                menu(page, "Nbgrader", "Formgrader")
                page.wait_for_timeout(3000)
                page.screenshot(path=str(SHOTS / "instructor-formgrader-panel.png"))
                # the formgrader, served by the instructor's own server, in its own tab (JupyterHub
                # >= 4.1 forbids the iframe of JupyterLab's Formgrader panel: nbgrader's docs)
                page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/manage_submissions/{LESSON}")
                for s in STUDENTS:
                    page.get_by_text(s).first.wait_for(timeout=30_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(SHOTS / "instructor-formgrader-collected.png"), full_page=True)
                page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader")
                page.get_by_text(LESSON).first.wait_for(timeout=30_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(SHOTS / "instructor-formgrader-assignments.png"))
                return (f"{INSTRUCTOR2} collected {got}, each the student's own newest; refused "
                        f"{len(refused)} forged/oversize; carol's newer submission of two ({ts.strip()})")

            steps.require("instructor-collect", instructor_collect)

            def instructor_grade():
                # the first instructor grades alice, then the second the whole lesson: what one
                # instructor's run leaves (locks, graded folders) must not stop the other's
                hub.instructor(str(BIN / "python"), "autograder/course.py", "grade", "--lesson", LESSON,
                               "--student", ALICE, timeout=600, who=INSTRUCTOR)
                proc = hub.instructor(str(BIN / "python"), "autograder/course.py", "grade", "--lesson", LESSON,
                                      timeout=600, who=INSTRUCTOR2)
                out = proc.stdout + proc.stderr
                (SHOTS / "grade.log").write_text(out)
                assert "unsandboxed" not in out and "WITHOUT a sandbox" not in out, \
                    "grading ran without the sandbox"
                from nbgrader.api import Gradebook
                with Gradebook("sqlite:///" + str(hub.course / "autograder" / "gradebook.db")) as gb:
                    for s in STUDENTS:
                        nb = gb.find_submission_notebook(LESSON, LESSON, s)
                        facts["totals"][s] = (nb.code_score, nb.max_code_score)
                a, b, c = (facts["totals"][s][0] for s in STUDENTS)
                mx = facts["totals"][ALICE][1]
                assert a == mx, f"alice (the solution) scored {a}/{mx}"
                assert b == 0, f"bob (blank) scored {b}"
                assert 0 < c < mx, f"carol (half, resubmitted) scored {c}/{mx}"
                kernels = next((ln for ln in out.splitlines() if ln.startswith("kernels:")), "")
                return ("autograded " + ", ".join(f"{s} {facts['totals'][s][0]:g}/{mx:g}"
                                                  for s in STUDENTS) + f"; {kernels}")

            steps.require("instructor-grade", instructor_grade)

            def hand_grade():
                page = pages[INSTRUCTOR]
                steps.page = page
                base = f"{hub.url}/user/{INSTRUCTOR}/formgrader/api"
                subs = api(page, "GET", f"{base}/submitted_notebooks/{LESSON}/{LESSON}")
                sid = next(s["id"] for s in subs if s["student"] == ALICE)
                grades = api(page, "GET", f"{base}/grades?submission_id={sid}")
                written = [g for g in grades if g["needs_manual_grade"] and g["auto_score"] is None]
                assert written, "no written answer to hand-grade"
                for g in written:
                    api(page, "PUT", f"{base}/grade/{g['id']}",
                        {"manual_score": g["max_score"], "extra_credit": None})
                page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/submissions/{sid}/")
                page.wait_for_timeout(2000)
                page.screenshot(path=str(SHOTS / "instructor-formgrader-handgraded.png"))
                pts = sum(g["max_score"] for g in written)
                facts["written"] = pts
                return f"{len(written)} written answer(s) of alice hand-graded: +{pts:g}"

            steps.run("instructor-hand-grade", hand_grade)

            def instructor_feedback():
                hub.instructor(str(BIN / "python"), "autograder/course.py", "feedback", "--lesson", LESSON)
                hub.instructor(str(BIN / "nbgrader"), "release_feedback", LESSON, "--log-level=WARN")
                fb = list((hub.exchange / "rnn-course" / "feedback").glob("*.html"))
                assert len(fb) == len(STUDENTS), f"{len(fb)} feedback files in the exchange"
                mode = oct((hub.exchange / "rnn-course" / "feedback").stat().st_mode & 0o777)
                hub.instructor(str(BIN / "python"), "autograder/course.py", "export")
                with open(hub.course / "autograder" / "grades.csv") as f:
                    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)
                            if r["assignment"] == LESSON}
                assert set(rows) == set(STUDENTS), f"grades.csv: {rows}"
                facts["csv"] = rows
                return f"{len(fb)} feedback files released (folder {mode}); grades.csv {rows}"

            steps.require("instructor-feedback-export", instructor_feedback)

            # --- the formgrader's Autograde button would run bob's code as the instructor,
            # unsandboxed: refused (only make grade / course.py grades)
            def formgrader_autograde_refused():
                page = pages[INSTRUCTOR]
                steps.page = page
                url = f"{hub.url}/user/{INSTRUCTOR}/formgrader/api/submission/{LESSON}/{BOB}/autograde"
                res = api(page, "POST", url) or {}
                said = f"{res.get('error') or ''}{res.get('log') or ''}"
                assert not res.get("success"), f"the formgrader autograded {BOB} outside the sandbox: {said[-500:]}"
                assert "make grade" in said, f"the refusal does not say what to do: {said[-500:]}"
                from nbgrader.api import Gradebook
                with Gradebook("sqlite:///" + str(hub.course / "autograder" / "gradebook.db")) as gb:
                    nb = gb.find_submission_notebook(LESSON, LESSON, BOB)
                    assert nb.code_score == facts["totals"][BOB][0], "the refused run changed bob's score"
                return "POST .../autograde refused: 'run `make grade` ...'; bob's score unchanged"
            steps.run("formgrader-autograde-refused", formgrader_autograde_refused)

            # --- students: fetch feedback, see their own score only ---------------------------
            def student_feedback(name):
                page = pages[name]
                steps.page = page
                refresh_assignment_list(page)
                wait_in(page, "submitted_assignments_list")
                page.locator("#submitted_assignments_list button",
                             has_text=re.compile("^Fetch Feedback$")).first.click()
                t0 = time.time()
                while not page.locator("#submitted_assignments_list",
                                       has_text="view feedback").count():
                    if time.time() - t0 > 60:
                        raise TimeoutError("no '(view feedback)' after Fetch Feedback")
                    page.wait_for_timeout(500)
                home = Path(pwd.getpwnam(name).pw_dir)
                files = sorted(home.glob(f"{LESSON}/feedback/*/{LESSON}.html"))
                assert len(files) == 1, f"feedback files in {name}'s home: {files}"
                rel = files[0].relative_to(home)
                # "(view feedback)" opens the feedback page in a JupyterLab tab (the course's
                # change to nbgrader's link, autograder/open_feedback_link.py) and shows its
                # folder in the file browser
                page.locator("#submitted_assignments_list a", has_text="view feedback").first.click()
                page.locator(".lm-TabBar-tab", has_text=f"{LESSON}.html").first.wait_for(timeout=30_000)
                frame = page.frame_locator("iframe").last
                shown = frame.locator("h4", has_text="Score:").first
                shown.wait_for(timeout=30_000)
                in_tab = re.search(r"Score:\s*([\d.]+)", shown.inner_text())
                page.wait_for_timeout(1000)
                if name == ALICE:
                    page.screenshot(path=str(SHOTS / "student-feedback-opened.png"))
                page.goto(f"{hub.url}/user/{name}/files/{rel}")
                header = page.locator("h4", has_text="Score:").first
                header.wait_for(timeout=30_000)
                text = header.inner_text()
                m = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
                score, mx = float(m.group(1)), float(m.group(2))
                expected = facts["csv"][name]
                assert abs(score - expected) < 1e-6, f"{name}'s feedback says {score}, the gradebook {expected}"
                assert in_tab and abs(float(in_tab.group(1)) - expected) < 1e-6, \
                    f"the tab '(view feedback)' opened shows {shown.inner_text()!r}"
                body = page.content()
                others = [o for o in STUDENTS if o != name and o in body]
                assert not others, f"{name}'s feedback names {others}"
                if name == ALICE:
                    page.screenshot(path=str(SHOTS / "student-feedback.png"), full_page=False)
                page.screenshot(path=str(SHOTS / f"feedback-{name}.png"))
                return (f"{rel}: opened by '(view feedback)' in a tab; Score {score:g} / {mx:g} "
                        f"(gradebook {expected:g}); no other student named")

            for s in STUDENTS:
                steps.run(f"{s}-feedback", student_feedback, s)
            browser.close()

        # --- the file system refuses a student -------------------------------------------------
        def refused():
            inbound = hub.exchange / "rnn-course" / "inbound"
            alice_sub = next(p for p in inbound.iterdir() if p.name.startswith(ALICE + "+")
                             and p.stat().st_uid == pwd.getpwnam(ALICE).pw_uid)
            ad = Path(pwd.getpwnam(ALICE).pw_dir)
            tries = [
                ("cat", str(ad / LESSON / f"{LESSON}.ipynb")),                # another student's work
                ("ls", str(ad)),
                ("ls", str(inbound)),                                        # the exchange's inbound
                ("cat", str(alice_sub / f"{LESSON}.ipynb")),                  # a submission in it
                ("ls", str(hub.exchange / "rnn-course" / "feedback")),        # others' feedback
                ("cat", str(hub.course / "autograder" / "gradebook.db")),     # the gradebook
                ("ls", str(hub.course / "autograder" / "submitted" / ALICE)),
                ("cat", str(hub.course / "solutions" / LESSON / f"{LESSON}.ipynb")),
                # the repository the servers run from (issue 17, items 1-2)
                ("ls", str(REPO)),
                ("ls", str(REPO / ".git")),
                ("ls", str(REPO / "tests")),
                ("ls", str(REPO / "lib" / "tests")),
                ("cat", str(REPO / "solutions" / LESSON / f"{LESSON}.ipynb")),
                ("ls", str(REPO / "autograder")),
                ("ls", str(REPO / "hub" / "runtime")),
            ]
            lines = []
            # a path this machine does not have (hub/runtime/ before any make hub) has nothing
            # to show: only existing ones are tried
            tries = [(cmd, path) for cmd, path in tries if os.path.lexists(path)]
            for cmd, path in tries:
                proc = hub.as_user(BOB, cmd, path, check=False)
                denied = proc.returncode != 0 and "Permission denied" in proc.stderr
                assert denied, f"{BOB}: {cmd} {path} was not refused: rc {proc.returncode} {proc.stderr[:200]}"
                lines.append(f"{cmd} {path}: refused")
            own = hub.as_user(BOB, "cat", str(Path(pwd.getpwnam(BOB).pw_dir) / LESSON / f"{LESSON}.ipynb"))
            assert own.returncode == 0
            (SHOTS / "refused.txt").write_text("\n".join(lines) + "\n")
            return f"{len(tries)} reads refused (Permission denied), bob reads his own notebook"

        steps.run("filesystem-refuses", refused)

        # --- root grades on the hub machine while bob looks (issue 17, item 7) ----------------
        def root_grades_bob_peeks():
            patterns, _ = answer_patterns()
            flag = tmp / "root-is-grading"
            flag.write_text("")
            flag.chmod(0o644)
            peek = subprocess.Popen(
                [RUNUSER, "-u", BOB, "--", str(BIN / "python"), "-c", PEEK, str(flag)],
                cwd="/", env=hub.user_env(BOB), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            peek.stdin.write(json.dumps(patterns))
            peek.stdin.close()
            try:
                time.sleep(1)
                grade = subprocess.run(
                    [str(BIN / "python"), "autograder/course.py", "grade", "--lesson", LESSON,
                     "--student", ALICE], cwd=hub.course, capture_output=True, text=True,
                    timeout=600, env=dict(hub.env, JUPYTER_CONFIG_PATH=str(hub.course / "autograder")))
                assert grade.returncode == 0, f"root's grade failed: {grade.stdout[-1500:]}{grade.stderr[-1500:]}"
            finally:
                flag.unlink()
                out, err = peek.stdout.read(), peek.stderr.read()     # stdin is closed already
                peek.wait(timeout=120)
            seen = json.loads(out or "{}")
            assert seen, f"bob's look failed: {err[-1000:]}"
            (SHOTS / "root-grades-bob-peeks.json").write_text(json.dumps(seen, indent=1) + "\n")
            assert seen["scratch"], ("bob never saw a grading scratch folder's name in /tmp while "
                                     "root graded (the look did not overlap the grading)")
            assert not seen["entered"], f"bob listed root's grading folders: {seen['entered'][:5]}"
            assert not seen["hits"], f"bob read answers while root graded: {list(seen['hits'].items())[:5]}"
            assert not seen["kernel_files"], f"bob read grading kernels' files: {seen['kernel_files'][:5]}"
            return (f"root graded {ALICE}'s {LESSON}; bob looked {seen['rounds']} times through /tmp, "
                    f"/var/tmp and /dev/shm: saw {len(seen['scratch'])} scratch folder name(s), could "
                    f"enter none, read no answer line, history or connection file")

        steps.run("root-grades-bob-peeks", root_grades_bob_peeks)

        # --- everything a student can read holds no answer (issue 17, items 1-2) --------------
        def student_reads_no_answer():
            patterns, lib_lines = answer_patterns()
            roots = [f"/{e}" for e in sorted(os.listdir("/")) if e not in ("proc", "sys", "dev")]
            guessed = set()               # names a student knows (the public repository) but cannot list
            for base in {REPO, hub.course, REPO / "lib", REPO / "hub", hub.exchange / "rnn-course"}:
                guessed |= {str(base / e) for e in os.listdir(base)}
            guessed |= {pwd.getpwnam(n).pw_dir for n in [*INSTRUCTORS, *STUDENTS]}
            guessed.add(subprocess.run([sys.executable, "-c", "import sys; print(sys.base_prefix)"],
                                       capture_output=True, text=True).stdout.strip())
            # HUB_WALK_SKIP: colon-separated folders that are no part of a hub machine (a
            # development machine's own tooling); said in the report, never skipped silently
            extra_skip = [d for d in os.environ.get("HUB_WALK_SKIP", "").split(":") if d]
            spec = {"roots": roots + sorted(guessed), "skip": ["/proc", "/sys", "/dev", *extra_skip],
                    "patterns": patterns}
            # the script's text on the command line: tests/ is closed to bob
            proc = hub.as_user(BOB, str(BIN / "python"), "-c",
                               Path(__file__).with_name("student_walk.py").read_text(),
                               stdin=json.dumps(spec), timeout=900)
            found = json.loads(proc.stdout)
            venv = REPO / ".venv"
            base = subprocess.run([sys.executable, "-c", "import sys; print(sys.base_prefix)"],
                                  capture_output=True, text=True).stdout.strip()
            third_party = [p for p in found["hits"] if "rnnkit" not in p and (
                p.startswith("/usr/") or p.startswith(f"{venv}/") or p.startswith(f"{base}/")
                or "/site-packages/" in p or "/dist-packages/" in p)]
            # nbgrader's markers alone are a leak where course material lives (the course, the
            # exchange, homes, temporary folders); elsewhere (a tool of the machine that mentions
            # them) only a solution or hidden-test line is
            course_places = [str(REPO), str(hub.course), str(hub.exchange), "/home/", "/tmp/",
                             "/var/tmp/", "/srv/"] + \
                [pwd.getpwnam(n).pw_dir for n in [*INSTRUCTORS, *STUDENTS]]
            markers = {"BEGIN SOLUTION", "BEGIN HIDDEN"}

            def under(path, places):
                return any(path == c or path.startswith(c.rstrip("/") + "/") for c in places)

            # the machine's own tooling: a top-level folder outside the file-system hierarchy
            # a hub uses (FHS folders, and the folders that hold the course, its copy and the
            # exchange), such as a CI runner's work folder holding the diff it checks; its
            # hits are listed in the report, never counted as the course's leaks
            hub_places = ["/etc", "/home", "/mnt", "/media", "/opt", "/root", "/run", "/srv",
                          "/tmp", "/usr", "/var", "/boot", "/bin", "/sbin", "/lib", "/lib64"]
            hub_places += [f"/{Path(p).parts[1]}" for p in (REPO, hub.course, hub.exchange)
                           if len(Path(p).parts) > 1]
            host_tooling = {p: v for p, v in found["hits"].items()
                            if p not in third_party and not under(p, hub_places)}

            def is_leak(path, found_patterns):
                if path in third_party or path in host_tooling:
                    return False
                return bool(set(found_patterns) - markers) or under(path, course_places)
            elsewhere = {p: v for p, v in found["hits"].items()
                         if p not in third_party and p not in host_tooling and not is_leak(p, v)}
            leaks = {p: v for p, v in found["hits"].items() if is_leak(p, v)}
            leaks.update({f"git:{g}": v for g, v in found["git"].items()})
            report = [f"{found['files']} readable files in {found['dirs']} folders as {BOB}; "
                      f"{len(patterns)} patterns ({len(lib_lines)} answer-like lines also in rnnkit left out); "
                      f"{len(third_party)} third-party files (Python packages, /usr) match a pattern"
                      + (f"; not walked (HUB_WALK_SKIP): {extra_skip}" if extra_skip else "") + ":"]
            report += [f"  {p}: {v[:3]}" for p, v in sorted(found["hits"].items()) if p in third_party]
            report += ["nbgrader's markers (no answer line) outside the course's places:"] + \
                [f"  {p}: {v[:3]}" for p, v in sorted(elsewhere.items())]
            report += ["the machine's own tooling, outside the folders a hub uses (not the course's):"] + \
                [f"  {p}: {v[:3]}" for p, v in sorted(host_tooling.items())]
            report += ["LEAKS:"] + [f"  {p}: {v[:5]}" for p, v in sorted(leaks.items())]
            (SHOTS / "student-walk.txt").write_text("\n".join(report) + "\n")
            assert not leaks, f"{BOB} can read answers in {len(leaks)} place(s): " + \
                "; ".join(f"{p} ({v[:2]})" for p, v in list(leaks.items())[:8])
            return report[0].rstrip(":") + (f"; {len(host_tooling)} hit(s) in the machine's own tooling "
                                f"outside the hub's folders: {sorted(host_tooling)[:3]}"
                                if host_tooling else "")

        steps.run("student-reads-no-answer", student_reads_no_answer)
    except RuntimeError as e:
        log(str(e))
    finally:
        steps.page = None
        steps.run("hub-stop", hub.stop)

        def hub_log_clean():     # issue 17, item 14: no warning repeated at every server start
            text = (SHOTS / "hub.log").read_text(errors="replace")
            noise = [l for l in text.splitlines() if "Formgrader config is not serializable" in l
                     or "'extra_template_paths' was found in both" in l]
            servers = text.count("jupyterhub-singleuser")
            assert servers, "no single-user server in the hub's log (the check would see nothing)"
            assert not noise, f"{len(noise)} repeated upstream warning(s) in the hub's log: {noise[:2]}"
            return f"hub.log: {servers} server start line(s), no 'not serializable' or 'extra_template_paths' warning"
        if hub.proc is not None:
            steps.run("hub-log-clean", hub_log_clean)
        if not args.keep:
            def cleanup():
                subprocess.run([sys.executable, str(HUB / "users.py"), "remove", *INSTRUCTORS, *STUDENTS],
                               check=True, stdout=subprocess.DEVNULL)
                if os.path.ismount(hub.exchange):
                    subprocess.run(["umount", str(hub.exchange)], check=True)
                before = getattr(hub, "proc_options", "")
                if "hidepid" not in before and "hidepid" in proc_mount_options():
                    subprocess.run(["mount", "-o", "remount,hidepid=0", "/proc"], check=False)
                shutil.rmtree(tmp, ignore_errors=True)
                return "users, homes and the test folder removed"
            steps.run("cleanup", cleanup)
        else:
            log(f"kept: {tmp}, users {' '.join(INSTRUCTORS + STUDENTS)} (passwords in {tmp}/passwords.tsv)")

    (SHOTS / "facts.json").write_text(json.dumps(facts, indent=1, default=str) + "\n")
    print("\nhub check:")
    for name, ok, dt, note in steps.results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<28} {dt:5.0f} s  {note}")
    failed = [r for r in steps.results if not r[1]]
    print(f"\n{len(steps.results) - len(failed)} passed, {len(failed)} failed in {time.time() - T0:.0f} s;"
          f" screenshots in {SHOTS.relative_to(REPO)}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
