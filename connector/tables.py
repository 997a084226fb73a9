"""The connector's tables (DESIGN §5.4, §4): its own schema, created by its alembic branch
(``connector/migrations``, branch label ``connector``) that ``aadsys`` runs beside its own when the connector is
installed. Received records are not here: they enter the core's ``instances`` and ``inbox`` through
``aadsys.core.inbox``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from aadsys.core.tables import utcnow


class DeliveryRow(SQLModel, table=True):
    """Provider outbox (DESIGN §5.4): one row per (subscription, instance), numbered by ``seq`` per subscription.

    States and their allowed moves: ``connector.data._states.DELIVERY_TRANSITIONS``.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("subscription_id", "instance_id", name="uq_outbox_subscription_instance"),
        UniqueConstraint("subscription_id", "seq", name="uq_outbox_subscription_seq"),
        Index("ix_outbox_subscription_state_seq", "subscription_id", "state", "seq"),
        Index("ix_outbox_state_expires", "state", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=64)
    seq: int = Field(description="1, 2, 3 … per subscription: the order the consumer stores in")
    instance_id: int = Field(foreign_key="instances.id")
    state: str = Field(default="pending", max_length=16, description="pending | sent | stored | expired")
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    stored_at: datetime | None = None
    expires_at: datetime


class SubscriptionRow(SQLModel, table=True):
    """This AAdSys's own record of a subscription it is a party of, as the portal last showed it.

    The connector keeps it so that it works through a portal outage: the grant to present (consumer) or the
    window to enforce (provider), and the partner's endpoint and public keys. A final state is final here too:
    once this row holds one (from the portal, or revoked here by the provider's operator), nothing the portal shows
    later brings it back (``control._ledger``).
    """

    __tablename__ = "subscriptions"

    id: str = Field(primary_key=True, max_length=64, description="The portal's subscription id")
    role: str = Field(max_length=16, description="provider | consumer")
    asset_id: str = Field(max_length=128)
    asset_type: str = Field(max_length=64)
    mode: str = Field(max_length=16, description="realtime | historical")
    valid_from: datetime
    valid_to: datetime
    state: str = Field(max_length=16, index=True, description="The portal's state of the subscription")
    reason: str | None = Field(default=None, max_length=2000)
    peer_org_id: str = Field(max_length=64)
    peer_name: str = Field(default="", max_length=200)
    peer_endpoint: str | None = Field(default=None, max_length=2000)
    peer_signing_key: str | None = Field(default=None, max_length=64)
    peer_encryption_key: str | None = Field(default=None, max_length=64)
    provider_owner: str | None = Field(default=None, max_length=64, description="The provider's AAS owner slug")
    provider_base_iri: str | None = Field(default=None, max_length=2000)
    grant: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    grant_expires_at: datetime | None = None
    transfer_id: str | None = Field(default=None, max_length=64)
    reported: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False),
                           description="The figures last accepted by the portal")
    revoked_here_at: datetime | None = Field(default=None, description="When this connector's operator revoked it "
                                                                        "(``aadsys connector revoke``)")
    revocation_told_at: datetime | None = Field(default=None, description="When the portal accepted that revocation; "
                                                                           "until then every round tells it again")
    updated_at: datetime = Field(default_factory=utcnow)


class HistoryJobRow(SQLModel, table=True):
    """One historical transfer as one side sees it; moves by ``connector.data._states.HISTORY_TRANSITIONS``."""

    __tablename__ = "history_jobs"

    subscription_id: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16, description="provider | consumer")
    state: str = Field(default="running", max_length=16)
    range_from: datetime
    range_to: datetime
    total: int | None = Field(default=None, description="How many instances the range holds, once known")
    count: int | None = Field(default=None, description="Final figure: instances sent (provider) or stored")
    digest: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NonceRow(SQLModel, table=True):
    """A channel challenge's server nonce while it is open (DESIGN §5.1): only its SHA-256 is kept, bound to one
    subscription, taken once. In the database, so that whichever worker takes the connect takes the nonce that
    another worker issued (a proxy sends the challenge and the connect where it likes, DESIGN §10)."""

    __tablename__ = "channel_nonces"

    nonce_sha256: str = Field(primary_key=True, max_length=64)
    subscription_id: str = Field(max_length=64)
    expires_at: datetime = Field(index=True)


class LinkRow(SQLModel, table=True):
    """A one-time download link (DESIGN §4): only the token's SHA-256 is kept; consumed atomically."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_subscription_seq", "subscription_id", "seq"),)

    token_sha256: str = Field(primary_key=True, max_length=64)
    subscription_id: str = Field(max_length=64)
    seq: int
    consumer_signing_key: str = Field(max_length=64, description="Only this key's holder may download")
    consumer_encryption_key: str = Field(max_length=64, description="What the content is sealed for")
    kind: str = Field(max_length=16, description="payload | file")
    instance_id: int | None = Field(default=None, foreign_key="instances.id")
    file_sha256: str | None = Field(default=None, max_length=64)
    salt: str = Field(max_length=64)
    nonce: str = Field(max_length=32)
    header: str | None = Field(default=None, sa_column=Column(Text, nullable=True),
                               description="The signed header of a payload link (its AEAD associated data)")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    delivered_at: datetime | None = None


class LeaseRow(SQLModel, table=True):
    """Who runs the work of one subject (a subscription's provider flow or consumer reception, or the control
    plane's portal rounds) among the workers of one AAdSys, until when, and under which fencing epoch: every
    state change the holder makes checks its epoch, so a worker that lost the lease while paused writes nothing
    (``connector._leases``)."""

    __tablename__ = "leases"
    __table_args__ = (Index("ix_leases_holder", "holder"),)

    subject: str = Field(primary_key=True, max_length=64, description="a subscription id, or 'control'")
    role: str = Field(primary_key=True, max_length=16, description="provider | consumer | control")
    holder: str | None = Field(default=None, max_length=128, description="the worker that holds it, if any")
    epoch: int = Field(default=0, sa_type=BigInteger, description="raised by one at every take-over")
    expires_at: datetime
    wanted_by: str | None = Field(default=None, max_length=128, description="a worker asking for it")
