"""Several graders on one PostgreSQL gradebook: `course.py grade --shard i/n` with DB_URL.

A real PostgreSQL server (Debian's ``postgresql`` package, installed with apt-get when missing
and running as root) is started in a private 0700 folder, on a unix socket only, and stopped at
the end. Skipped, with the reason, where it cannot be installed or started.

* The shards of a class are disjoint and cover it (no grading: cheap).
* Two graders (shard 1/2 and 2/2) grade lesson 01 at the same time into the PostgreSQL
  gradebook; grader 1 is killed (SIGKILL) while its second submission is half graded and then
  started again. Every submission ends with exactly the scores one grader gives on SQLite (the
  session's graded class when this run grades it anyway, else the known scores: every test at
  its maximum for the solution, 0 for the blank lesson), no grading process of the killed
  grader survives it, and no row is added or lost.
* A submission another grader holds (same shard started twice by mistake) is skipped, not
  graded twice at once, and its grade stays.

About 50 s on 2 cores (four gradings of lesson 01 and the server's start): 47 s measured
with other work loading the machine to 3-4, 171 s at 10-17.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, gradebook_rows, lesson_ids, load_nb, make_course_copy, run_course, submit

LESSON = "01_rnn"
SPY = """import os
print("SPY-ENV", dict(os.environ))
for name in ("RNNCOURSE_DB_URL_FILE",):
    try:
        print("SPY-FILE", open(os.environ[name]).read())
    except Exception as err:
        print("SPY-FILE", type(err).__name__)
"""
SHARD_1 = ["blank", "solution"]         # shard 1/2 of lesson 01 (checked below), graded in this order
SHARD_2 = ["ben"]                       # shard 2/2


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _install_postgres() -> str:
    """Install Debian's postgresql where we can (root with apt-get); returns why not, or ''."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root or no apt-get"
    quiet = dict(capture_output=True, text=True, timeout=900,
                 env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    try:
        if subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], **quiet).returncode:
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            proc = subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], **quiet)
            if proc.returncode:
                return "apt-get install postgresql failed: " + (proc.stderr or proc.stdout)[-300:]
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"apt-get install postgresql failed: {err}"
    return ""


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of this test on a unix socket: yields its SQLAlchemy URL."""
    pg = _pg_bin()
    if pg is None:
        why = _install_postgres()
        pg = _pg_bin()
        if pg is None:
            pytest.skip(f"PostgreSQL is not installed and could not be installed ({why or 'no initdb'});"
                        f" on Debian/Ubuntu: sudo apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="rnnpg-"))         # 0700
    as_user: list[str] = []
    if os.geteuid() == 0:                                      # initdb refuses to run as root
        import pwd
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"

    def pg_run(*cmd, check=True):
        proc = subprocess.run(as_user + [str(pg / cmd[0]), *cmd[1:]], capture_output=True,
                              text=True, timeout=120)
        if check and proc.returncode:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(f"PostgreSQL could not be started ({cmd[0]}: {proc.stderr[-300:]})")
        return proc

    pg_run("initdb", "-D", str(data), "-U", "grader", "--auth=trust", "-E", "UTF8", "--no-sync")
    pg_run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
           "-o", f"-k {folder} -c listen_addresses='' -p 5432 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://grader@/postgres?host={folder}&port=5432"
    finally:
        pg_run("pg_ctl", "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def course_module():
    """autograder/shards.py and gradebook_db.py, imported from the repository."""
    sys.path.insert(0, str(REPO / "autograder"))
    import gradebook_db
    import shards
    return shards, gradebook_db


def test_shards_split_a_class_into_disjoint_parts_that_cover_it(course_module):
    shards, _ = course_module
    pairs = [(f"student{i:03d}", lesson) for i in range(300) for lesson in lesson_ids()]
    for n in (1, 2, 3, 7):
        parts = [shards.select(pairs, (i, n)) for i in range(1, n + 1)]
        assert sorted(p for part in parts for p in part) == sorted(pairs), \
            f"the {n} shards do not cover the class exactly once"
        assert min(len(p) for p in parts) > 0.6 * len(pairs) / n, f"uneven shards of {n}"
    assert shards.select(pairs, None) == pairs
    assert [shards.shard_of(s, LESSON, 2) for s in SHARD_1 + SHARD_2] == [1, 1, 2]


def test_bad_shard_gets_a_clear_error(tmp_path):
    root = make_course_copy(tmp_path / "course")
    for bad in ("0/3", "4/3", "1/0", "one/3", "2"):
        proc = subprocess.run([sys.executable, str(root / "autograder" / "course.py"), "grade",
                               "--shard", bad], env=dict(os.environ, RNNCOURSE_ROOT=str(root)),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and "give i/n with 1 <= i <= n" in proc.stderr, (bad, proc)


def _workers_of(parent: int) -> list[int]:
    """The grading workers (grade_worker.py) that the process ``parent`` started."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(next(line.split()[1] for line in (proc / "status").read_text().splitlines()
                            if line.startswith("PPid:")))
            if ppid == parent and "grade_worker.py" in (proc / "cmdline").read_text():
                found.append(int(proc.name))
        except (OSError, StopIteration, ValueError):
            continue
    return found


