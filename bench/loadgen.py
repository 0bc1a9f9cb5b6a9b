"""HTTP load generator: N keep-alive connections, closed loop (each sends its next request when
the last was answered) or open loop (requests due at a fixed rate, on the first free connection).

Given several paths, it interleaves them: time is cut into slices (1 s by default) and slice k's
requests go to path k mod the number of paths, over the same connections. An A/B comparison then
shares the connections' split over the server's workers and the host's slow and fast moments,
which separate rounds do not (each draws its own split; the host's other tenants come and go).

Runs as its own process (`python -m bench.loadgen …`) so that it never shares an interpreter with
the server. Bodies are built and signed before the clock starts; the client speaks HTTP/1.1 over
asyncio streams with pre-encoded requests, so it costs tens of microseconds per request and
leaves the two cores to the server. Per-request latency is measured to reading the last byte of
the response, from writing the request (closed loop) or from when it was due (open loop); only
requests started (due) and finished inside the measured window count.

Prints one JSON object (the summary) on its last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from calcom.signatures import SIGNATURE_HEADER

from .bodies import BookingCreatedFactory


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    requests: int
    errors: int
    status_counts: dict[str, int]
    requests_per_s: float
    latency_ms: dict[str, float]
    bodies_prepared: int
    body_bytes: float
    ran_out_of_bodies: bool = False
    error_samples: list[str] = field(default_factory=list)
    rate: float = 0.0  # requests due per second (open loop); 0: closed loop


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def build_requests(*, host: str, port: int, path: str, secret: str, prefix: str, count: int) -> list[bytes]:
    factory = BookingCreatedFactory(secret=secret, run_prefix=prefix)
    requests = []
    for number in range(count):
        signed = factory.make(number)
        head = (
            f"POST {path} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "Content-Type: application/json\r\n"
            "User-Agent: Cal.com webhook (bench)\r\n"
            "X-Cal-Webhook-Version: 2021-10-20\r\n"
            f"{SIGNATURE_HEADER}: {signed.signature}\r\n"
            f"Content-Length: {len(signed.body)}\r\n"
            "\r\n"
        ).encode("ascii")
        requests.append(head + signed.body)
    return requests


class _Shared:
    """The pre-built requests of each path, and which path a moment's slice belongs to."""

    def __init__(self, requests: list[list[bytes]], *, window_start: float, slice_seconds: float):
        self.requests = requests
        self.next_index = [0] * len(requests)
        self.ran_out = [False] * len(requests)
        self.window_start = window_start
        self.slice_seconds = slice_seconds

    def path_at(self, moment: float) -> int:
        """Slices are counted from the measured window's start (the warm-up cycles too)."""
        return int((moment - self.window_start) // self.slice_seconds) % len(self.requests)

    def take(self, path: int) -> bytes | None:
        if self.next_index[path] >= len(self.requests[path]):
            self.ran_out[path] = True
            return None
        request = self.requests[path][self.next_index[path]]
        self.next_index[path] += 1
        return request


def path_seconds(*, duration: float, slice_seconds: float, paths: int) -> list[float]:
    """How much of the measured window each path's slices cover."""
    if paths == 1:
        return [duration]
    covered = [0.0] * paths
    number = 0
    while (begin := number * slice_seconds) < duration:
        covered[number % paths] += min(begin + slice_seconds, duration) - begin
        number += 1
    return covered


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    closes = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            closes = True
    if length:
        await reader.readexactly(length)
    return status, closes


class _Tally:
    """What the measured window saw: latencies in ms, responses by status, error samples."""

    def __init__(self, window: tuple[float, float]):
        self.window = window
        self.latencies: list[float] = []
        self.status_counts: dict[str, int] = {}
        self.error_samples: list[str] = []

    def response(self, *, status: int, started: float, finished: float) -> None:
        if self.window[0] <= started and finished <= self.window[1]:
            self.latencies.append((finished - started) * 1000)
            key = str(status)
            self.status_counts[key] = self.status_counts.get(key, 0) + 1

    def error(self, exc: BaseException) -> None:
        self.status_counts["error"] = self.status_counts.get("error", 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{type(exc).__name__}: {exc}")


_EXCHANGE_ERRORS = (OSError, asyncio.IncompleteReadError, ValueError)


class _Connection:
    """One keep-alive connection, opened on first use and again after the server closed it."""

    def __init__(self, *, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole response; returns the HTTP status."""
        try:
            await self.open()
            self.writer.write(request)
            status, closes = await _read_response(self.reader)
        except _EXCHANGE_ERRORS:
            self.close()
            raise
        if closes:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _send(*, connection: _Connection, request: bytes, tally: _Tally, due: float | None = None) -> None:
    """One request and its tally; latency from `due`, or from its write (not counting the
    connection's opening) when None."""
    try:
        await connection.open()
        started = time.perf_counter() if due is None else due
        status = await connection.exchange(request)
    except _EXCHANGE_ERRORS as exc:
        tally.error(exc)
        return
    tally.response(status=status, started=started, finished=time.perf_counter())


async def _closed_loop(
    *, connection: _Connection, shared: _Shared, tallies: list[_Tally], deadline: float
) -> None:
    """Send the next request (to the path of the moment's slice) as soon as the previous one was
    answered; latency from the write."""
    while (now := time.perf_counter()) < deadline:
        path = shared.path_at(now)
        request = shared.take(path)
        if request is None:
            break
        await _send(connection=connection, request=request, tally=tallies[path])
    connection.close()


async def _schedule(
    *, shared: _Shared, queue: asyncio.Queue, start: float, rate: float, deadline: float, senders: int
) -> None:
    """Hand out request n at `start + n / rate` (to the path of that moment's slice), whether or
    not earlier ones were answered."""
    number = 0
    while (scheduled := start + number / rate) < deadline:
        path = shared.path_at(scheduled)
        request = shared.take(path)
        if request is None:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, path, request))
        number += 1
    for _ in range(senders):
        queue.put_nowait(None)


async def _open_loop(*, connection: _Connection, queue: asyncio.Queue, tallies: list[_Tally]) -> None:
    """Send requests as they fall due; latency from when each was due, so that a request that
    waited for a free connection counts its wait (no coordinated omission)."""
    while (item := await queue.get()) is not None:
        scheduled, path, request = item
        await _send(connection=connection, request=request, tally=tallies[path], due=scheduled)
    connection.close()


async def run_load(
    *,
    host: str,
    port: int,
    paths: Sequence[str],
    secret: str,
    prefix: str,
    concurrency: int,
    duration: float,
    warmup: float,
    bodies: int,
    rate: float = 0.0,
    slice_seconds: float = 1.0,
) -> list[LoadResult]:
    """Closed loop (`rate` 0): `concurrency` connections, each sending its next request when the
    last is answered. Open loop: requests due at `rate` per second, sent on the first free of
    `concurrency` connections. Several `paths` take turns by slices of `slice_seconds` (see the
    module docstring); one result per path, in their order, each over its own slices' time."""
    shared_requests = [
        build_requests(
            host=host, port=port, path=path, secret=secret, prefix=f"{prefix}{number}p", count=bodies
        )
        for number, path in enumerate(paths)
    ]
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    shared = _Shared(shared_requests, window_start=window[0], slice_seconds=slice_seconds)
    tallies = [_Tally(window) for _ in paths]
    connections = [_Connection(host=host, port=port) for _ in range(concurrency)]
    if rate:
        queue: asyncio.Queue = asyncio.Queue()
        await asyncio.gather(
            _schedule(
                shared=shared, queue=queue, start=start, rate=rate, deadline=window[1], senders=concurrency
            ),
            *(_open_loop(connection=c, queue=queue, tallies=tallies) for c in connections),
        )
    else:
        await asyncio.gather(
            *(
                _closed_loop(connection=c, shared=shared, tallies=tallies, deadline=window[1])
                for c in connections
            )
        )
    seconds = path_seconds(duration=duration, slice_seconds=slice_seconds, paths=len(paths))
    return [
        _result(
            tally=tallies[number],
            seconds=seconds[number],
            requests=shared_requests[number],
            ran_out=shared.ran_out[number],
            concurrency=concurrency,
            rate=rate,
        )
        for number in range(len(paths))
    ]


def _result(
    *, tally: _Tally, seconds: float, requests: list[bytes], ran_out: bool, concurrency: int, rate: float
) -> LoadResult:
    latencies = sorted(tally.latencies)
    ok = sum(count for status, count in tally.status_counts.items() if status.startswith("2"))
    errors = sum(count for status, count in tally.status_counts.items() if not status.startswith("2"))
    return LoadResult(
        concurrency=concurrency,
        duration_s=seconds,
        requests=ok,
        errors=errors,
        status_counts=tally.status_counts,
        requests_per_s=ok / seconds,
        latency_ms={
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else 0.0,
        },
        bodies_prepared=len(requests),
        body_bytes=statistics.mean(len(r.partition(b"\r\n\r\n")[2]) for r in requests[:1000]),
        ran_out_of_bodies=ran_out,
        error_samples=tally.error_samples,
        rate=rate,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--path",
        action="append",
        help="path to load; given several times, the paths take turns by slices (default: the webhook)",
    )
    parser.add_argument("--slice", type=float, default=1.0, help="seconds per slice when several paths")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--prefix", required=True, help="makes this run's booking uids unique")
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: requests due per second, latency counted from when each was due "
        "(default 0: closed loop, each connection sends when its last request was answered)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument(
        "--bodies",
        type=int,
        default=0,
        help="bodies to pre-build per path (default: enough for 2,500 requests/s)",
    )
    args = parser.parse_args(argv)
    paths = args.path or ["/api/webhooks/cal-com"]
    # Each path runs in its own slices only: its share of the window, the warm-up and one slice.
    busy_seconds = args.duration / len(paths) + args.warmup + (args.slice if len(paths) > 1 else 0)
    bodies = args.bodies or int(2500 * busy_seconds) + 1000
    results = asyncio.run(
        run_load(
            host=args.host,
            port=args.port,
            paths=paths,
            secret=args.secret,
            prefix=args.prefix,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
            bodies=bodies,
            rate=args.rate,
            slice_seconds=args.slice,
        )
    )
    sys.stdout.write(json.dumps([asdict(result) for result in results]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
