"""Pytest fixtures for the local Cal.com API stand-in (tests/calcom_stub_server.py).

`tests/conftest.py` makes them available everywhere with `from tests.conftest_calcom import *`.

- `calcom_server`: a fresh, started `CalComStubServer` per test (empty state, empty request log).
- `calcom_settings`: Django settings pointing the Cal.com client at `calcom_server` with its valid
  API key and near-zero retry backoff (so retry tests stay fast).
- `calcom_unreachable_url`: the origin of a port nobody listens on (connection refused).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.calcom_stub_server import CalComStubServer

__all__ = ["calcom_server", "calcom_settings", "calcom_unreachable_url"]


@pytest.fixture
def calcom_server() -> Iterator[CalComStubServer]:
    server = CalComStubServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def calcom_settings(settings, calcom_server: CalComStubServer):
    settings.CAL_COM_API_URL = calcom_server.url
    settings.CAL_COM_API_KEY = calcom_server.api_key
    settings.CAL_COM_API_TIMEOUT = 5.0
    settings.CAL_COM_API_MAX_RETRIES = 3
    settings.CAL_COM_API_BACKOFF_SECONDS = 0.001
    return settings


@pytest.fixture
def calcom_unreachable_url() -> str:
    # Bind to get a free port, then close it: connecting is refused until someone else takes it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
