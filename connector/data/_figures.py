"""A subscription's figures: what the provider's outbox holds by state, and what the consumer's inbox stored.

Plain SQL over ``connector._rows``, so that ``aadsys connector status`` reads them without the ORM, and the
running connector (its status page, its progress reports) reads them the very same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector._rows import Rows
from connector.data._states import DeliveryState

D = DeliveryState
_OUTBOX_BY_STATE = ("SELECT state, COUNT(*), MAX(seq) FROM outbox WHERE subscription_id = :subscription "
                    "GROUP BY state")
_INBOX_SO_FAR = "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM inbox WHERE subscription_id = :subscription"
# Per subscription we provide, two lone maxima: each one lookup in an outbox index (uq_outbox_subscription_seq,
# ix_outbox_subscription_state_seq), whatever the outbox holds.
_PROVIDER_TOPS = ("SELECT s.id, "
                  "COALESCE((SELECT MAX(o.seq) FROM outbox o WHERE o.subscription_id = s.id), 0), "
                  "COALESCE((SELECT MAX(o.seq) FROM outbox o WHERE o.subscription_id = s.id AND o.state = :stored), 0) "
                  "FROM subscriptions s WHERE s.role = 'provider'")


@dataclass(frozen=True, slots=True)
class ProviderFigures:
    made: int
    last_seq_made: int
    pending: int
    sent: int  # out of the door: sent, stored or expired
    last_seq_sent: int
    stored: int
    last_seq_stored: int
    expired: int


@dataclass(frozen=True, slots=True)
class ConsumerFigures:
    stored: int
    last_seq: int


def provider(rows: Rows, subscription_id: str) -> ProviderFigures:
    """What the outbox holds for one subscription, by state."""
    by_state = {str(state): (int(n), int(top or 0))
                for state, n, top in rows.all(_OUTBOX_BY_STATE, {"subscription": subscription_id})}

    def n(*states: DeliveryState) -> int:
        return sum(by_state.get(s.value, (0, 0))[0] for s in states)

    def top(*states: DeliveryState) -> int:
        return max((by_state.get(s.value, (0, 0))[1] for s in states), default=0)

    out = (D.SENT, D.STORED, D.EXPIRED)
    return ProviderFigures(made=n(*D), last_seq_made=top(*D), pending=n(D.PENDING), sent=n(*out),
                           last_seq_sent=top(*out), stored=n(D.STORED), last_seq_stored=top(D.STORED),
                           expired=n(D.EXPIRED))


def provider_tops(rows: Rows) -> dict[str, tuple[int, int]]:
    """(last seq made, last seq stored) of every subscription we provide, in one query (``/metrics`` reads it at
    every scrape)."""
    return {str(sub): (int(made), int(stored)) for sub, made, stored in rows.all(_PROVIDER_TOPS,
                                                                               {"stored": D.STORED.value})}


def consumer(rows: Rows, subscription_id: str) -> ConsumerFigures:
    """What the inbox stored for one subscription: how many, and the highest seq (the resume point)."""
    ((count, top),) = rows.all(_INBOX_SO_FAR, {"subscription": subscription_id})
    return ConsumerFigures(int(count), int(top))
