# The course kit's commands. Every target bootstraps the environment in .venv/ first.
#   make lab        JupyterLab on workspace/ (your own copy of lessons/, never overwritten), with the nbgrader extensions
#   make lab-instructor  JupyterLab at the repository root: solutions/, the formgrader, Create Assignment
#   make test       every check of the course (what CI runs)
#   make test-ui    the course in headless Chromium: lessons, Validate, formgrader, formulas offline (LESSON= to narrow)
#   make hub        (root) the course on a JupyterHub with nbgrader's exchange, on port 8000 (hub/README.md)
#   make test-hub   (root) the hub end to end in headless Chromium: release, fetch, submit, collect, grade, feedback
#   make release    regenerate lessons/ from solutions/
#   make grade      autograde autograder/submitted/<student>/<lesson>/   (LESSON=, STUDENT= to narrow;
#                   JOBS= at a time; SHARD=i/n, DB_URL=postgresql://... for several graders)
#   make feedback   feedback HTML in autograder/feedback/
#   make export     grades.csv (row per student and lesson, with a status) and grades-lms.csv (row per student) in autograder/ (LESSON= to narrow)
#   make check      a learner's self-check: LESSON=01_rnn grades workspace/01_rnn with every test
#   make bench      time every lesson in learner and grading mode, and a class of 24 graded at JOBS=1 and JOBS=2
#   make experiments  rerun lesson 05's long sweeps into solutions/05_lstm_vs_gru/results.json
#   make diagrams   redraw the cell diagrams (lib/rnnkit/diagrams.py) into the solutions' Markdown, release what changed

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
COURSE := $(PY) autograder/course.py
export PATH := $(abspath $(BIN)):$(PATH)
# nbgrader finds autograder/nbgrader_config.py from anywhere (formgrader, Validate button).
# A path that already lists it is kept: on the hub, the instructor's server puts
# hub/jupyter/instructor/ (the exchange, groupshared) before it, which make release/grade need.
export JUPYTER_CONFIG_PATH := $(if $(filter $(abspath autograder),$(subst :, ,$(JUPYTER_CONFIG_PATH))),$(JUPYTER_CONFIG_PATH),$(abspath autograder))

LESSON  ?=
STUDENT ?=
lesson_arg  = $(if $(LESSON),--lesson $(LESSON))
student_arg = $(if $(STUDENT),--student $(STUDENT))

JOBS ?= 1
# DB_URL=postgresql://user:password@host/db: the gradebook of every command (default
# autograder/gradebook.db); SHARD=i/n: make grade grades the i-th of n shards (README, Grading).
DB_URL ?=
SHARD  ?=
ifneq ($(strip $(DB_URL)),)
export RNNCOURSE_DB_URL := $(DB_URL)
endif
shard_arg = $(if $(SHARD),--shard $(SHARD))

.PHONY: venv sandbox lab lab-instructor test test-ui release grade feedback export report check bench experiments diagrams clean-grading hub hub-prereqs test-hub

venv: $(STAMP)

$(STAMP): requirements.txt lib/pyproject.toml autograder/templates/mathjax.html.j2 autograder/open_feedback_link.py
	@echo "== Installing the course environment into $(VENV)/ (torch CPU, JupyterLab, nbgrader, NumPy,"
	@echo "== matplotlib, statsmodels, ...): about 1.9 GB, 1.5-3 minutes on a fresh clone; pip's progress follows."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Linux: torch's CPU build first (PyPI's torch for Linux is a CUDA build of several GB); one
	@# quick try at PyTorch's CPU index (no retries: an offline mirror goes on at once)
	if [ "$$(uname -s)" = Linux ] && ! $(PY) -c "import torch" 2>/dev/null; then \
	  $(PY) -m pip install --disable-pip-version-check --progress-bar on --retries 0 --timeout 20 \
	    --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0+cpu" || \
	  echo "== torch's CPU build was not found: pip takes torch==2.13.0 from your index below"; fi
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e lib
	# feedback pages and the formgrader take MathJax from the Jupyter server (works offline)
	for t in feedback formgrade; do \
	  mkdir -p $(VENV)/share/jupyter/nbconvert/templates/$$t && \
	  cp autograder/templates/mathjax.html.j2 $(VENV)/share/jupyter/nbconvert/templates/$$t/; done
	# "(view feedback)" in the Assignment List opens the feedback page, not only its folder
	$(PY) autograder/open_feedback_link.py $(VENV)
	@echo "== The course environment is ready in $(VENV)/."
	touch $@

# Grading runs student code inside bubblewrap; install it where we can (root with apt-get).
# Without it grading still works, with a loud warning on every run (see README).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1)) || true; \
	  fi; \
	  command -v bwrap >/dev/null 2>&1 || \
	    echo "WARNING: bubblewrap is not installed: student code will be graded WITHOUT a sandbox." \
	         "Install it (Debian/Ubuntu: sudo apt-get install bubblewrap)." >&2; }

lab: venv
	$(BIN)/jupyter labextension list 2>&1 | grep -q "@jupyter/nbgrader.*OK" || \
	  { echo "the nbgrader JupyterLab extension is not enabled: reinstall with 'rm -r .venv && make venv'"; exit 1; }
	$(PY) autograder/workspace.py sync
	cd workspace && $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

test: venv sandbox
	$(PY) -m pytest -q lib/tests tests

release: venv
	$(COURSE) release $(lesson_arg)

grade: venv sandbox
	$(COURSE) grade $(lesson_arg) $(student_arg) --jobs $(JOBS) $(shard_arg)

feedback: venv
	$(COURSE) feedback $(lesson_arg)

export: venv
	$(COURSE) export $(lesson_arg)

report: venv
	$(COURSE) report

