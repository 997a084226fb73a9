"""The data plane's two state machines (DESIGN §5.4), each one table of allowed transitions."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from enum import StrEnum

import pytest

from connector.data._states import (
    DELIVERY_TRANSITIONS,
    HISTORY_TRANSITIONS,
    DeliveryState,
    HistoryState,
    allowed,
    origins,
)

D, H = DeliveryState, HistoryState
TABLES = {"delivery": (DeliveryState, DELIVERY_TRANSITIONS), "history": (HistoryState, HISTORY_TRANSITIONS)}


def test_a_delivery_is_stored_from_sent_or_from_expired_by_a_late_confirmation() -> None:
    assert origins(DELIVERY_TRANSITIONS, D.STORED) == ("expired", "sent")


def test_only_deliveries_not_yet_stored_expire() -> None:
    assert origins(DELIVERY_TRANSITIONS, D.EXPIRED) == ("pending", "sent")


def test_a_delivery_goes_pending_again_when_sent_unconfirmed_or_asked_for_again() -> None:
    assert origins(DELIVERY_TRANSITIONS, D.PENDING) == ("sent", "stored")


def test_nothing_leaves_reported() -> None:
    assert HISTORY_TRANSITIONS[H.REPORTED] == frozenset()
    assert not any(allowed(HISTORY_TRANSITIONS, H.REPORTED, target) for target in H)


def test_a_failed_history_job_runs_again_and_a_reported_one_never_fails() -> None:
    assert origins(HISTORY_TRANSITIONS, H.RUNNING) == ("failed",)
    assert origins(HISTORY_TRANSITIONS, H.FAILED) == ("finished", "running")


@pytest.mark.parametrize("name", TABLES)
def test_every_state_is_a_key_of_its_table(name: str) -> None:
    states, table = TABLES[name]

    assert set(table) == set(states)
    assert all(targets <= set(states) for targets in table.values())


def _pairs() -> list[tuple[str, StrEnum, StrEnum]]:
    return [(name, current, target) for name, (states, _) in TABLES.items()
            for current, target in itertools.product(states, repeat=2)]


@pytest.mark.parametrize(("name", "current", "target"), _pairs())
def test_allowed_agrees_with_the_table(name: str, current: StrEnum, target: StrEnum) -> None:
    table: Mapping[StrEnum, frozenset[StrEnum]] = TABLES[name][1]  # type: ignore[assignment]

    assert allowed(table, current, target) is (target in table[current])
    assert (current.value in origins(table, target)) is (target in table[current])
