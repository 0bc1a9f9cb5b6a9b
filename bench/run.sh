#!/usr/bin/env bash
# `make bench`: PostgreSQL-backed benchmarks (ingest, processing, admin, memory), each against a
# baseline in the same run. Prints a table and one JSON line; writes BENCHMARKS.md.
# Quick run: BENCH_ADMIN_EVENTS=100000 BENCH_INGEST_SECONDS=5 make bench (see bench/run.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

PGHOST=127.0.0.1
PGPORT=5432
if ! pg_isready -h "$PGHOST" -p "$PGPORT" -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h "$PGHOST" -p "$PGPORT" -q && break; sleep 1; done
fi
db=${BENCH_DB:-vani_bench}  # another name keeps parallel runs apart
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
  -c "CREATE DATABASE $db"

export DJANGO_SETTINGS_MODULE=vani.settings
export DATABASE_URL="postgres://postgres@$PGHOST:$PGPORT/$db"
export TASKS_BACKEND=django_tasks_db.DatabaseBackend
export ENVIRONMENT=development
export DJANGO_DEBUG=false
export CAL_COM_WEBHOOK_SECRET=whsec_benchmark_secret
export CAL_COM_WEBHOOK_SECRET_PROD=
export ROOT_URLCONF=bench.urls
# Deliveries come from 127.0.0.1 signed; nothing is rejected, so the limiter never engages.
unset CACHE_URL HIT_SLACK_WEBHOOK_URL EMAIL_URL HIT_NOTIFY_EMAILS

.venv/bin/python manage.py migrate --noinput -v0
exec .venv/bin/python -m bench.run
