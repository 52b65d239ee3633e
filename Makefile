# `make run`  — install into .venv, migrate the SQLite default, generate secrets, serve
#               with the scheduled jobs in the same process (HOST=0.0.0.0 PORT=8080 make run).
# `make test` — install into .venv and run the whole suite (SQLite, then PostgreSQL
#               again when TEST_DATABASE_URL is set).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/stockmirror serve   # HOST and PORT (127.0.0.1:8000) pick the address

test: $(STAMP)
	$(BIN)/ruff check app tests bench wsgi.py
	$(BIN)/mypy
	$(BIN)/lint-imports
	env -u TEST_DATABASE_URL $(BIN)/pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL pass: $$TEST_DATABASE_URL"; \
		$(BIN)/pytest -q; \
	fi

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis
