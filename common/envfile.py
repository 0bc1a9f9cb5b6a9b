"""The one `.env` that `make run`, the settings and every command read.

`python -m common.envfile ensure` (run by scripts/run.sh) creates it on the first run with a fresh
signing secret and the port, and writes into it what was given in the shell
(`CAL_COM_WEBHOOK_SECRET=… PORT=… make run`), so a command run later in another shell uses the
same secret, port and public URL. `python -m common.envfile bind` prints HOST:PORT.

Standard library only: it runs before Django is configured. VANI_ENV_FILE names another file
(tests).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Values the server and the tools must agree on; a shell value for one of them is kept.
SHARED_KEYS = ("CAL_COM_WEBHOOK_SECRET", "PORT", "HOST", "PUBLIC_BASE_URL")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", "8000"

HEADER = """\
# VANI configuration, read by `make run`, the settings and every manage.py command.
# A variable set in the shell wins over this file (and `make run` writes it here).
# Every setting: docs/configuration.md
"""
PUBLIC_URL_HINT = """\
# Where Cal.com reaches this server (e.g. an ngrok https URL); unset: http://HOST:PORT
# PUBLIC_BASE_URL=https://example.ngrok.app
"""


def env_file_path() -> Path:
    return Path(os.environ.get("VANI_ENV_FILE") or BASE_DIR / ".env")


def read_values(text: str) -> dict[str, str]:
    """KEY=VALUE lines (comments, blanks and `export ` allowed; quotes stripped)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def with_value(text: str, *, key: str, value: str) -> str:
    """`text` with KEY set to `value`: its line replaced, or one appended."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip().removeprefix("export ").split("=", 1)[0].strip() == key:
            lines[index] = f"{key}={value}"
            break
    else:
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def ensure(*, path: Path, environ: dict[str, str]) -> str:
    """Create or update the file; returns one line saying what was done."""
    if not path.exists():
        secret = environ.get("CAL_COM_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
        text = (
            HEADER
            + "\n# Paste the same secret into Cal.com's webhook form (Settings > Developer > Webhooks).\n"
        )
        text += f"CAL_COM_WEBHOOK_SECRET={secret}\n"
        text += f"HOST={environ.get('HOST') or DEFAULT_HOST}\nPORT={environ.get('PORT') or DEFAULT_PORT}\n"
        if environ.get("PUBLIC_BASE_URL"):
            text += f"PUBLIC_BASE_URL={environ['PUBLIC_BASE_URL']}\n"
        else:
            text += PUBLIC_URL_HINT
        path.write_text(text)
        return (
            f"config: created {path.name} (a new signing secret, port {environ.get('PORT') or DEFAULT_PORT})"
        )
    text = path.read_text()
    current = read_values(text)
    changed = []
    for key in SHARED_KEYS:
        if environ.get(key) and current.get(key) != environ[key]:
            text = with_value(text, key=key, value=environ[key])
            changed.append(key)
    if changed:
        path.write_text(text)
        return f"config: {path.name} updated from your shell: {', '.join(changed)}"
    return f"config: {path.name}"


def bind_address(*, path: Path, environ: dict[str, str]) -> str:
    values = read_values(path.read_text()) if path.exists() else {}
    host = environ.get("HOST") or values.get("HOST") or DEFAULT_HOST
    port = environ.get("PORT") or values.get("PORT") or DEFAULT_PORT
    return f"{host}:{port}"


def main(argv: list[str]) -> int:
    path = env_file_path()
    if argv[1:] == ["ensure"]:
        sys.stdout.write(ensure(path=path, environ=dict(os.environ)) + "\n")
        return 0
    if argv[1:] == ["bind"]:
        sys.stdout.write(bind_address(path=path, environ=dict(os.environ)) + "\n")
        return 0
    sys.stderr.write("usage: python -m common.envfile ensure|bind" + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
