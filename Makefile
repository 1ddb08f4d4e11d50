# The README's commands. Each one sets up its own pinned environment in .venv first.
.PHONY: setup demo test test-quick reproduce weights

setup:
	bash scripts/setup_env.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/run_tests.sh

# The unit tests only, for development (no BasicSR pipeline runs): about a minute.
test-quick:
	bash scripts/run_tests.sh -m "not pipeline"

# Table 2 of the paper, resumable (docs/results.md, "Table 2"): make reproduce [TRAIN=...] [BENCH=...] [PRESET=cpu|paper] [SEEDS=2]
TRAIN ?= datasets/DIV2K
BENCH ?= datasets
PRESET ?= cpu
SEEDS ?= 2
reproduce:
	bash scripts/setup_env.sh
	"$${WBSR_VENV:-.venv}/bin/python" scripts/reproduce.py --train $(TRAIN) --bench $(BENCH) --preset $(PRESET) --seeds $(SEEDS)

# The shipped checkpoints, rebuilt from the 291 photos (docs/models.md): make weights DATA=... SETS=... CALIBRATION=...
DATA ?= datasets/train291
SETS ?= datasets/raw
weights:
	bash scripts/setup_env.sh
	"$${WBSR_VENV:-.venv}/bin/python" scripts/train_weights.py --data $(DATA) --sets $(SETS) --calibration $(CALIBRATION) --publish
