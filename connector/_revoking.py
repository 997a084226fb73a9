"""The provider's own revocation (``aadsys connector revoke``): here first, then at the portal until it accepts.

1. Here, in one transaction (SQL Core, so that the command answers fast; the ORM stays unimported): the ledger
   row becomes ``revoked`` with ``revoked_here_at``, if we are its provider and it is approved or active. From
   that commit on, the outbox hands out nothing more for it (``Outbox.claim``), the consumer's reconnect is
   refused (the admission reads the ledger), and every worker of the running AAdSys ends the channel: on
   PostgreSQL at once (``NOTIFY`` on ``ENDED``), on SQLite within its housekeeping second
   (``ControlPlane.end_ended``). ``flow_ended`` tells when that has happened.
2. Then the portal, as the provider's connector: ``POST /api/v1/subscriptions/{id}/revoke`` (``tell_portal``), the
   same state machine, audit entry and revocation feed item as a revocation in the portal's web UI. Until it
   accepts, the control plane tells it again every round (``revocation_told_at`` stays empty).

A later view of the portal that still shows the subscription active changes nothing here: a final state is final
(``control._ledger``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError, PortalRefused

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from connector.control._portal import PortalClient

ENDED = "aadsys_connector_ended"  # NOTIFY channel: "<worker>|<subscription id>", a subscription ended here
REVOCABLE = ("approved", "active")
REVOKED = "revoked"

_REVOKE = """UPDATE subscriptions SET state = 'revoked', reason = :reason, revoked_here_at = :now,
             revocation_told_at = NULL, updated_at = :now
             WHERE id = :id AND role = 'provider' AND state IN ('approved', 'active')"""
_ROW = """SELECT role, state, reason, revoked_here_at, revocation_told_at, peer_name, peer_org_id
          FROM subscriptions WHERE id = :id"""
_LEASE = "SELECT holder, expires_at FROM leases WHERE subject = :id AND role = 'provider'"


class RevocationRefused(ConnectorError):
    """This connector may not revoke the subscription (unknown here, ours as consumer, or not approved or active);
    ``status`` is the CLI's exit code: 1 refused, 2 nothing to revoke by that id."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LocalRevocation:
    """What ``revoke_here`` did: ``already`` when the subscription was revoked here before (then only the portal
    may still need telling), and whether the portal accepted it then."""

    subscription_id: str
    peer: str
    reason: str | None
    revoked_at: datetime | None
    already: bool
    told: bool


def revoke_here(engine: Engine, subscription_id: str, reason: str | None, now: datetime) -> LocalRevocation:
    """Step 1: the ledger row revoked in one transaction, and the running workers told (PostgreSQL). Refusals name
    the cause (``RevocationRefused``)."""
    from sqlalchemy import DateTime, bindparam, text

    revoke = text(_REVOKE).bindparams(bindparam("now", type_=DateTime(timezone=True)))
    with engine.begin() as connection:
        done = connection.execute(revoke, {"id": subscription_id, "reason": reason, "now": now}).rowcount
        row = connection.execute(text(_ROW), {"id": subscription_id}).mappings().first()
        if done and engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": ENDED, "payload": f"cli|{subscription_id}"})
    if row is None:
        raise RevocationRefused(f"this connector knows no subscription {subscription_id}; `aadsys connector "
                                "subscriptions` lists yours (a new one is known here after the connector's next "
                                "portal round)", 2)
    peer = str(row["peer_name"] or row["peer_org_id"])
    if row["role"] != "provider":
        raise RevocationRefused(f"subscription {subscription_id} is {peer}'s: this connector is its consumer, and only "
                                "the provider revokes; to end it as consumer, cancel it at the portal")
    if done:
        return LocalRevocation(subscription_id, peer, reason, now, already=False, told=False)
    if row["state"] == REVOKED and row["revoked_here_at"] is not None:
        return LocalRevocation(subscription_id, peer, row["reason"], _moment(row["revoked_here_at"]), already=True,
                               told=row["revocation_told_at"] is not None)
    if row["state"] == REVOKED:
        raise RevocationRefused(f"subscription {subscription_id} is revoked already (at the portal"
                                f"{': ' + row['reason'] if row['reason'] else ''})")
    if row["state"] == "requested":
        raise RevocationRefused(f"subscription {subscription_id} is only requested: nothing runs to revoke; reject "
                                "the request at the portal instead")
    raise RevocationRefused(f"subscription {subscription_id} is {row['state']} already: only an approved or active "
                            "subscription can be revoked")


def told(engine: Engine, subscription_id: str, now: datetime) -> None:
    """The portal accepted our revocation: nothing more to tell it."""
    from sqlalchemy import DateTime, bindparam, text

    mark = text("UPDATE subscriptions SET revocation_told_at = :now WHERE id = :id AND revocation_told_at IS NULL"
                ).bindparams(bindparam("now", type_=DateTime(timezone=True)))
    with engine.begin() as connection:
        connection.execute(mark, {"id": subscription_id, "now": now})


def flow_ended(engine: Engine, subscription_id: str, now: datetime) -> bool:
    """Whether no worker runs the subscription's provider flow any more (its lease is let go or run out)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        lease = connection.execute(text(_LEASE), {"id": subscription_id}).first()
    if lease is None or lease.holder is None:
        return True
    expires = _moment(lease.expires_at)
    return expires is not None and expires <= now


async def tell_portal(portal: PortalClient, subscription_id: str, reason: str | None) -> str:
    """Step 2: the portal revokes it too; returns the state the portal holds it in now. A subscription the portal
    ended otherwise meanwhile (the consumer cancelled, the window closed) is told as well: nothing more to say.
    ``PortalUnavailable``: try again later; ``PortalRefused`` (other than that): the portal's reason."""
    try:
        answer = await portal.revoke(subscription_id, reason)
    except PortalRefused as exc:
        if exc.status == 409:  # the portal holds it in another final state already
            return "ended at the portal: " + exc.detail
        raise
    return str(answer.get("state", REVOKED))


def _moment(value: Any) -> datetime | None:
    from connector._rows import moment

    return moment(value)
