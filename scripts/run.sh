#!/usr/bin/env bash
# Install everything and start the service on the embedded default: SQLite, tasks run inline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PYTHONUNBUFFERED=1
# Unless configured (environment or .env), the public URL is where this server listens.
if [ -z "${PUBLIC_BASE_URL:-}" ] && ! grep -qs '^PUBLIC_BASE_URL=' .env; then
  export PUBLIC_BASE_URL="http://${HOST:-127.0.0.1}:${PORT:-8000}"
fi
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py startup_status --bind "${HOST:-127.0.0.1}:${PORT:-8000}"
exec .venv/bin/python manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
