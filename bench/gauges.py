"""The machine's facts and noise gauges recorded with every benchmark run (bench/report.py
prints them; bench/noise.py re-runs a part when they are far above normal)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from .infra import REPO_DIR


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(
            command, cwd=REPO_DIR, capture_output=True, text=True, timeout=30, check=False
        ).stdout.rstrip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def fdatasync_latency_us(*, writes: int = 200) -> float:
    """Median time of an 8 KiB write + fdatasync on the repository's disk (PostgreSQL's commit
    path on this one-disk machine); the first thing that grows when neighbours write a lot."""
    import statistics
    import tempfile
    import time

    timings = []
    block = b"\0" * 8192
    with tempfile.NamedTemporaryFile(dir=REPO_DIR / "bench") as handle:
        for _ in range(writes):
            started = time.perf_counter()
            os.write(handle.fileno(), block)
            os.fdatasync(handle.fileno())
            timings.append((time.perf_counter() - started) * 1e6)
    return statistics.median(timings)


def pressure() -> dict[str, float]:
    """Linux PSI: share of the last 60 s in which some task waited for CPU / I/O (noise gauge)."""
    result = {}
    for resource in ("cpu", "io"):
        try:
            line = Path(f"/proc/pressure/{resource}").read_text().splitlines()[0]
        except (OSError, IndexError):
            continue
        fields = dict(item.split("=") for item in line.split()[1:])
        result[resource] = float(fields.get("avg60", 0))
    return result


def noise_gauges() -> dict:
    return {
        "load_average": os.getloadavg(),
        "fdatasync_us": fdatasync_latency_us(),
        "pressure_avg60": pressure(),
    }


def machine_facts() -> dict:
    from django.db import connection

    lscpu = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in _run(["lscpu"]).splitlines())
    )
    postgres = {}
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres["version"] = cursor.fetchone()[0]
        for setting in (
            "shared_buffers",
            "synchronous_commit",
            "fsync",
            "wal_sync_method",
            "max_connections",
        ):
            cursor.execute(f"SHOW {setting}")
            postgres[setting] = cursor.fetchone()[0]
    return {
        "nproc": _run(["nproc"]),
        "cpu_model": lscpu.get("Model name", ""),
        "hypervisor": lscpu.get("Hypervisor vendor", ""),
        "memory": _run(["free", "-m"]),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": postgres,
    }


def git_facts() -> dict:
    changed = [line for line in _run(["git", "status", "--porcelain"]).splitlines() if line]
    return {
        "commit": _run(["git", "rev-parse", "HEAD"]),
        "uncommitted_files": len(changed),
    }
