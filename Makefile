# The three commands a newcomer needs (see README.md).
VENV := .venv/bin
SET  ?= sets/demo
PORT ?= 8501

.PHONY: install demo test

install:
	bash scripts/install.sh

# The main job: build the demo listening set from the bundled corpus (kept if it still
# validates) and serve the MUSHRA test on it.
demo:
	$(VENV)/synthesis validate-set $(SET) >/dev/null 2>&1 || $(VENV)/synthesis build-set --out $(SET) --force
	$(VENV)/evalapp serve --set $(SET) --db sqlite:///$(SET).db --port $(PORT)

test:
	$(VENV)/python -m pytest -q

