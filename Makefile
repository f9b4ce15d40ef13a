# Two commands set a fresh machine up: `make run` and `make test` (both create .venv on first use).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
MLFLOW_PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test lint bench mlflow-ui optuna-dashboard clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is required (found " + sys.version.split()[0] + ")") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(PY) -m streamlit run app/streamlit_app.py --server.headless true --server.address 127.0.0.1 \
		--server.port $(PORT) --browser.gatherUsageStats false

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider -n 2  # two workers (pytest-xdist): most tests wait on subprocesses

bench: $(STAMP)
	$(PY) -m engine bench --suite synthetic --seeds 3 --out var/bench-synthetic.md

mlflow-ui: $(STAMP)
	mkdir -p var
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow server --backend-store-uri sqlite:///var/mlflow.db \
		--default-artifact-root var/mlartifacts --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

optuna-dashboard: $(STAMP)
	mkdir -p var
	$(VENV)/bin/optuna-dashboard sqlite:///var/optuna.db --host 127.0.0.1 --port 8080

clean-venv:
	rm -rf $(VENV)
