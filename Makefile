.PHONY: run test bench
run:   ## install everything and start the service (SQLite, tasks inline)
	bash scripts/run.sh
test:  ## install everything and run the whole test suite
	bash scripts/test.sh
bench: ## PostgreSQL-backed benchmarks; writes BENCHMARKS.md
	bash bench/run.sh
