# make demo   the whole pipeline on a synthetic WIDER-format set (sets up the modern environment first)
# make test   both environments (built first): TF 1.15 on Python 3.7 and TF 2.x on Python >= 3.9 (REQUIRE_TF1=1: 3.7 is mandatory)
# make bench  the speed benchmarks (tables)
# make mutation  mutation testing (cosmic-ray, hours; resumable; not part of make test): mutation/run.py
#                 MUTATION_ARGS='--only lib/inference/nms.py --hours 1' limits it
# make env-intel  opt-in: the reference environment with intel-tensorflow==1.15.2 (TF 1.15's MKL-DNN CPU build)
#                 in its own venv, .venv37-intel; run a frozen graph there with .venv37-intel/bin/python
SHELL := /bin/bash
PYTHON ?= python3
PYTEST_ARGS ?=
# Python 3.7 for the reference environment: on PATH, or any pyenv-installed 3.7.
PYTHON37 ?= $(shell for p in python3.7 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.7*/bin/python3.7 2>/dev/null); do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 7)' >/dev/null 2>&1 && { echo $$p; break; }; done)

VENV_MODERN := .venv311
VENV_TF1 := .venv37
VENV_INTEL := .venv37-intel
INTEL_TF := intel-tensorflow==1.15.2

.PHONY: test test-modern test-tf1 pass-modern pass-tf1 demo bench mutation env-modern env-tf1 env-intel clean

$(VENV_MODERN)/.installed: requirements.txt requirements-export.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 9), "make needs PYTHON >= 3.9 for the modern environment"'
	test -x $(VENV_MODERN)/bin/python || $(PYTHON) -m venv $(VENV_MODERN)
	$(VENV_MODERN)/bin/python -m pip install -q --upgrade pip setuptools wheel
	$(VENV_MODERN)/bin/python -m pip install -q -r requirements.txt
	$(VENV_MODERN)/bin/python -m pip install -q -r requirements-export.txt
	touch $@

$(VENV_TF1)/.installed: requirements.txt
	@test -n "$(PYTHON37)" || { echo "python3.7 not found: install Python 3.7 (e.g. pyenv install 3.7.16) or set PYTHON37=..."; exit 1; }
	test -x $(VENV_TF1)/bin/python || $(PYTHON37) -m venv $(VENV_TF1)
	$(VENV_TF1)/bin/python -m pip install -q --upgrade "pip<24" "setuptools<68" wheel
	$(VENV_TF1)/bin/python -m pip install -q -r requirements.txt
	touch $@

# The same packages as the reference environment, with Intel's build of TF 1.15 in place of the stock wheel.
$(VENV_INTEL)/.installed: requirements.txt
	@test -n "$(PYTHON37)" || { echo "python3.7 not found: install Python 3.7 (e.g. pyenv install 3.7.16) or set PYTHON37=..."; exit 1; }
	test -x $(VENV_INTEL)/bin/python || $(PYTHON37) -m venv $(VENV_INTEL)
	$(VENV_INTEL)/bin/python -m pip install -q --upgrade "pip<24" "setuptools<68" wheel
	$(VENV_INTEL)/bin/python -m pip install -q -r requirements.txt
	$(VENV_INTEL)/bin/python -m pip uninstall -q -y tensorflow
	$(VENV_INTEL)/bin/python -m pip install -q "$(INTEL_TF)"
	touch $@

env-intel: $(VENV_INTEL)/.installed
	cd tools/ap_eval && ../../$(VENV_INTEL)/bin/python setup.py -q build_ext --inplace

env-modern: $(VENV_MODERN)/.installed
	cd tools/ap_eval && ../../$(VENV_MODERN)/bin/python setup.py -q build_ext --inplace

env-tf1: $(VENV_TF1)/.installed
	cd tools/ap_eval && ../../$(VENV_TF1)/bin/python setup.py -q build_ext --inplace

# One test pass per environment, each line tagged with it (`make test` runs the two passes at once). The pass-*
# targets build nothing: two builds in tools/ap_eval at once would race. $(call test_pass,VENV,TAG)
test_pass = set -o pipefail; $(1)/bin/python -u -m pytest tests -q --durations=15 $(PYTEST_ARGS) 2>&1 | sed -u 's/^/[$(2)] /'

pass-modern:
	$(call test_pass,$(VENV_MODERN),tf2)

pass-tf1:
	$(call test_pass,$(VENV_TF1),tf1)

test-modern: env-modern
	@$(MAKE) --no-print-directory pass-modern

test-tf1: env-tf1
	@$(MAKE) --no-print-directory pass-tf1

# Both environments are built before either pass, so each pass can load the other's frozen graphs; the passes
# are independent (own venvs, own temporary folders), so they run side by side.
test:
	@if [ -n "$(PYTHON37)" ]; then $(MAKE) --no-print-directory env-tf1 env-modern && \
		$(MAKE) --no-print-directory -j2 pass-tf1 pass-modern; \
	elif [ "$(REQUIRE_TF1)" = "1" ]; then echo "REQUIRE_TF1=1 but python3.7 was not found"; exit 1; \
	else echo "python3.7 not found: testing the modern environment only (TF 1.15 needs Python 3.7)"; \
		$(MAKE) --no-print-directory test-modern; fi

demo: env-modern
	$(VENV_MODERN)/bin/python demo.py

# bench_pruning_methods.py (the method study) takes hours: run it by hand (README).
bench: env-modern
	for b in $(filter-out bench/bench_pruning_methods.py,$(wildcard bench/bench_*.py)); do echo "== $$b"; \
		$(VENV_MODERN)/bin/python $$b || exit 1; done

MUTATION_ARGS ?=
mutation: env-modern
	$(VENV_MODERN)/bin/python -m pip install -q -r requirements-dev.txt
	$(VENV_MODERN)/bin/python mutation/run.py $(MUTATION_ARGS)

clean:
	rm -rf build lib/evaluation/*.so lib/evaluation/*.c
