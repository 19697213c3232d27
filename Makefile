# vidpipe — `make help` lists the targets.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-production lint typecheck unit bench dev clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt $(wildcard requirements/*.txt) scripts/setup.sh
	scripts/setup.sh
	touch $@

setup: $(STAMP) ## Install everything into .venv (idempotent)

demo: setup ## Set up, then run the sample video through every stage on the embedded stack
	$(BIN)/vidpipe demo

test: setup lint typecheck ## Set up, lint, type-check and run every test tier
	$(BIN)/pytest

unit: setup ## The fast unit tier: in-memory queues and task store, no Postgres or SQS (seconds)
	$(BIN)/pytest tests/unit -q

PROD_VENV := .venv-production
test-production: ## The GPU images' Python stacks on CPU in their own venv (tests/production)
	$(shell command -v python3.11 || command -v python3) tests/production/build_venv.py $(PROD_VENV)
	VIDPIPE_PRODUCTION_TIER=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYANNOTE_METRICS_ENABLED=false \
		$(PROD_VENV)/bin/python -m pytest -c tests/production/pytest.ini --rootdir . tests/production

lint: setup ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup ## mypy (strict) over every package
	$(BIN)/mypy shared/vidpipe services/gateway/vidpipe_gateway services/moderator/vidpipe_moderator \
		services/transcriber/vidpipe_transcriber services/summarizer/vidpipe_summarizer

bench: setup ## Run the benchmarks (numbers printed and written to bench/results/)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

dev: setup ## Start the embedded stack until Ctrl-C
	$(BIN)/vidpipe dev

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .vidpipe .pytest_cache .mypy_cache .ruff_cache
