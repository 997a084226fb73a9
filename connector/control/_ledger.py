"""The connector's own record of its subscriptions (table ``subscriptions``): what the portal last showed,
plus what it needs to go on through a portal outage (grant, partner's endpoint and keys, provider identity).

Final states are final here as at the portal (DESIGN §6): a row that holds one keeps it, whatever the portal
shows later. That matters for a subscription the provider revoked on its own side (``aadsys connector revoke``,
``revoked_here_at``): until the portal has accepted the revocation it still shows it active, and that must not
bring it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from aadsys.core.db import Database
from aadsys.core.instances import aware
from aadsys.core.notifications import Notifications
from aadsys.core.tables import utcnow
from connector._revoking import ENDED
from connector.spi import FINAL_STATES, Mode, Role, SubscriptionState, SubscriptionView
from connector.tables import SubscriptionRow


def view_of(row: SubscriptionRow) -> SubscriptionView:
    return SubscriptionView(
        id=row.id, role=Role(row.role), mode=Mode(row.mode), asset_type=row.asset_type,
        state=SubscriptionState(row.state), valid_from=aware(row.valid_from), valid_to=aware(row.valid_to),
        peer_org_id=row.peer_org_id, peer_endpoint=row.peer_endpoint, peer_signing_key=row.peer_signing_key,
        peer_encryption_key=row.peer_encryption_key, provider_owner=row.provider_owner,
        provider_base_iri=row.provider_base_iri, grant=row.grant,
        grant_expires_at=aware(row.grant_expires_at) if row.grant_expires_at else None)


class Ledger:
    def __init__(self, db: Database, notifications: Notifications | None = None) -> None:
        self.db, self.notifications = db, notifications  # ``end`` tells the other workers (PostgreSQL)

    def rows(self) -> list[SubscriptionRow]:
        with self.db.session() as session:
            return list(session.exec(select(SubscriptionRow).order_by(col(SubscriptionRow.valid_from))).all())

    def get(self, subscription_id: str) -> SubscriptionRow | None:
        with self.db.session() as session:
            return session.get(SubscriptionRow, subscription_id)

    def views(self) -> list[SubscriptionView]:
        return [view_of(row) for row in self.rows()]

    def live(self, now: datetime | None = None) -> list[SubscriptionView]:
        now = now or datetime.now(UTC)
        return [view for view in self.views() if view.live_at(now)]

    def upsert(self, subscription: dict[str, Any], role: Role, own_org_id: str) -> tuple[SubscriptionRow, bool]:
        """Take the portal's view of one subscription; returns the row and whether its state changed."""
        return self.upsert_all([(subscription, role)])[0]

    def upsert_all(self, shown: Sequence[tuple[dict[str, Any], Role]]) -> list[tuple[SubscriptionRow, bool]]:
        """Take the portal's view of each subscription (with our role in it), in one transaction that writes only
        what changed; returns each row and whether its state changed."""
        if not shown:
            return []
        with self.db.write_session() as session:
            ids = [subscription["id"] for subscription, _ in shown]
            held = {row.id: row for row in session.exec(select(SubscriptionRow)
                                                        .where(col(SubscriptionRow.id).in_(ids))).all()}
            taken = [_take(session, held.get(subscription["id"]), subscription, role) for subscription, role in shown]
            written = [row for row, _, write in taken if write]
            if written:  # an idle round writes nothing
                for row in written:
                    row.updated_at = utcnow()
                    session.add(row)
                session.commit()  # the rows keep their values (expire_on_commit=False): nothing to read back
        return [(row, changed) for row, changed, _ in taken]

    def update(self, subscription_id: str, **changes: Any) -> None:
        with self.db.write_session() as session:
            row = session.get(SubscriptionRow, subscription_id)
            if row is None:
                return
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
            session.commit()

    def end(self, subscription_ids: Iterable[str], state: SubscriptionState, reason: str | None) -> list[str]:
        """Mark subscriptions ended (from the revocation feed or stream); returns those that were still live. A row
        in a final state keeps it."""
        ended = []
        with self.db.write_session() as session:
            for subscription_id in subscription_ids:
                row = session.get(SubscriptionRow, subscription_id)
                if row is None or row.state in FINAL_STATES:
                    continue
                if row.state in (SubscriptionState.APPROVED, SubscriptionState.ACTIVE):
                    ended.append(subscription_id)
                    if self.notifications is not None:  # every worker ends its channels at once
                        self.notifications.announce(session, ENDED, subscription_id)
                row.state, row.reason, row.updated_at = state.value, reason, utcnow()
                session.add(row)
            session.commit()
        return ended

    def ended_among(self, subscription_ids: Iterable[str]) -> set[str]:
        """Which of these subscriptions the ledger holds in a final state (one query by primary key)."""
        wanted = list(subscription_ids)
        if not wanted:
            return set()
        with self.db.session() as session:
            return set(session.exec(select(SubscriptionRow.id).where(
                col(SubscriptionRow.id).in_(wanted), col(SubscriptionRow.state).in_(list(FINAL_STATES)))).all())

    def untold_revocations(self) -> list[SubscriptionRow]:
        """Subscriptions revoked here (``aadsys connector revoke``) that the portal has not accepted yet."""
        with self.db.session() as session:
            return list(session.exec(select(SubscriptionRow).where(
                col(SubscriptionRow.revoked_here_at).is_not(None),
                col(SubscriptionRow.revocation_told_at).is_(None))).all())

    def revocation_told(self, subscription_id: str) -> None:
        """The portal accepted our revocation (or holds the subscription ended already): nothing more to tell."""
        self.update(subscription_id, revocation_told_at=utcnow())


def _take(session: Session, row: SubscriptionRow | None, subscription: dict[str, Any],
          role: Role) -> tuple[SubscriptionRow, bool, bool]:
    """``row`` (None for a new one) as the portal shows it: (row, whether its state changed, whether to write)."""
    peer = subscription["consumerOrgId"] if role is Role.PROVIDER else subscription["providerOrgId"]
    peer_name = subscription["consumerName"] if role is Role.PROVIDER else subscription["providerName"]
    before = row.state if row else None
    if row is None:
        row = SubscriptionRow(id=subscription["id"], role=role.value, asset_id=subscription["assetId"],
                              asset_type=subscription["assetType"], mode=subscription["mode"],
                              valid_from=_time(subscription["validFrom"]), valid_to=_time(subscription["validTo"]),
                              state=subscription["state"], peer_org_id=peer)
    if before not in FINAL_STATES:  # final is final: what ended here stays ended
        row.state, row.reason = subscription["state"], subscription.get("reason")
    row.peer_name = peer_name
    transfer = subscription.get("transfer") or {}
    row.transfer_id = transfer.get("id") or row.transfer_id
    return row, before != row.state, before is None or session.is_modified(row)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
