#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned dependencies into it. Idempotent and quiet:
# one summary line; the installer's output goes to .venv/install.log (shown if it fails).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
started=$(date +%s)
echo "installing dependencies into .venv (first run: a minute or two) ..."
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
log=.venv/install.log
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_PROGRESS_BAR=off
if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
       && .venv/bin/python -m pip install --quiet -r requirements-dev.txt; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "error: installing the dependencies failed; the whole output is in $log" >&2
  exit 1
fi
echo "$want" > "$stamp"
count=$(.venv/bin/python -m pip list --format=freeze 2>/dev/null | wc -l)
echo "installed $count packages into .venv in $(( $(date +%s) - started )) s (log: $log)"
