"""Closed-loop HTTP load generator: N keep-alive connections, each sending one request at a time.

Runs as its own process (`python -m bench.loadgen …`) so that it never shares an interpreter with
the server. Bodies are built and signed before the clock starts; the client speaks HTTP/1.1 over
asyncio streams with pre-encoded requests, so it costs tens of microseconds per request and
leaves the two cores to the server. Per-request latency is measured from writing the request to
reading the last byte of the response; only requests started and finished inside the measured
window count.

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
    def __init__(self, requests: list[bytes]):
        self.requests = requests
        self.next_index = 0
        self.ran_out = False

    def take(self) -> bytes | None:
        if self.next_index >= len(self.requests):
            self.ran_out = True
            return None
        request = self.requests[self.next_index]
        self.next_index += 1
        return request


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


async def _connection_loop(
    *,
    host: str,
    port: int,
    shared: _Shared,
    window: tuple[float, float],
    latencies: list[float],
    status_counts: dict[str, int],
    error_samples: list[str],
    deadline: float,
) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        request = shared.take()
        if request is None:
            break
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            writer.write(request)
            status, closes = await _read_response(reader)
            finished = time.perf_counter()
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status_counts["error"] = status_counts.get("error", 0) + 1
            if len(error_samples) < 5:
                error_samples.append(f"{type(exc).__name__}: {exc}")
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        if window[0] <= started and finished <= window[1]:
            latencies.append((finished - started) * 1000)
            key = str(status)
            status_counts[key] = status_counts.get(key, 0) + 1
        if closes:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_load(
    *,
    host: str,
    port: int,
    path: str,
    secret: str,
    prefix: str,
    concurrency: int,
    duration: float,
    warmup: float,
    bodies: int,
) -> LoadResult:
    shared = _Shared(
        build_requests(host=host, port=port, path=path, secret=secret, prefix=prefix, count=bodies)
    )
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    latencies: list[float] = []
    status_counts: dict[str, int] = {}
    error_samples: list[str] = []
    await asyncio.gather(
        *(
            _connection_loop(
                host=host,
                port=port,
                shared=shared,
                window=window,
                latencies=latencies,
                status_counts=status_counts,
                error_samples=error_samples,
                deadline=window[1],
            )
            for _ in range(concurrency)
        )
    )
    latencies.sort()
    ok = sum(count for status, count in status_counts.items() if status.startswith("2"))
    errors = sum(count for status, count in status_counts.items() if not status.startswith("2"))
    return LoadResult(
        concurrency=concurrency,
        duration_s=duration,
        requests=ok,
        errors=errors,
        status_counts=status_counts,
        requests_per_s=ok / duration,
        latency_ms={
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else 0.0,
        },
        bodies_prepared=len(shared.requests),
        body_bytes=statistics.mean(len(r.partition(b"\r\n\r\n")[2]) for r in shared.requests[:1000]),
        ran_out_of_bodies=shared.ran_out,
        error_samples=error_samples,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/api/webhooks/cal-com")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--prefix", required=True, help="makes this run's booking uids unique")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument(
        "--bodies",
        type=int,
        default=0,
        help="bodies to pre-build (default: enough for 2,500 requests/s)",
    )
    args = parser.parse_args(argv)
    bodies = args.bodies or int(2500 * (args.duration + args.warmup)) + 1000
    result = asyncio.run(
        run_load(
            host=args.host,
            port=args.port,
            path=args.path,
            secret=args.secret,
            prefix=args.prefix,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
            bodies=bodies,
        )
    )
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
