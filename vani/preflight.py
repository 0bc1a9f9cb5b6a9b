"""`python -m vani.preflight --bind HOST:PORT`: what would stop `make run`, one line each.

Run by scripts/run.sh before migrating and before the start-up banner: a wrong or unreachable
DATABASE_URL, a bad setting (scheme typo, time zone, ALLOWED_HOSTS) or a port in use is said in
a line or two naming what to fix, instead of a traceback after an "all good" banner. Exit
status 1 when something is wrong; nothing is printed when all is well.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from urllib.parse import urlsplit


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def configuration_problem() -> str:
    """Load the settings; a bad value is reported instead of raised."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vani.settings")
    try:
        import django

        django.setup()
    except Exception as exc:  # anything the settings raise is a configuration mistake
        return f"configuration: {_first_line(exc)}"
    return ""


def allowed_hosts_problems(*, bind_host: str) -> list[str]:
    from django.conf import settings
    from django.http.request import validate_host

    problems = []
    for entry in settings.ALLOWED_HOSTS:
        if "://" in entry or "/" in entry or " " in entry or (entry.count(":") == 1 and "]" not in entry):
            problems.append(
                f"DJANGO_ALLOWED_HOSTS: {entry!r} is not a host name; write the bare host "
                "(e.g. vani.example.com, no scheme, port or path)"
            )
    if problems:
        return problems
    hosts = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    local = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host
    public = urlsplit(settings.PUBLIC_BASE_URL).hostname or ""
    for host, what in ((local, "this server's address"), (public, "PUBLIC_BASE_URL's host")):
        if host and not validate_host(host, hosts):
            problems.append(
                f"DJANGO_ALLOWED_HOSTS does not include {host} ({what}): every request to it would "
                f"be answered 400; add it (now: {','.join(settings.ALLOWED_HOSTS) or 'empty'})"
            )
            break
    return problems


def database_problem() -> str:
    from django.conf import settings
    from django.db import DatabaseError, connection

    config = settings.DATABASES["default"]
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        text = _first_line(exc)
        if config["ENGINE"].endswith("sqlite3"):
            return (
                f"DATABASE_URL: cannot open the SQLite file {config['NAME']} ({text}); does its folder exist?"
            )
        where = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}"
        lowered = str(exc).lower()
        if "does not exist" in lowered and "database" in lowered:
            return (
                f"DATABASE_URL: the database {config['NAME']!r} does not exist on {where}; "
                f"create it (createdb {config['NAME']}) or fix the name"
            )
        if "password" in lowered or "authentication" in lowered or "role" in lowered:
            return f"DATABASE_URL: PostgreSQL at {where} refused user {config.get('USER')!r}: {text}"
        return (
            f"DATABASE_URL: cannot reach PostgreSQL at {where} ({text}); is it running, host and port right?"
        )
    finally:
        connection.close()
    return ""


def port_problem(*, host: str, port: int) -> str:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"PORT {port} is already in use on {host} (another `make run`?); stop that "
                    "process or choose another port: PORT=8001 make run"
                )
            return f"HOST/PORT: cannot listen on {host}:{port} ({exc.strerror or exc})"
    return ""


def problems(*, bind: str) -> list[str]:
    host, _, port_text = bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return [f"PORT: {port_text!r} is not a port number (1-65535)"]
    config = configuration_problem()
    if config:
        return [config]
    found = allowed_hosts_problems(bind_host=host)
    database = database_problem()
    if database:
        found.append(database)
    port = port_problem(host=host, port=int(port_text))
    if port:
        found.append(port)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:8000")
    found = problems(bind=parser.parse_args(argv).bind)
    for line in found:
        sys.stderr.write(f"error: {line}" + "\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
