#!/usr/bin/env bash
# Install everything and run the whole test suite. Uses $DATABASE_URL when set (PostgreSQL in CI),
# otherwise SQLite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Browser tests drive Debian's chromium; never a downloaded browser.
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will skip" >&2
fi
exec .venv/bin/python -m pytest "$@"
