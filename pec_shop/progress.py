"""Production progress for the order page: each of the six stations as done, current, failed, skipped or waiting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pec_shop.catalogue import STATIONS

FINISHED = {"completed", "shipped"}


@dataclass(frozen=True)
class StationState:
    station: str
    state: str  # done | current | failed | skipped | waiting
    entered: str | None
    left: str | None


def station_states(status: str | None, current_station: str | None, trace: list[dict[str, Any]]) -> list[StationState]:
    last: dict[str, dict[str, Any]] = {}
    for entry in trace:
        if isinstance(entry, dict) and entry.get("station") in STATIONS:
            last[str(entry["station"])] = entry
    states = []
    for station in STATIONS:
        entry = last.get(station, {})
        result = entry.get("result")
        if result == "failed":
            state = "failed"
        elif result == "skipped":
            state = "skipped"
        elif station == current_station and status not in FINISHED:
            state = "failed" if status == "failed" else "current"
        elif entry.get("left") or status in FINISHED:
            state = "done"
        elif entry.get("entered"):
            state = "current"
        else:
            state = "waiting"
        states.append(StationState(station, state, entry.get("entered"), entry.get("left")))
    return states
