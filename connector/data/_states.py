"""The state machines of the data plane, each as ONE table of allowed transitions (as the portal's
``lifecycle.py``). Moves are bulk SQL updates, so each target state's allowed origins are read off the table.

Delivery (the provider's outbox, DESIGN §5.4)::

    pending ──> sent ──> stored
       │         │  └──> pending   the consumer reconnected without confirming it: send again
       └─────────┴─────> expired   not stored by its TTL: counted and reported, never silently dropped
    stored ──> pending             the consumer says it lacks it (it asks from a lower seq)
    expired ─> stored              a late confirmation of what was in flight

History job (one historical transfer, as either side sees it; made running when the range is asked for)::

    running ─> finished ─> reported
       └──────────┴──────> failed ─> running   (asked again)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

S = TypeVar("S", bound=StrEnum)


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    STORED = "stored"
    EXPIRED = "expired"


class HistoryState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    REPORTED = "reported"
    FAILED = "failed"


D = DeliveryState
DELIVERY_TRANSITIONS: Mapping[DeliveryState, frozenset[DeliveryState]] = {
    D.PENDING: frozenset({D.SENT, D.EXPIRED}),
    D.SENT: frozenset({D.STORED, D.PENDING, D.EXPIRED}),
    D.STORED: frozenset({D.PENDING}),
    D.EXPIRED: frozenset({D.STORED}),
}
H = HistoryState
HISTORY_TRANSITIONS: Mapping[HistoryState, frozenset[HistoryState]] = {
    H.RUNNING: frozenset({H.FINISHED, H.FAILED}),
    H.FINISHED: frozenset({H.REPORTED, H.FAILED}),
    H.REPORTED: frozenset(),
    H.FAILED: frozenset({H.RUNNING}),
}


def origins(table: Mapping[S, frozenset[S]], target: S) -> tuple[str, ...]:
    """The states a row may be in to move to ``target``."""
    return tuple(sorted(state.value for state, targets in table.items() if target in targets))


def allowed(table: Mapping[S, frozenset[S]], current: S, target: S) -> bool:
    return target in table.get(current, frozenset())
