"""Turn benchmark results into the console table, one JSON line and BENCHMARKS.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .methods import method_section
from .replay import replay_rows, replay_summary

NOTES_PATH = Path(__file__).resolve().parent / "notes.md"
INGEST_MIN_RATIO = 0.85
INGEST_MAX_P99_MS = 20.0
PROCESSING_MIN_EVENTS_PER_S = 300.0
DRAIN_MIN_RATIO_TO_BARE = 0.20  # 2-worker drain against bare UPDATEs of the same run
PACED_MAX_P50_MS = 31.0
PACED_MIN_FEED_SHARE = 0.95  # of the offered rate, below which the paced run was saturated
REPLAY_MIN_RATIO = 3.0  # a force job against replaying one transaction each
ADMIN_MAX_MS = 300.0
STORAGE_MAX_RATIO = 1.0
PRUNE_MAX_BATCH_MS = 1000.0


def targets(results: dict) -> dict[str, dict]:
    verdicts: dict[str, dict] = {}
    ingest = results.get("ingest")
    if ingest:
        pairs = ingest.get("pair_ratios") or [ingest["throughput_ratio"]]
        p99s = ingest.get("target_p99s_ms") or [ingest["target"]["p99_ms"]]
        ratio_ok = min(pairs) >= INGEST_MIN_RATIO
        p99_ok = max(p99s) < INGEST_MAX_P99_MS
        verdicts["ingest"] = {
            "target": (
                f">= {INGEST_MIN_RATIO:.0%} of baseline throughput and p99 < {INGEST_MAX_P99_MS:.0f} ms "
                "in every baseline/target pair"
            ),
            "met": ratio_ok and p99_ok and ingest["acknowledged_without_processing"],
        }
        # The p99 bound is absolute, and a closed loop's latency follows the machine's speed
        # (Little's law): where the bare-insert baseline misses it too, the verdict says so.
        slow_baselines = [p99 for p99 in ingest.get("baseline_p99s_ms", []) if p99 >= INGEST_MAX_P99_MS]
        if not p99_ok and slow_baselines:
            verdicts["ingest"]["note"] = (
                f"the p99 bound is out of this machine's reach: the bare-insert baseline's own p99 was "
                f"{', '.join(f'{p99:.1f}' for p99 in ingest['baseline_p99s_ms'])} ms in the pairs"
            )
    processing = results.get("processing")
    if processing:
        two = [d for d in processing["drains"] if d["workers"] == 2]
        verdicts["processing"] = {
            "target": f">= {PROCESSING_MIN_EVENTS_PER_S:.0f} events/s with 2 workers",
            "met": bool(two) and two[0]["events_per_s"] >= PROCESSING_MIN_EVENTS_PER_S,
        }
        verdicts["drain ratio"] = {
            "target": f">= {DRAIN_MIN_RATIO_TO_BARE:.2f} of bare updates with 2 workers",
            "met": bool(two) and two[0]["ratio_to_baseline"] >= DRAIN_MIN_RATIO_TO_BARE,
        }
        paced = processing.get("paced")
        if paced:
            verdicts["paced latency"] = {
                "target": f"paced p50 enqueue->processed <= {PACED_MAX_P50_MS:.0f} ms",
                "met": paced["latency_ms"]["p50"] <= PACED_MAX_P50_MS,
            }
            # Feeders that fell behind the offered rate mean a saturated machine: the latency
            # is then its queue, and the verdict says so.
            fed, offered = paced.get("achieved_feed_rate", 0.0), paced.get("offered_rate", 0.0)
            if offered and fed < PACED_MIN_FEED_SHARE * offered:
                verdicts["paced latency"]["note"] = (
                    f"the feeders reached {fed:.0f} of the {offered:.0f} events/s offered: the machine "
                    "was saturated, so the latency includes its queue"
                )
    replay = results.get("replay")
    if replay:
        verdicts["replay"] = {
            "target": f">= {REPLAY_MIN_RATIO:.0f}x one transaction each",
            "met": replay["ratio_to_baseline"] >= REPLAY_MIN_RATIO,
        }
    admin = results.get("admin")
    if admin:
        verdicts["admin"] = {
            "target": f"every console page < {ADMIN_MAX_MS:.0f} ms at 1,000,000 events",
            "met": admin["seeded"]["events"] >= 1_000_000
            and all(p["console"]["median_ms"] < ADMIN_MAX_MS for p in admin["pages"]),
        }
    storage = results.get("storage")
    if storage:
        verdicts["storage"] = {
            "target": f"a stored event (heap + TOAST + indexes) <= {STORAGE_MAX_RATIO:.1f}x its raw body",
            "met": storage["events"] > 0 and storage["ratio_to_body"] <= STORAGE_MAX_RATIO,
        }
    pruning = results.get("pruning")
    if pruning:
        verdicts["pruning"] = {
            "target": f"no prune batch (transaction, hence lock) longer than {PRUNE_MAX_BATCH_MS / 1000:.0f} s",
            "met": pruning["batches"] > 0 and pruning["longest_batch_ms"] < PRUNE_MAX_BATCH_MS,
        }
    if results.get("scale"):
        from .scale import scale_verdict

        verdicts["scale"] = scale_verdict(results["scale"])
    for part, verdict in verdicts.items():
        # A verdict from a noisy run is printed, but flagged as not conclusive.
        source = "processing" if part in ("drain ratio", "paced latency") else part
        verdict["noisy"] = bool(noise_note(results.get(source)))
    return verdicts


def noise_note(part: dict | None) -> str:
    """The warning printed next to a part's figures ('' for a quiet part; bench/noise.py)."""
    noise = (part or {}).get("noise") or {}
    if not noise.get("noisy"):
        return ""
    return "NOISY: " + "; ".join(noise["reasons"])


