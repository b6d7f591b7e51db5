# tinychinchilla: set-up and the course's commands. On a fresh machine, `make course` and
# `make test` each create the environment they need (.venv here, or the active one).
SHELL := /bin/bash
PYTHON ?= python3

# Use the virtual environment (or the conda env made from environment.yml) that is active;
# otherwise make a local .venv.
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else ifeq ($(CONDA_DEFAULT_ENV),tinychinchilla)
VENV := $(CONDA_PREFIX)
else
VENV := .venv
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tinychinchilla-installed

.PHONY: install course test slurm-for-tests lab lessons grade formgrader feedback export bench gpu-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch 2.13.0 is the CPU build this course is measured on; installed first only where no torch
# is present, so an existing (e.g. CUDA) build is never replaced.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[course,dev]"
	touch $@

install: $(STAMP)  ## create the environment and install the kit

course: install  ## the course's main job
	$(PY) -m tinychinchilla.course

test: install slurm-for-tests  ## the whole test suite
	$(PY) -m pytest -q

slurm-for-tests:  ## Slurm and munge for tests/test_slurm.py where missing (as root with apt-get; else those tests skip)
	@bash tests/setup_slurm.sh

lab: install  ## JupyterLab on the student notebooks
	$(PY) -m jupyter lab lessons/

lessons: install  ## regenerate lessons/ from solutions/ with nbgrader (`--check`: only report)
	$(PY) autograder/build_lessons.py

grade: install  ## grade a class: make grade SUBMISSIONS=folder-or-lms.zip (see autograder/README.md)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or-lms.zip"; exit 2; }
	$(PY) autograder/grade.py "$(SUBMISSIONS)"

formgrader: install  ## JupyterLab in the course folder: menu Nbgrader > Formgrader to grade written answers
	cd autograder && $(abspath $(PY)) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

feedback: install  ## feedback HTML again from the gradebook, after hand grading (autograder/feedback/)
	$(PY) autograder/grade.py feedback

export: install  ## final grades after hand grading: autograder/reports/grades.csv, canvas-grades.csv, moodle-*.csv
	$(PY) autograder/grade.py export

bench: install  ## speed benchmarks (ratios measured side by side)
	$(PY) benchmarks/bench_train_step.py
	$(PY) benchmarks/bench_fit.py
	$(PY) benchmarks/bench_import_order.py

gpu-check: install  ## on a CUDA machine: the demo, one sweep budget and the lessons on the GPU
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf out .pytest_cache
