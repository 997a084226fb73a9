"""The seam between the control plane and the data plane (the role of EDC's ``DataFlowController``).

The control plane (``connector.control``) talks to the portal: tokens, keys, grants, subscriptions,
revocations and reports. The data plane (``connector.data``) moves records: the channel, sealing, delivery
and one-time links. Neither imports the other (an import-linter contract holds it); each sees the other only
through these Protocols and the snapshots below:

- the control plane drives the data plane's flows (``DataFlows``) and answers its questions about a consumer
  presenting a grant (``Admissions``);
- the data plane tells the control plane what it delivered and stored (``ProgressReports``), for the reports
  to the portal.

Implementations do not raise for expected failures: refusals are typed (``GrantRefused``) and carry a
``connector.codes.Code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from connector.codes import Code


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
    """Whether a consumer may have a channel (DESIGN §5.1): every check in one place. Each raises
    ``GrantRefused`` naming the check that failed."""

    async def challenge(self, grant: str) -> str:
        """A fresh single-use nonce for a consumer presenting ``grant`` (checked offline first)."""

    async def admit(self, grant: str, nonce: str, proof: str) -> GrantClaims:
        """The whole handshake: the grant offline (signature, issuer, audience, lifetime, window, what we know
        of the subscription, an asset type we hold), the nonce, the consumer's proof over both, and the portal
        online when it answers (this is how a revocation reaches a provider)."""

    async def refresh(self, grant: str, channel: GrantClaims) -> GrantClaims:
        """A fresh grant for an open channel: checked offline, and for the same subscription and consumer key."""


@dataclass(frozen=True)
class Progress:
    """A real-time subscription's figures as one side reports them: how many (sent or stored), up to which
    seq, and how many deliveries expired unstored."""

    count: int
    last_seq: int
    expired: int


@dataclass(frozen=True)
class TransferResult:
    """A historical transfer finished on one side, with the figures that side reports: count and digest."""

    subscription_id: str
    role: Role
    count: int
    digest: str


class ProgressReports(Protocol):
    """What the data plane delivered and stored, as the control plane reports it to the portal. Blocking
    (database reads): the control plane calls these in a worker thread."""

    def progress_of(self, views: Sequence[SubscriptionView]) -> dict[str, Progress]:
        """Each view's figures, by subscription id."""

    def finished_transfers(self) -> list[TransferResult]:
        """Historical transfers finished here and not yet accepted by the portal."""

    def transfer_reported(self, subscription_id: str) -> None: ...

    def transfer_failed(self, subscription_id: str, reason: str) -> None:
        """The portal refused our figures for good (they disagree with the other side's)."""


class DataFlows(Protocol):
    """What the control plane drives in the data plane."""

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        """Run flows for exactly these subscriptions: start the new ones, update the rest, end the others."""

    async def terminate(self, subscription_id: str, code: Code, reason: str) -> None:
        """End a subscription's channel now (revoked, cancelled, window over); no delivery after it."""