def _ratio(part: dict, text: str) -> str:
    """A ratio cell; on a noisy part the ratio is bracketed and the reason follows it."""
    note = noise_note(part)
    return f"({text}) {note}" if note else text


def table_rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    """(part, measure, ours, baseline, ratio) rows."""
    rows = []
    ingest = results.get("ingest")
    if ingest:
        target, base = ingest["target"], ingest["baseline"]
        rows += [
            (
                "ingest",
                "requests/s (median)",
                f"{target['requests_per_s']:.0f}",
                f"{base['requests_per_s']:.0f}",
                _ratio(ingest, f"{ingest['throughput_ratio']:.2f}"),
            ),
            (
                "ingest",
                "latency p50 ms",
                f"{target['p50_ms']:.1f}",
                f"{base['p50_ms']:.1f}",
                _ratio(ingest, f"{target['p50_ms'] / base['p50_ms']:.2f}") if base["p50_ms"] else "-",
            ),
            (
                "ingest",
                "latency p95 ms",
                f"{target['p95_ms']:.1f}",
                f"{base['p95_ms']:.1f}",
                _ratio(ingest, f"{target['p95_ms'] / base['p95_ms']:.2f}") if base["p95_ms"] else "-",
            ),
            (
                "ingest",
                "latency p99 ms",
                f"{target['p99_ms']:.1f}",
                f"{base['p99_ms']:.1f}",
                _ratio(ingest, f"{target['p99_ms'] / base['p99_ms']:.2f}") if base["p99_ms"] else "-",
            ),
        ]
        if ingest.get("pair_ratios"):
            rows.append(
                (
                    "ingest",
                    "each pair: requests/s ratio; p99 ms",
                    ", ".join(f"{p99:.1f}" for p99 in ingest["target_p99s_ms"]),
                    ", ".join(f"{p99:.1f}" for p99 in ingest.get("baseline_p99s_ms", [])) or "-",
                    _ratio(ingest, ", ".join(f"{ratio:.2f}" for ratio in ingest["pair_ratios"])),
                )
            )
        open_loop = ingest.get("open_loop")
        if open_loop:
            target, base = open_loop["target"], open_loop["baseline"]
            for name in ("p50", "p99"):
                mine, theirs = target[f"{name}_ms"], base[f"{name}_ms"]
                rows.append(
                    (
                        "ingest",
                        f"open loop, {open_loop['rate_per_s']:.0f} requests/s due: latency {name} ms",
                        f"{mine:.1f}",
                        f"{theirs:.1f}",
                        _ratio(ingest, f"{mine / theirs:.2f}") if theirs else "-",
                    )
                )
    processing = results.get("processing")
    if processing:
        for drain in processing["drains"]:
            rows.append(
                (
                    "processing",
                    f"events/s, {drain['workers']} db_worker(s)",
                    f"{drain['events_per_s']:.0f}",
                    f"{drain['baseline']['updates_per_s']:.0f}",
                    _ratio(processing, f"{drain['ratio_to_baseline']:.2f}"),
                )
            )
            rows.append(
                (
                    "processing",
                    f"events processed in the drain, {drain['workers']} worker(s)",
                    f"{drain['processed_events']:,} of {drain['events']:,}"
                    + ("" if drain["drained_fully"] else " (time cap)"),
                    f"{drain['baseline']['updates']:,}",
                    "-",
                )
            )
        paced = processing.get("paced")
        if paced:
            rows.append(
                (
                    "processing",
                    f"paced {paced['offered_rate']:.0f}/s p50 enqueue->processed ms",
                    f"{paced['latency_ms']['p50']:.0f}",
                    "-",
                    noise_note(processing) or "-",
                )
            )
            rows.append(
                (
                    "processing",
                    f"paced {paced['offered_rate']:.0f}/s p95 enqueue->processed ms",
                    f"{paced['latency_ms']['p95']:.0f}",
                    "-",
                    noise_note(processing) or "-",
                )
            )
    replay = results.get("replay")
    if replay:
        rows += replay_rows(replay=replay, ratio=_ratio(replay, f"{replay['ratio_to_baseline']:.2f}"))
    admin = results.get("admin")
    if admin:
        for page in admin["pages"]:
            rows.append(
                (
                    "admin",
                    f"{page['page']} median ms",
                    f"{page['console']['median_ms']:.0f}",
                    f"{page['stock']['median_ms']:.0f}",
                    _ratio(admin, f"{page['speedup']:.1f}x faster"),
                )
            )
    storage = results.get("storage")
    if storage:
        per_event = storage["per_event"]
        rows += [
            (
                "storage",
                f"bytes per event on disk (heap+TOAST+indexes), {storage['events']:,} events",
                f"{per_event['total']:,.0f}",
                f"{per_event['body']:,.0f} (raw body)",
                f"{storage['ratio_to_body']:.2f}",
            ),
            (
                "storage",
                "bytes per event: heap / TOAST / indexes",
                f"{per_event['heap']:,.0f} / {per_event['toast']:,.0f} / {per_event['indexes']:,.0f}",
                "-",
                "-",
            ),
        ]
    pruning = results.get("pruning")
    if pruning:
        rows.append(
            (
                "pruning",
                f"prune_webhook_events: {pruning['deleted']:,} events in {pruning['batches']} batches, events/s",
                f"{pruning['events_per_s']:.0f}",
                "-",
                "-",
            )
        )
        rows.append(
            ("pruning", "longest batch (transaction) ms", f"{pruning['longest_batch_ms']:.0f}", "-", "-")
        )
    memory = results.get("memory", {})
    if memory.get("web_worker_peak_rss_mib"):
        rows.append(
            ("memory", "gunicorn worker peak RSS MiB", _mib_list(memory["web_worker_peak_rss_mib"]), "-", "-")
        )
    if memory.get("db_worker_peak_rss_mib"):
        rows.append(
            ("memory", "db_worker peak RSS MiB", _mib_list(memory["db_worker_peak_rss_mib"]), "-", "-")
        )
    if results.get("scale"):
        from .scale import scale_rows

        rows += scale_rows(results["scale"])
    return rows


