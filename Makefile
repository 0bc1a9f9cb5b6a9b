.PHONY: run test lint bench
run:   ## install everything and start the service (SQLite, tasks inline)
	bash scripts/run.sh
test:  ## install everything and run the whole test suite
	bash scripts/test.sh
lint:  ## ruff (lint and format) and mypy, as configured in pyproject.toml
	bash scripts/lint.sh
bench: ## PostgreSQL-backed benchmarks; writes BENCHMARKS.md
	bash bench/run.sh
