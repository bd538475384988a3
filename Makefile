# The three commands a newcomer needs (see README.md).
VENV := .venv/bin
PORT ?= 8501
# A fresh admin token per run unless one is given (make demo ADMIN_TOKEN=...).
ifndef ADMIN_TOKEN
ADMIN_TOKEN := $(shell python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
endif

.PHONY: install demo test

install:
	bash scripts/install.sh

# The main job: build the demo listening set from the bundled corpus and the committed
# checkpoints (stages that are up to date are skipped) and serve the MUSHRA test on it.
# The pipeline prints the address, the admin token and the ratings database.
demo:
	EVALAPP_ADMIN_TOKEN=$(ADMIN_TOKEN) $(VENV)/synthesis pipeline --config configs/demo.toml --serve --port $(PORT)

test:
	$(VENV)/python -m pytest -q