check: venv sandbox
	@test -n "$(LESSON)" || { echo "usage: make check LESSON=01_rnn"; exit 2; }
	$(COURSE) check --lesson $(LESSON) --notebook "$$($(PY) autograder/workspace.py path --lesson $(LESSON))"

bench: venv sandbox
	@mkdir -p bench-results && rm -f bench-results/*.json && date +%s > bench-results/.start
	-$(PY) tests/bench_install.py --json bench-results/install.json
	-$(PY) tests/bench_lessons.py $(LESSON) --json bench-results/lessons.json
	-$(PY) tests/bench_grading.py $(LESSON) --floors bench-results/lessons.json --json bench-results/grading.json
	-$(PY) tests/bench_numpy.py --json bench-results/numpy.json
	-$(PY) tests/bench_gradebook.py --json bench-results/gradebook.json
	$(PY) tests/bench_report.py bench-results

# Lesson 05's sweeps (learning rates, seeds, lengths, data sizes, the timing block): too long for the
# notebook, so they are run here (about 20 minutes on 2 cores; WORKERS=1 runs the training one run
# at a time, about twice as long), written beside the lesson with the code's SHA-256 and the machine,
# and released with it. Run it on a quiet machine: the timing block comes first and measures speed.
experiments: venv
	$(PY) -m rnnkit.experiments --out solutions/05_lstm_vs_gru/results.json $(if $(WORKERS),--workers $(WORKERS))
	$(COURSE) release --lesson 05_lstm_vs_gru

# The lessons' diagrams (lib/rnnkit/diagrams.py): redrawn as SVG, stored as cell attachments of
# the solution notebooks' Markdown, and released into lessons/ for every lesson that changed.
diagrams: venv
	@changed="$$($(PY) -m rnnkit.diagrams embed solutions)" || exit 1; \
	  for lesson in $$changed; do $(COURSE) release --lesson $$lesson || exit 1; done; \
	  echo "diagrams: redrawn; notebooks changed:" $${changed:-none}

clean-grading:
	rm -rf autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db autograder/grades.csv

# Instructors and authors: JupyterLab at the repository root, so that solutions/ opens, the
# formgrader works (the course root must lie inside the served folder) and its links lead there.
# Its layout (open tabs) is kept in autograder/lab-workspaces/, apart from the learner's make lab.
lab-instructor: venv
	$(BIN)/jupyter labextension list 2>&1 | grep -q "@jupyter/nbgrader.*OK" || \
	  { echo "the nbgrader JupyterLab extension is not enabled: reinstall with 'rm -r .venv && make venv'"; exit 1; }
	mkdir -p autograder/exchange
	RNNCOURSE_LOCAL_EXCHANGE=$(abspath autograder/exchange) \
	  JUPYTERLAB_WORKSPACES_DIR=$(abspath autograder/lab-workspaces) \
	  $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

# The browser test (tests/ui/browser_check.py): Debian's chromium and a CJK font for the
# glossaries, installed where we can (root with apt-get); Playwright drives /usr/bin/chromium.
UI_PACKAGES := chromium fonts-noto-cjk
test-ui: venv sandbox
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk"; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq $(UI_PACKAGES) >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(UI_PACKAGES) >/dev/null 2>&1)) || true; \
	  fi; \
	  command -v chromium >/dev/null 2>&1 || \
	    { echo "make test-ui needs Chromium at /usr/bin/chromium (Debian/Ubuntu: sudo apt-get install $(UI_PACKAGES))" >&2; exit 1; }; }
	@$(PY) -c "import playwright" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check playwright==1.64.1
	$(PY) tests/ui/browser_check.py $(if $(LESSON),--lesson $(LESSON))
	$(PY) tests/ui/offline_math_check.py $(if $(LESSON),--lesson $(firstword $(LESSON)))

# The course on JupyterHub (hub/README.md). As root: groups, nbgrader's exchange, permissions and
# configurable-http-proxy (npm, pinned in hub/package-lock.json, into hub/node_modules/) by
# hub/setup_hub.sh; the accounts of hub/class.txt (if present) by hub/users.py; then the hub, in
# the foreground, on HUB_URL. HUB_COURSE: the course root the instructors grade in.
HUB_PIP    := jupyterhub==6.1.1
HUB_URL    ?= http://:8000
HUB_COURSE ?= $(CURDIR)
hub-prereqs: venv sandbox
	@test "$$(id -u)" = 0 || { echo "make hub runs as root (system users, setuid spawner); try: sudo make hub" >&2; exit 1; }
	@$(PY) -c "import jupyterhub" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check $(HUB_PIP)
	@command -v node >/dev/null 2>&1 || \
	  (apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq nodejs npm >/dev/null 2>&1))

hub: hub-prereqs
	hub/setup_hub.sh $(HUB_COURSE)
	@if [ -f hub/class.txt ]; then $(PY) hub/users.py sync hub/class.txt; \
	 else echo "no hub/class.txt: only existing members of rnn-instructors/rnn-students can log in (see hub/class.example.txt)"; fi
	cd hub && env -u JUPYTER_CONFIG_PATH RNNCOURSE_HUB_URL=$(HUB_URL) RNNCOURSE_HUB_COURSE=$(HUB_COURSE) \
	  $(BIN)/jupyterhub -f jupyterhub_config.py

# The hub end to end (tests/hub/hub_check.py): three students and an instructor on a loopback
# port, in a temporary course copy and exchange; Chromium as for test-ui.
test-hub: hub-prereqs
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || true; \
	  fi; \
	  command -v chromium >/dev/null 2>&1 || { echo "make test-hub needs Chromium at /usr/bin/chromium" >&2; exit 1; }; }
	@$(PY) -c "import playwright" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check playwright==1.64.1
	$(PY) tests/hub/hub_check.py
