#!/usr/bin/env bash
# Install everything and start the service on the embedded default: SQLite, tasks run inline.
# Reads and keeps the one .env (common/envfile.py) that the settings and every command read.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PYTHONUNBUFFERED=1
.venv/bin/python -m common.envfile ensure
bind=$(.venv/bin/python -m common.envfile bind)
# What would stop the server (database, settings, port) is said now, in a line or two.
.venv/bin/python -m vani.preflight --bind "$bind"
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py startup_status --bind "$bind"
exec .venv/bin/python manage.py runserver "$bind"
