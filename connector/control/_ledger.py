"""The connector's own record of its subscriptions (table ``subscriptions``): what the portal last showed,
plus what it needs to go on through a portal outage (grant, partner's endpoint and keys, provider identity).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from aadsys.core.db import Database
from aadsys.core.instances import aware
from aadsys.core.tables import utcnow
from connector.spi import Mode, Role, SubscriptionState, SubscriptionView
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
    def __init__(self, db: Database) -> None:
        self.db = db

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
        peer = subscription["consumerOrgId"] if role is Role.PROVIDER else subscription["providerOrgId"]
        peer_name = subscription["consumerName"] if role is Role.PROVIDER else subscription["providerName"]
        with self.db.write_session() as session:
            row = session.get(SubscriptionRow, subscription["id"])
            before = row.state if row else None
            if row is None:
                row = SubscriptionRow(id=subscription["id"], role=role.value, asset_id=subscription["assetId"],
                                      asset_type=subscription["assetType"], mode=subscription["mode"],
                                      valid_from=_time(subscription["validFrom"]),
                                      valid_to=_time(subscription["validTo"]), state=subscription["state"],
                                      peer_org_id=peer)
            row.state, row.reason, row.peer_name = subscription["state"], subscription.get("reason"), peer_name
            transfer = subscription.get("transfer") or {}
            row.transfer_id = transfer.get("id") or row.transfer_id
            row.updated_at = utcnow()
            session.add(row)
            session.commit()
            session.refresh(row)
        return row, before != row.state

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
        """Mark subscriptions ended (from the revocation feed); returns those that were still live."""
        ended = []
        with self.db.write_session() as session:
            for subscription_id in subscription_ids:
                row = session.get(SubscriptionRow, subscription_id)
                if row is None or row.state == state.value:
                    continue
                if row.state in (SubscriptionState.APPROVED, SubscriptionState.ACTIVE):
                    ended.append(subscription_id)
                row.state, row.reason, row.updated_at = state.value, reason, utcnow()
                session.add(row)
            session.commit()
        return ended


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
