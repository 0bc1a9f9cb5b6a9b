#!/usr/bin/env bash
# Install everything and start the service on the embedded default: SQLite, tasks run inline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PYTHONUNBUFFERED=1
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py startup_status --bind "${HOST:-127.0.0.1}:${PORT:-8000}"
exec .venv/bin/python manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
