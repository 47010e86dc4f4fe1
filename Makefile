# The two commands that do everything on a fresh machine: `make quickstart` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# The PyTorch build to install. The default is the one this project is tested with;
# on a GPU machine pick the wheel that matches its CUDA, e.g.
#   make test TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install lint quickstart compare compare-gpu test test-fast bench bench-gpu wheelhouse clean

# The project at the versions the Docker image pins (docker/requirements.txt, as pip constraints:
# without their extras), so the tests, CI and the image run the same Ray and MLflow, and a new
# release upstream changes nothing here until the pins move. pyproject.toml keeps ranges for
# anyone's own `pip install`.
$(BIN)/.installed: pyproject.toml docker/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	sed -E 's/\[[^]]*\]//' docker/requirements.txt > $(VENV)/constraints.txt
	$(BIN)/python -m pip install -q -c $(VENV)/constraints.txt -e '.[sweep,test]'
	touch $@

install: $(BIN)/.installed

# The embedded default sweep; run again, it resumes (or says everything is done).
quickstart: install
	$(BIN)/orchestrate sweep search_spaces/quickstart.yaml --storage runs/quickstart \
	    $$(test -d runs/quickstart/quickstart && echo --resume)

# The laptop comparison of the four models on the embedded digits (about an hour on 2 CPU cores):
# four sweeps, the dataset's own metrics, and one report (runs/compare/analysis/report.html).
# Run again, it resumes each sweep (or finds it done). docs/results.md is its result.
COMPARE := alphagan dcgan wgangp age
compare: install
	for model in $(COMPARE); do \
	    $(BIN)/orchestrate sweep search_spaces/digits_$$model.yaml --storage runs/compare \
	        $$(test -d runs/compare/digits_$$model && echo --resume) || exit $$?; \
	done
	test -f runs/compare/reference-digits/metrics.json || $(BIN)/orchestrate evaluate --reference \
	    --dataset digits --critic-steps 0 --out runs/compare/reference-digits
	$(BIN)/orchestrate analyze $(addprefix digits_,$(COMPARE)) --storage runs/compare \
	    --reference runs/compare/reference-digits/metrics.json --out runs/compare/analysis

# The same comparison on a GPU: ColorMNIST, the paper's networks at full width, 5,000 iterations
# (about 8 minutes on one H200; DATA_ROOT holds mnist/). Its report: runs/compare-gpu/analysis.
DATA_ROOT ?= ../shared/data
compare-gpu: install
	OUT=runs/compare-gpu PYTHON=$(BIN)/python WHEELHOUSE= DATA_ROOT=$(abspath $(DATA_ROOT)) \
	    STORAGE=$(CURDIR)/runs/compare-gpu/sweeps sh benchmarks/gpu_compare.sh

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python benchmarks/run_all.py

# On a machine with a CUDA GPU: the GPU tests, the throughput table (also under NVIDIA MPS) and
# what each paper grid costs, in runs/bench-gpu (benchmarks/gpu_check.sh; docs/benchmarks-gpu.md).
bench-gpu: install
	OUT=runs/bench-gpu PYTHON=$(BIN)/python sh benchmarks/gpu_check.sh

# Wheels for an air-gapped GPU machine that has PyTorch: Ray (slim), MLflow's client, Optuna and
# what they need, for WHEELHOUSE_PYTHON; WHEELHOUSE_HAVE: a `pip list --format=freeze` of the target
# (its packages are left out). docs/cluster.md, "Air-gapped GPU machines".
WHEELHOUSE_PYTHON ?= 3.12
WHEELHOUSE_HAVE ?=
wheelhouse: install
	$(BIN)/python docker/wheelhouse.py --python-version $(WHEELHOUSE_PYTHON) --out wheelhouse \
	    $(if $(WHEELHOUSE_HAVE),--have $(WHEELHOUSE_HAVE))

clean:
	rm -rf $(VENV) runs .pytest_cache
