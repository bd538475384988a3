# The three commands a newcomer needs (see README.md).
VENV := .venv/bin
SET  ?= sets/demo
PORT ?= 8501
# A fresh admin token per run unless one is given (make demo ADMIN_TOKEN=...).
ifndef ADMIN_TOKEN
ADMIN_TOKEN := $(shell python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
endif

.PHONY: install demo test

install:
	bash scripts/install.sh

# The main job: build the demo listening set from the bundled corpus (kept if it still
# validates) and serve the MUSHRA test on it.
demo:
	$(VENV)/synthesis validate-set $(SET) >/dev/null 2>&1 || $(VENV)/synthesis build-set --out $(SET) --force
	@echo "admin page: http://localhost:$(PORT)/admin  token: $(ADMIN_TOKEN)"
	$(VENV)/evalapp serve --set $(SET) --db sqlite:///$(SET).db --port $(PORT) --admin-token $(ADMIN_TOKEN)

test:
	$(VENV)/python -m pytest -q

