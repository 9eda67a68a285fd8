"""JupyterHub for the course on one machine: `make hub` starts it (as root) with this file.

* Login: PAM against the local system accounts (hub/users.py creates them; password scheme in
  its docstring). Only members of the groups rnn-instructors and rnn-students may log in.
* Each user's server: `jupyterhub-singleuser` of the course's environment (.venv/), started as
  that user by JupyterHub's LocalProcessSpawner, JupyterLab at /lab.
  - students: in their home folder (0700); nbgrader config hub/jupyter/student/: the exchange
    and the course id, the Assignment List (and Validate); the formgrader and Create Assignment
    switched off, server and JupyterLab side;
  - instructors: at the course root (the repository, or RNNCOURSE_HUB_COURSE), nbgrader config
    hub/jupyter/instructor/ then the course's autograder/nbgrader_config.py: the formgrader
    (nbgrader's "one class, one grader" setup: the formgrader runs in the instructor's own
    server), Create Assignment, the Assignment List and the Course List.
* nbgrader's exchange: /srv/nbgrader/exchange (RNNCOURSE_HUB_EXCHANGE), made by hub/setup_hub.sh.

Environment knobs (all optional): RNNCOURSE_HUB_URL (default http://:8000, every interface;
put TLS in front, see hub/README.md), RNNCOURSE_HUB_PORTS (the hub's and the proxy API's
loopback ports, default "8081,8001"), RNNCOURSE_HUB_COURSE, RNNCOURSE_HUB_EXCHANGE,
RNNCOURSE_HUB_RUNTIME (state: cookie secret, database, logs; default hub/runtime/, 0700),
RNNCOURSE_HUB_INSTRUCTORS / RNNCOURSE_HUB_STUDENTS (the two groups).
"""

import grp
import os
import pwd

c = get_config()  # noqa: F821 (provided by traitlets)

HUB = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HUB)
VENV_BIN = os.path.join(REPO, ".venv", "bin")
COURSE = os.path.realpath(os.environ.get("RNNCOURSE_HUB_COURSE") or REPO)
EXCHANGE = os.environ.get("RNNCOURSE_HUB_EXCHANGE") or "/srv/nbgrader/exchange"
RUNTIME = os.environ.get("RNNCOURSE_HUB_RUNTIME") or os.path.join(HUB, "runtime")
INSTRUCTORS = os.environ.get("RNNCOURSE_HUB_INSTRUCTORS") or "rnn-instructors"
STUDENTS = os.environ.get("RNNCOURSE_HUB_STUDENTS") or "rnn-students"
hub_port, proxy_api_port = (int(p) for p in
                            (os.environ.get("RNNCOURSE_HUB_PORTS") or "8081,8001").split(","))

os.makedirs(RUNTIME, mode=0o700, exist_ok=True)

# --- the hub and its proxy -------------------------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("RNNCOURSE_HUB_URL") or "http://:8000"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub_port
c.JupyterHub.cookie_secret_file = os.path.join(RUNTIME, "jupyterhub_cookie_secret")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(RUNTIME, "jupyterhub.sqlite")
c.JupyterHub.cleanup_servers = True          # stopping the hub stops every user's server
c.ConfigurableHTTPProxy.command = [os.path.join(HUB, "node_modules", ".bin",
                                                "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(RUNTIME, "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.should_start = True

# --- who may log in ---------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {INSTRUCTORS, STUDENTS}
c.PAMAuthenticator.create_system_users = False     # accounts come from hub/users.py only
c.PAMAuthenticator.open_sessions = False


def members(group: str) -> list[str]:
    """Accounts in a system group, as a supplementary or as the primary group."""
    try:
        g = grp.getgrnam(group)
    except KeyError:
        return []
    names = set(g.gr_mem) | {p.pw_name for p in pwd.getpwall() if p.pw_gid == g.gr_gid}
    return sorted(names)


# The hub's own groups mirror the system groups, under nbgrader's names for a course
# (formgrade-<course_id>, nbgrader-<course_id>): visible in the admin page, ready for
# nbgrader's JupyterHubAuthPlugin if the hub ever serves several courses.
c.JupyterHub.load_groups = {
    "formgrade-rnn-course": {"users": members(INSTRUCTORS)},
    "nbgrader-rnn-course": {"users": members(STUDENTS)},
}

# --- each user's server -----------------------------------------------------------------------
# The course's environment; umask 007 so that instructors share the course files through their
# group and nothing a user writes is readable by others.
c.Spawner.cmd = ["/bin/sh", "-c", 'umask 007 && exec "$@"', "rnn-course-singleuser",
                 os.path.join(VENV_BIN, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
# An idle kernel is shut down after 30 minutes, an idle server after an hour (singleuser-side
# culling: no extra service needed on one machine).
c.Spawner.args = [
    "--MappingKernelManager.cull_idle_timeout=1800",
    "--MappingKernelManager.cull_interval=120",
    "--ServerApp.shutdown_no_activity_timeout=3600",
]
c.Spawner.environment = {
    "PATH": os.pathsep.join([VENV_BIN, "/usr/local/bin", "/usr/bin", "/bin"]),
    "RNNCOURSE_EXCHANGE": EXCHANGE,
    # One thread per kernel: on a shared 2-core machine, torch's default of one thread per core
    # in every student's kernel only adds contention.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONWARNINGS": "ignore",
}


def is_instructor(name: str) -> bool:
    return name in members(INSTRUCTORS)


def pre_spawn_hook(spawner):
    """Students start in their home folder with the student config; instructors at the course
    root with the formgrader."""
    name = spawner.user.name
    env = dict(spawner.environment)
    if is_instructor(name):
        spawner.notebook_dir = COURSE
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            [os.path.join(HUB, "jupyter", "instructor"), os.path.join(COURSE, "autograder")])
        env["RNNCOURSE_ROOT"] = COURSE
    else:
        spawner.notebook_dir = "~"
        env["JUPYTER_CONFIG_PATH"] = os.path.join(HUB, "jupyter", "student")
    spawner.environment = env


c.Spawner.pre_spawn_hook = pre_spawn_hook
