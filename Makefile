# The course kit's commands. Every target bootstraps the environment in .venv/ first.
#   make lab        JupyterLab on lessons/, with the nbgrader extensions
#   make test       every check of the course (what CI runs)
#   make release    regenerate lessons/ from solutions/
#   make grade      autograde autograder/submitted/<student>/<lesson>/   (LESSON=, STUDENT= to narrow)
#   make feedback   feedback HTML in autograder/feedback/
#   make export     grades CSV in autograder/grades.csv
#   make check      a learner's self-check: LESSON=01_rnn grades lessons/01_rnn with every test
#   make bench      time every lesson in learner and grading mode, and parallel grading
#   make experiments  rerun lesson 05's long sweeps into solutions/05_lstm_vs_gru/results.json

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
COURSE := $(PY) autograder/course.py
export PATH := $(abspath $(BIN)):$(PATH)
# nbgrader finds autograder/nbgrader_config.py from anywhere (formgrader, Validate button).
export JUPYTER_CONFIG_PATH := $(abspath autograder)

LESSON  ?=
STUDENT ?=
lesson_arg  = $(if $(LESSON),--lesson $(LESSON))
student_arg = $(if $(STUDENT),--student $(STUDENT))

JOBS ?= 1

.PHONY: venv sandbox lab test release grade feedback export report check bench experiments clean-grading

venv: $(STAMP)

$(STAMP): requirements.txt lib/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e lib
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
	cd lessons && $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

test: venv sandbox
	$(PY) -m pytest -q lib/tests tests

release: venv
	$(COURSE) release $(lesson_arg)

grade: venv sandbox
	$(COURSE) grade $(lesson_arg) $(student_arg) --jobs $(JOBS)

feedback: venv
	$(COURSE) feedback $(lesson_arg)

export: venv
	$(COURSE) export

report: venv
	$(COURSE) report

check: venv sandbox
	@test -n "$(LESSON)" || { echo "usage: make check LESSON=01_rnn"; exit 2; }
	$(COURSE) check --lesson $(LESSON)

bench: venv sandbox
	$(PY) tests/bench_lessons.py $(if $(LESSON),$(LESSON))
	$(PY) tests/bench_grading.py

# Lesson 05's sweeps (several T, seeds and data sizes): too long for the notebook, so they are
# run here, written beside the lesson, and released with it (then run `make release`).
experiments: venv
	$(PY) -m rnnkit.experiments --out solutions/05_lstm_vs_gru/results.json

clean-grading:
	rm -rf autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db autograder/grades.csv
