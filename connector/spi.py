"""The seam between the control plane and the data plane (the role of EDC's ``DataFlowController``).

The control plane (``connector.control``) talks to the portal: tokens, keys, grants, subscriptions,
revocations and reports. The data plane (``connector.data``) moves records: the channel, sealing, delivery
and one-time links. Each sees the other only through these Protocols and ``SubscriptionView`` snapshots, and
both share the database, where the data plane records what it delivered and the control plane reads what to
report. Implementations do not raise for expected failures: refusals are typed (``GrantRefused``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"


class Mode(StrEnum):
    REALTIME = "realtime"
    HISTORICAL = "historical"


class SubscriptionState(StrEnum):
    """The portal's subscription states (DESIGN §6), as this connector last saw them."""

    REQUESTED = "requested"
    APPROVED = "approved"
    ACTIVE = "active"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    EXPIRED = "expired"
    COMPLETED = "completed"


GRANT_STATES = frozenset({SubscriptionState.APPROVED, SubscriptionState.ACTIVE})
FINAL_STATES = frozenset({SubscriptionState.REJECTED, SubscriptionState.CANCELLED, SubscriptionState.REVOKED,
                          SubscriptionState.EXPIRED, SubscriptionState.COMPLETED})


@dataclass(frozen=True)
class SubscriptionView:
    """One subscription as the data plane needs it; a snapshot of the connector's ``subscriptions`` row."""

    id: str
    role: Role
    mode: Mode
    asset_type: str
    state: SubscriptionState
    valid_from: datetime
    valid_to: datetime
    peer_org_id: str
    peer_endpoint: str | None
    peer_signing_key: str | None
    peer_encryption_key: str | None
    provider_owner: str | None
    provider_base_iri: str | None
    grant: str | None
    grant_expires_at: datetime | None

    def live_at(self, now: datetime) -> bool:
        """Channels may run: the grant holds, and a real-time window has not ended."""
        if self.state not in GRANT_STATES:
            return False
        return self.mode is Mode.HISTORICAL or now < self.valid_to


@dataclass(frozen=True)
class GrantClaims:
    """What a checked grant says (claims of the portal's ``grant+jwt``, DESIGN §4)."""

    subscription_id: str
    provider_org_id: str
    consumer_org_id: str
    asset_id: str
    asset_type: str
    mode: str
    valid_from: datetime
    valid_to: datetime
    consumer_signing_key: str
    consumer_encryption_key: str
    not_before: datetime
    expires_at: datetime


class Admissions(Protocol):
    """What the data plane asks the control plane before it lets a consumer in (DESIGN §5.1)."""

    async def check(self, grant: str) -> GrantClaims:
        """The grant checked offline against the cached JWKS and what we know locally of the subscription
        (revoked, expired); raises ``GrantRefused``."""

    async def confirm(self, claims: GrantClaims, grant: str) -> None:
        """Asked online when the portal answers (revocation); raises ``GrantRefused`` if the portal says no."""


class DataFlows(Protocol):
    """What the control plane drives in the data plane."""

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        """Run flows for exactly these subscriptions: start the new ones, update the rest, end the others."""

    async def terminate(self, subscription_id: str, code: str, reason: str) -> None:
        """End a subscription's channel now (revoked, cancelled, window over); no delivery after it."""
