#!/usr/bin/env bash
# Install everything and run the static checks: ruff (lint and format) and mypy (pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
