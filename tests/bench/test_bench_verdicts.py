"""Verdicts with absolute bounds: the ingest ratio and p99 hold in every pair, and where the
bare-insert baseline misses the bound too, or the paced run's feeders fall behind, the verdict
says the machine is the limit."""

from __future__ import annotations

from bench import report
from bench.ingest import IngestConfig, summarise


def _load(*, requests_per_s: float, p99_ms: float) -> dict:
    return {
        "requests_per_s": requests_per_s,
        "latency_ms": {"p50": p99_ms / 3, "p95": p99_ms / 1.3, "p99": p99_ms, "max": p99_ms * 2},
        "errors": 0,
        "ran_out_of_bodies": False,
    }


def _ingest(pairs: list[tuple[tuple[float, float], tuple[float, float]]]) -> dict:
    """Pairs of ((baseline requests/s, p99 ms), (target requests/s, p99 ms))."""
    rounds = []
    for (base_rate, base_p99), (target_rate, target_p99) in pairs:
        rounds.append({"kind": "baseline", "load": _load(requests_per_s=base_rate, p99_ms=base_p99)})
        rounds.append(
            {
                "kind": "target",
                "load": _load(requests_per_s=target_rate, p99_ms=target_p99),
                "verification": {"ok": True},
            }
        )
    return summarise(rounds=rounds, config=IngestConfig(), web_peak_rss_kib={})


def test_every_pair_must_hold_both_bounds():
    ingest = _ingest([((1000, 17.0), (880, 19.0)), ((1000, 17.5), (870, 19.5)), ((990, 18.0), (880, 19.9))])
    assert ingest["baseline_p99s_ms"] == [17.0, 17.5, 18.0]
    verdict = report.targets({"ingest": ingest})["ingest"]
    assert verdict["met"] is True and "note" not in verdict

    one_slow_pair = _ingest(
        [((1000, 17.0), (880, 19.0)), ((1000, 17.5), (870, 22.6)), ((990, 18.0), (880, 19.9))]
    )
    verdict = report.targets({"ingest": one_slow_pair})["ingest"]
    assert verdict["met"] is False
    assert "note" not in verdict  # the baseline stayed under the bound: the endpoint missed it


def test_a_baseline_over_the_p99_bound_is_named_as_the_limit():
    ingest = _ingest([((566, 33.5), (486, 39.7)), ((570, 36.8), (495, 43.1)), ((560, 18.0), (480, 25.5))])
    verdict = report.targets({"ingest": ingest})["ingest"]
    assert verdict["met"] is False  # never claimed, only explained
    assert verdict["note"].startswith("the p99 bound is out of this machine's reach")
    assert "33.5, 36.8, 18.0 ms" in verdict["note"]
    markdown_rows = report.markdown_targets(report.targets({"ingest": ingest}))
    assert any("**no**" in line and "out of this machine's reach" in line for line in markdown_rows)
    pair_row = next(row for row in report.table_rows({"ingest": ingest}) if row[1].startswith("each pair"))
    assert pair_row[2] == "39.7, 43.1, 25.5" and pair_row[3] == "33.5, 36.8, 18.0"


def test_a_paced_run_whose_feeders_fell_behind_says_the_machine_was_saturated():
    def processing(fed: float) -> dict:
        paced = {"offered_rate": 200.0, "achieved_feed_rate": fed, "latency_ms": {"p50": 83.2}}
        return {"drains": [{"workers": 2, "events_per_s": 597.0, "ratio_to_baseline": 0.27}], "paced": paced}

    saturated = report.targets({"processing": processing(164.9)})["paced latency"]
    assert saturated["met"] is False
    assert saturated["note"].startswith("the feeders reached 165 of the 200 events/s offered")
    kept_up = report.targets({"processing": processing(199.0)})["paced latency"]
    assert kept_up["met"] is False and "note" not in kept_up
