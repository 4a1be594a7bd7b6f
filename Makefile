# Two commands do everything from a fresh clone: `make demo` and `make test`.
# torch 2.13.0 (CPU build) is installed first and explicitly, then the project, so that no
# dependency can pull a CUDA build of a newer torch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.device-ai-installed
DEMO_OUT ?= demo-output

.PHONY: demo test model validate benchmark clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(BIN)/device-ai demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q --req-report test-results/requirements.json

# Retrain, export, parity-check, evaluate and sign the demo model (about 25 min on 2 cores).
# SIGNING_KEY must name an Ed25519 private key (`device-ai model keygen --out KEY`).
model: $(STAMP)
	$(BIN)/device-ai train --seed 0 --out models/retrained-$$(date +%Y%m%d%H%M%S) --signing-key $(SIGNING_KEY)

validate: $(STAMP)
	$(BIN)/device-ai validate --patients 60 --out validation/results/demo-dinov2-seg-1.0.0.json

benchmark: $(STAMP)
	$(BIN)/python benchmarks/latency.py

clean-venv:
	rm -rf $(VENV)