def _mib_list(values: list[float]) -> str:
    return ", ".join(f"{value:.0f}" for value in values)


def memory_summary(results: dict) -> dict:
    web = list(results.get("ingest", {}).get("web_worker_peak_rss_kib", {}).values())
    workers: list[int] = []
    processing = results.get("processing")
    if processing:
        for drain in processing["drains"]:
            workers.extend(drain["worker_peak_rss_kib"].values())
        if processing.get("paced"):
            workers.extend(processing["paced"]["worker_peak_rss_kib"].values())
    return {
        "web_worker_peak_rss_mib": [kib / 1024 for kib in web],
        "db_worker_peak_rss_mib": [max(workers) / 1024] if workers else [],
    }


def format_table(rows: list[tuple[str, ...]]) -> str:
    header = ("part", "measure", "VANI", "baseline", "ratio")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    ]
    return "\n".join(lines)


def json_line(results: dict) -> str:
    """One line with the headline figures (the full results are in bench/results/latest.json)."""
    summary: dict = {"commit": results["git"]["commit"][:12], "date": results["date"]}
    ingest = results.get("ingest")
    if ingest:
        summary["ingest"] = {
            "rps": round(ingest["target"]["requests_per_s"], 1),
            "baseline_rps": round(ingest["baseline"]["requests_per_s"], 1),
            "ratio": round(ingest["throughput_ratio"], 3),
            "p50_ms": round(ingest["target"]["p50_ms"], 2),
            "p95_ms": round(ingest["target"]["p95_ms"], 2),
            "p99_ms": round(ingest["target"]["p99_ms"], 2),
            "ack_without_processing": ingest["acknowledged_without_processing"],
            **(
                {
                    "open_loop_rate": ingest["open_loop"]["rate_per_s"],
                    "open_loop_p50_ms": round(ingest["open_loop"]["target"]["p50_ms"], 2),
                    "open_loop_p99_ms": round(ingest["open_loop"]["target"]["p99_ms"], 2),
                    "open_loop_baseline_p99_ms": round(ingest["open_loop"]["baseline"]["p99_ms"], 2),
                }
                if ingest.get("open_loop")
                else {}
            ),
        }
    processing = results.get("processing")
    if processing:
        summary["processing"] = {
            f"{d['workers']}w": {
                "events_per_s": round(d["events_per_s"], 1),
                "baseline_updates_per_s": round(d["baseline"]["updates_per_s"], 1),
                "ratio": round(d["ratio_to_baseline"], 3),
                "backlog_p50_ms": round(d["backlog_latency_ms"]["p50"], 1),
            }
            for d in processing["drains"]
        }
        if processing.get("paced"):
            summary["processing"]["paced_p50_ms"] = round(processing["paced"]["latency_ms"]["p50"], 1)
    replay = results.get("replay")
    if replay:
        summary["replay"] = replay_summary(replay=replay)
    admin = results.get("admin")
    if admin:
        summary["admin"] = {
            "events": admin["seeded"]["events"],
            **{
                p["page"]: {
                    "ms": round(p["console"]["median_ms"], 1),
                    "stock_ms": round(p["stock"]["median_ms"], 1),
                }
                for p in admin["pages"]
            },
        }
    storage = results.get("storage")
    if storage:
        summary["storage"] = {
            "bytes_per_event": round(storage["per_event"]["total"]),
            "body_bytes_per_event": round(storage["per_event"]["body"]),
            "ratio": round(storage["ratio_to_body"], 3),
        }
    if results.get("pruning"):
        summary["pruning"] = {
            "events_per_s": round(results["pruning"]["events_per_s"], 1),
            "longest_batch_ms": round(results["pruning"]["longest_batch_ms"], 1),
        }
    summary["memory"] = {k: [round(v, 1) for v in vals] for k, vals in results.get("memory", {}).items()}
    summary["noise"] = {
        moment: {
            "load1": round(results[key]["load_average"][0], 2),
            "fdatasync_us": round(results[key]["fdatasync_us"]),
        }
        for moment, key in (("start", "noise_start"), ("end", "noise_end"))
        if key in results
    }
    summary["noisy_parts"] = [
        part for part in ("ingest", "processing", "replay", "admin") if noise_note(results.get(part))
    ]
    if results.get("scale"):
        from .scale import scale_json

        summary["scale"] = scale_json(results["scale"])
    summary["targets_met"] = {part: verdict["met"] for part, verdict in results.get("targets", {}).items()}
    return json.dumps(summary, separators=(",", ":"))


