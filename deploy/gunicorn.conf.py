"""gunicorn settings of the production recipe: `gunicorn vani.wsgi -c deploy/gunicorn.conf.py`.

- gthread workers: each worker serves GUNICORN_THREADS requests at once, so a few clients that
  send their body slowly hold a thread each, not a whole worker, and Cal.com's deliveries are
  still answered at once.
- Every request must have sent its whole body GUNICORN_BODY_TIMEOUT seconds after its headers;
  a slower one is answered 408 and its connection closed, so slow clients cannot keep threads.
- PROMETHEUS_MULTIPROC_DIR is created if missing and its metric files are wiped when the
  master starts (not when a worker starts: workers must not wipe each other's files).

Command-line options win over these (e.g. `--bind`, `--workers`).
"""

import contextlib
import os
import socket
import time
from pathlib import Path

import environ

env = environ.Env()
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)

bind = env.str("GUNICORN_BIND", default="0.0.0.0:8000")
workers = env.int("GUNICORN_WORKERS", default=4)
worker_class = "gthread"
threads = env.int("GUNICORN_THREADS", default=8)
# A request that runs longer than this is a bug; gthread workers keep their heartbeat while a
# thread is busy, so this bounds only a stuck worker's main loop.
timeout = 30
keepalive = 5
BODY_TIMEOUT = env.float("GUNICORN_BODY_TIMEOUT", default=10.0)


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        wipe_metrics_dir(Path(directory))


def wipe_metrics_dir(directory: Path) -> None:
    """Create the directory; delete the previous run's metric files (prometheus_client's
    `*.db`), nothing else, in case the variable points at a shared directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


class _BodyDeadlineSocket:
    """The connection's socket, every read bounded by what is left of the request's deadline."""

    def __init__(self, sock, *, req, deadline: float):
        self._sock = sock
        self._req = req
        self._deadline = deadline
        self.expired = False

    def recv(self, size, *args):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            self._expire()
        previous = self._sock.gettimeout()
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *args)
        except TimeoutError:
            self._expire()
        finally:
            self._sock.settimeout(previous)

    def _expire(self):
        # Close after the answer (408 from the app): the rest of the body never came.
        self.expired = True
        self._req.must_close = True
        raise TimeoutError(f"request body not received within {BODY_TIMEOUT:g} s")

    def __getattr__(self, name):
        return getattr(self._sock, name)


def pre_request(worker, req):
    unreader = req.unreader
    sock = getattr(unreader, "sock", None)
    if sock is None:
        return
    if isinstance(sock, _BodyDeadlineSocket):
        sock = sock._sock
    unreader.sock = _BodyDeadlineSocket(sock, req=req, deadline=time.monotonic() + BODY_TIMEOUT)


def post_request(worker, req, environ, resp):
    # A kept-alive connection's next request gets its own deadline.
    unreader = req.unreader
    wrapped = getattr(unreader, "sock", None)
    if not isinstance(wrapped, _BodyDeadlineSocket):
        return
    unreader.sock = wrapped._sock
    if wrapped.expired:
        # Stop reading now: gunicorn's graceful close would otherwise keep reading a client that
        # is still trickling for 2 s, in the worker's main loop.
        with contextlib.suppress(OSError):
            wrapped._sock.shutdown(socket.SHUT_RD)
