# The course kit's commands. Every target bootstraps the environment in .venv/ first.
#   make lab        JupyterLab on lessons/, with the nbgrader extensions
#   make test       every check of the course (what CI runs)
#   make release    regenerate lessons/ from solutions/
#   make grade      autograde autograder/submitted/<student>/<lesson>/   (LESSON=, STUDENT= to narrow)
#   make feedback   feedback HTML in autograder/feedback/
#   make export     grades CSV in autograder/grades.csv
#   make bench      run every solution notebook in learner mode and time it

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

.PHONY: venv lab test release grade feedback export report bench clean-grading

venv: $(STAMP)

$(STAMP): requirements.txt lib/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e lib
	touch $@

lab: venv
	$(BIN)/jupyter labextension list 2>&1 | grep -q "@jupyter/nbgrader.*OK" || \
	  { echo "the nbgrader JupyterLab extension is not enabled: reinstall with 'rm -r .venv && make venv'"; exit 1; }
	cd lessons && $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

test: venv
	$(PY) -m pytest -q lib/tests tests

release: venv
	$(COURSE) release $(lesson_arg)

grade: venv
	$(COURSE) grade $(lesson_arg) $(student_arg)

feedback: venv
	$(COURSE) feedback $(lesson_arg)

export: venv
	$(COURSE) export

report: venv
	$(COURSE) report

bench: venv
	$(PY) tests/bench_lessons.py $(if $(LESSON),$(LESSON))

clean-grading:
	rm -rf autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db autograder/grades.csv