def _alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are still grading workers."""
    out = []
    for pid in pids:
        try:
            if "grade_worker.py" in Path(f"/proc/{pid}/cmdline").read_text():
                out.append(pid)
        except OSError:
            continue
    return out


def _expected(request) -> dict:
    """Per cell (score, max) of one grader on SQLite: the session's graded class when this
    run grades it anyway, else what a solution and a blank lesson score."""
    uses_class = any("graded_course" in getattr(item, "fixturenames", ())
                     for item in request.session.items
                     if getattr(getattr(item, "module", None), "__name__", __name__) != __name__)
    if uses_class:
        rows = request.getfixturevalue("graded_course")[1]
        return {kind: {g: (v[0], v[1]) for g, v in rows[(kind, LESSON)].items()}
                for kind in ("solution", "blank")}
    return None


def _scores(cells: dict) -> dict:
    return {g: (v[0], v[1]) for g, v in cells.items()}


def test_graders_on_postgres_one_killed_and_restarted(postgres, tmp_path, request):
    root = make_course_copy(tmp_path / "course")
    env = {"RNNCOURSE_DB_URL": postgres}
    run_course(root, "release", "--lesson", LESSON, env_extra=env)
    kinds = {"blank": "blank", "solution": "solution", "ben": "solution"}
    for student, kind in kinds.items():
        source = REPO / "solutions" if kind == "solution" else root / "lessons"
        submit(root, student, LESSON, source / LESSON / f"{LESSON}.ipynb")
    # ben's kernel looks for the gradebook's URL (its password) in its environment and in the
    # file the graders read it from.
    spy = root / "autograder" / "submitted" / "ben" / LESSON / f"{LESSON}.ipynb"
    nb = load_nb(spy)
    nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None,
                        "outputs": [], "source": SPY})
    spy.write_text(json.dumps(nb))

    cmd = [sys.executable, str(root / "autograder" / "course.py"), "grade", "--lesson", LESSON]
    penv = dict(os.environ, RNNCOURSE_ROOT=str(root), **env)
    first = subprocess.Popen(cmd + ["--shard", "1/2"], env=penv, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(cmd + ["--shard", "2/2"], env=penv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    # Kill grader 1 once its first submission is graded and its second one is under way.
    log = []
    for line in first.stdout:
        log.append(line)
        if f"{SHARD_1[0]}/{LESSON}: graded in" in line:
            break
    else:
        pytest.fail("grader 1 ended before its first submission was graded:\n" + "".join(log))
    half = root / "autograder" / "autograded" / SHARD_1[1] / LESSON
    deadline = time.monotonic() + 120
    while not half.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, "grader 1 finished before it could be killed:\n" + "".join(log)
    workers = _workers_of(first.pid)
    assert workers, "grader 1 has no grading worker to leave behind"
    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(1)
    left = _alive(workers)
    assert not left, f"the killed grader's workers {left} still run (they would grade on)"
    out2, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out2
    assert "shard 2/2: 1 of the 3 submissions" in out2, out2

    killed = gradebook_rows(root, postgres)
    assert set(killed) <= {(s, LESSON) for s in kinds}, f"rows nobody submitted: {set(killed)}"
    assert (SHARD_2[0], LESSON) in killed, "grader 2's submission is missing"

    again = run_course(root, "grade", "--lesson", LESSON, "--shard", "1/2", env_extra=env)
    left = list(Path(tempfile.gettempdir()).glob(f"rnngradebook-{first.pid}-*"))
    assert not left, f"the killed grader's file with the gradebook's URL is still there: {left}"
    assert "shard 1/2: 2 of the 3 submissions" in again.stdout, again.stdout
    rows = gradebook_rows(root, postgres)
    assert sorted(rows) == sorted((s, LESSON) for s in kinds), f"rows lost or added: {sorted(rows)}"
    expected = _expected(request)
    for student, kind in kinds.items():
        cells = rows[(student, LESSON)]
        if expected is not None:
            assert _scores(cells) == expected[kind], (student, cells)
        code = [(auto, mx) for _, mx, auto, cell_type in cells.values() if cell_type == "code"]
        assert code and all(auto == (mx if kind == "solution" else 0) for auto, mx in code), \
            (student, kind, cells)

    # Same submission by mistake: another grader holds its claim, so this one skips it.
    _, gradebook_db = request.getfixturevalue("course_module")
    with gradebook_db.lock(postgres, root / "autograder", f"grade solution/{LESSON}",
                           wait=False) as held:
        assert held
        twice = run_course(root, "grade", "--lesson", LESSON, "--student", "solution",
                           env_extra=env)
    assert f"solution/{LESSON}: skipped, another grader is grading it now" in twice.stdout, \
        twice.stdout
    assert gradebook_rows(root, postgres) == rows
    seen = (root / "autograder" / "autograded" / "ben" / LESSON / f"{LESSON}.ipynb").read_text()
    assert "SPY-ENV" in seen, "the spying cell did not run"
    assert "postgresql" not in seen and postgres.split("host=")[1].split("&")[0] not in seen, \
        "a learner's kernel saw the gradebook's URL"