def markdown(results: dict) -> str:
    machine, git = results["machine"], results["git"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` on {results['date']} at commit `{git['commit'][:12]}`"
        + (f" (plus {git['uncommitted_files']} uncommitted files)" if git["uncommitted_files"] else "")
        + f", in {results['seconds'] / 60:.1f} minutes.",
        "Figures are medians; every figure has its baseline measured in the same run on the same stack.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['nproc']} cores, {machine['cpu_model']} ({machine['hypervisor'] or 'bare metal'} guest)",
        f"- Noise (the machine is shared: compare ratios, not absolute numbers): {_noise(results['noise_start'])} "
        f"at start; {_noise(results['noise_end'])} at end",
        f"- Kernel {machine['kernel']}, Python {machine['python']}, PostgreSQL {machine['postgres']['version']} "
        f"(shared_buffers {machine['postgres']['shared_buffers']}, synchronous_commit "
        f"{machine['postgres']['synchronous_commit']}, fsync {machine['postgres']['fsync']}, "
        f"wal_sync_method {machine['postgres']['wal_sync_method']})",
        "- `free -m`:",
        "",
        "```",
        machine["memory"],
        "```",
        "",
        "## Results",
        "",
        "| part | measure | VANI | baseline | ratio |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in table_rows(results)),
        "",
    ]
    verdicts = results.get("targets", {})
    if verdicts:
        lines += ["## Targets", "", "| part | target | met |", "|---|---|---|"]
        lines += markdown_targets(verdicts)
        lines.append("")
    lines += method_section(results)
    if NOTES_PATH.exists():
        lines += ["", NOTES_PATH.read_text(encoding="utf-8").rstrip(), ""]
    lines += [
        "## Reproduce",
        "",
        "```",
        "make bench            # PostgreSQL at 127.0.0.1:5432 (started if needed), database vani_bench",
        "BENCH_ADMIN_EVENTS=100000 BENCH_INGEST_SECONDS=5 BENCH_DRAIN_SECONDS=30 make bench   # quick",
        "```",
        "",
        "Full results of the last run: `bench/results/latest.json`; server and worker logs in `bench/results/`.",
        "",
    ]
    return "\n".join(lines)


def verdict_remarks(verdict: dict) -> str:
    """What follows a verdict's met/missed, on the console and in BENCHMARKS.md alike."""
    return (" (noisy run: not conclusive)" if verdict.get("noisy") else "") + (
        f" ({verdict['note']})" if verdict.get("note") else ""
    )


def markdown_targets(verdicts: dict[str, dict]) -> list[str]:
    """One table row per target: met or not, flagged when noisy, with the verdict's note."""
    return [
        f"| {part} | {v['target']} | {'yes' if v['met'] else '**no**'}{verdict_remarks(v)} |"
        for part, v in verdicts.items()
    ]


def _noise(gauges: dict) -> str:
    load = " / ".join(f"{value:.2f}" for value in gauges["load_average"])
    psi = ", ".join(f"{name} {value:.0f} %" for name, value in gauges["pressure_avg60"].items())
    return f"load average {load}, 8 KiB write+fdatasync {gauges['fdatasync_us']:.0f} µs" + (
        f", PSI some avg60 {psi}" if psi else ""
    )


def write_outputs(*, results: dict, report_path: Path, results_dir: Path) -> str:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    report_path.write_text(markdown(results), encoding="utf-8")
    return format_table(table_rows(results))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
