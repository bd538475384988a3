# The three commands a newcomer needs (see README.md).
VENV := .venv/bin
SET  ?= sets/demo
PORT ?= 8501

.PHONY: install demo test test-all bench

install:
	bash scripts/install.sh

# The main job: build the demo listening set from the bundled corpus and serve it.
demo:
	$(VENV)/synthesis pipeline --config configs/demo.toml --serve --port $(PORT)

test:
	$(VENV)/python -m pytest -q

bench:
	$(VENV)/python -m benchmarks.run_all
