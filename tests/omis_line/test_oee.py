"""OEE from a hand-made trace with answers worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omis_line.oee import Pass, compute, run_seconds

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def bottle(tag: str, start: float, result_at: dict[str, str] | None = None, step: float = 10) -> list[Pass]:
    """A bottle through all six stations, ``step`` seconds each, from ``start``; ``result_at`` overrides results
    (and the bottle stops at a failed station)."""
    passes = []
    for i, station in enumerate(("loading", "mixing", "filling", "capping", "printing", "packaging")):
        result = (result_at or {}).get(station, "ok")
        passes.append(Pass(tag, station, at(start + i * step), at(start + (i + 1) * step), result))
        if result == "failed":
            break
    return passes


def test_two_good_bottles_and_one_failed_in_a_ten_minute_window() -> None:
    # A: 0..60 s, B: 10..70 s (pipelined), C: 200..240 s, fails at capping (its 4th station).
    passes = bottle("A", 0) + bottle("B", 10) + bottle("C", 200, {"capping": "failed"})

    figures = compute(passes, at(0), at(600), ideal_cycle_seconds=10)

    # run time = union [0, 70] ∪ [200, 240] = 110 s of 600 s
    assert figures["plannedSeconds"] == 600
    assert figures["runSeconds"] == 110
    assert figures["availability"] == round(110 / 600, 4)
    assert figures["performance"] == round(10 * 3 / 110, 4)
    assert (figures["bottlesStarted"], figures["bottlesGood"], figures["bottlesFailed"]) == (3, 2, 1)
    assert figures["quality"] == round(2 / 3, 4)
    assert figures["oee"] == round(110 / 600 * 30 / 110 * 2 / 3, 4)
    assert figures["throughputPerMinute"] == round(2 / 10, 3)


def test_window_clips_run_time_and_counts_only_what_started_or_finished_inside() -> None:
    passes = bottle("A", 0) + bottle("B", 10)

    figures = compute(passes, at(30), at(65), ideal_cycle_seconds=10)

    assert figures["runSeconds"] == 35  # both bottles busy the line from 30 s to 65 s
    assert figures["bottlesStarted"] == 0  # both entered loading before the window
    assert figures["bottlesGood"] == 1  # A left packaging at 60 s; B leaves at 70 s, after the window
    assert figures["performance"] == 0
    assert figures["quality"] == 1


def test_performance_is_capped_at_one_and_an_idle_window_scores_zero_without_defects() -> None:
    busy = compute(bottle("A", 0, step=1) + bottle("B", 1, step=1), at(0), at(7), ideal_cycle_seconds=10)
    idle = compute([], at(0), at(60), ideal_cycle_seconds=10)

    assert busy["performance"] == 1
    assert (idle["availability"], idle["performance"], idle["quality"], idle["oee"]) == (0, 0, 1, 0)


def test_overlapping_passes_count_once_in_run_time() -> None:
    passes = [Pass("A", "loading", at(0), at(10), "ok"), Pass("B", "mixing", at(5), at(20), "ok"),
              Pass("C", "filling", at(30), at(40), "rework")]

    assert run_seconds(passes, at(0), at(100)) == 30
