"""The provider's outbox (DESIGN §5.4): one delivery per (subscription, instance), numbered 1, 2, 3 … per
subscription, moved only along ``DELIVERY_TRANSITIONS``. Blocking database work: callers run it in a thread.

Which instances a subscription gets: this AAdSys's own records (never ones it received) of the subscription's
asset type, created inside its window, every revision. Real-time deliveries are made in storage order as
records commit; a historical range is made in createdAt order, in batches, resumable where it stopped.

Nothing is handed out to send (``claim``, ``again``) for a subscription the connector's ledger holds ended: from
the commit that ends it (a revocation taken from the portal, or ``aadsys connector revoke`` in another process),
no record leaves, even before the flow itself has been ended.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Row, and_, bindparam, func, insert, or_, select, text, update
from sqlmodel import Session

from aadsys.core.db import Database
from aadsys.core.instances import OWN, aware
from aadsys.core.tables import InstanceRow, table_of
from connector._clock import Clock
from connector._leases import Fence
from connector._rows import EngineRows
from connector._standing import require_standing
from connector.data import _figures
from connector.data._figures import ProviderFigures
from connector.data._states import DELIVERY_TRANSITIONS, DeliveryState, origins
from connector.tables import DeliveryRow

_OUT = table_of(DeliveryRow)
# PostgreSQL advisory locks (namespace, hashtext(subscription id)) that make one maker per subscription at a time.
_PG_MAKE_LOCKS = 0x0A0D
_INS = table_of(InstanceRow)
D = DeliveryState


def _may_become(target: DeliveryState) -> tuple[str, ...]:
    return origins(DELIVERY_TRANSITIONS, target)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery with its record, ready to seal."""

    seq: int
    instance_id: int
    asset_type: str
    key: str
    revision: int
    created_at: datetime
    sha256: str
    aas_json: bytes


_OUTGOING = (select(_OUT.c.seq, _INS.c.id, _INS.c.asset_type, _INS.c.instance_key, _INS.c.revision,
                    _INS.c.created_at, _INS.c.sha256, _INS.c.aas_json)
             .join(_INS, _INS.c.id == _OUT.c.instance_id))


def _top(column: Any) -> Any:
    return func.coalesce(select(func.max(column)).where(_OUT.c.subscription_id == bindparam("subscription_id"))
                         .scalar_subquery(), 0)


# (highest instance id, highest seq) made so far: two subqueries, since SQLite answers a lone max() from the
# unique index in O(log n) but scans the subscription's rows for two maxima in one select.
_MADE_SO_FAR = select(_top(_OUT.c.instance_id), _top(_OUT.c.seq))


# Built once: the real-time path only binds parameters (building a statement costs more than running it).
_NEW_OWN = (select(_INS.c.id).where(_INS.c.asset_type == bindparam("asset_type"), _INS.c.origin == OWN,
                                    _INS.c.id > bindparam("watermark"), _INS.c.created_at >= bindparam("valid_from"),
                                    _INS.c.created_at < bindparam("valid_to"))
            .order_by(_INS.c.id).limit(bindparam("limit")))
_NEXT_PENDING = (_OUTGOING.where(_OUT.c.subscription_id == bindparam("subscription_id"),
                                 _OUT.c.state == D.PENDING.value, _OUT.c.seq > bindparam("after_seq"))
                 .order_by(_OUT.c.seq).limit(bindparam("limit")))
_MARK_SENT = (update(_OUT).where(_OUT.c.subscription_id == bindparam("subscription"),
                                 _OUT.c.seq.in_(bindparam("seqs", expanding=True)),
                                 _OUT.c.state.in_(_may_become(D.SENT)))
              .values(state=D.SENT.value, attempts=_OUT.c.attempts + 1, sent_at=bindparam("now")))

_CONFIRM = (update(_OUT).where(_OUT.c.subscription_id == bindparam("subscription"),
                               _OUT.c.seq.in_(bindparam("seqs", expanding=True)),
                               _OUT.c.state.in_(_may_become(D.STORED)))
            .values(state=D.STORED.value, stored_at=bindparam("now")))


class Outbox:
    def __init__(self, db: Database, ttl_seconds: float, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self.ttl = timedelta(seconds=ttl_seconds)

    # -- making deliveries ------------------------------------------------------------------------------------------
    def make_realtime(self, subscription_id: str, asset_type: str, valid_from: datetime, valid_to: datetime,
                      limit: int = 1000, *, fence: Fence | None = None) -> int:
        """Deliveries for records stored since the last call; returns how many were made."""
        with self.db.write_session() as session:
            _check(fence, session)
            self._lock_making(session, subscription_id)
            watermark, last_seq = session.execute(_MADE_SO_FAR, {"subscription_id": subscription_id}).one()
            ids = session.execute(_NEW_OWN, {"asset_type": asset_type, "watermark": watermark, "valid_from": valid_from,
                                             "valid_to": valid_to, "limit": limit}).scalars().all()
            self._insert(session, subscription_id, last_seq, ids)
            session.commit()
        return len(ids)

    def make_history(self, subscription_id: str, asset_type: str, range_from: datetime, range_to: datetime,
                     limit: int = 2000, *, fence: Fence | None = None) -> int:
        """The next batch of deliveries for a historical range, in createdAt order; 0 when the range is done."""
        with self.db.write_session() as session:
            _check(fence, session)
            self._lock_making(session, subscription_id)
            last = session.execute(
                select(_OUT.c.seq, _INS.c.created_at, _INS.c.id).join(_INS, _INS.c.id == _OUT.c.instance_id)
                .where(_OUT.c.subscription_id == subscription_id).order_by(_OUT.c.seq.desc()).limit(1)).first()
            query = select(_INS.c.id).where(_INS.c.asset_type == asset_type, _INS.c.origin == OWN,
                                            _INS.c.created_at >= range_from, _INS.c.created_at <= range_to)
            if last is not None:
                query = query.where(or_(_INS.c.created_at > last.created_at,
                                        and_(_INS.c.created_at == last.created_at, _INS.c.id > last.id)))
            ids = session.execute(query.order_by(_INS.c.created_at, _INS.c.id).limit(limit)).scalars().all()
            self._insert(session, subscription_id, last.seq if last else 0, ids)
            session.commit()
        return len(ids)

    def _lock_making(self, session: Session, subscription_id: str) -> None:
        """Making reads the last seq and watermark, then inserts after them: two makers of one subscription (the
        commit follower and a consumer's ``subscribe``) must not both read before either inserts. SQLite's write
        session is serialised already."""
        if self.db.is_postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:subscription))"),
                            {"space": _PG_MAKE_LOCKS, "subscription": subscription_id})

    def _insert(self, session: Session, subscription_id: str, last_seq: int, ids: Sequence[int]) -> None:
        if not ids:
            return
        now = self.clock.now()
        session.execute(insert(_OUT), [
            {"subscription_id": subscription_id, "seq": last_seq + n, "instance_id": instance_id,
             "state": D.PENDING.value, "attempts": 0, "created_at": now, "expires_at": now + self.ttl}
            for n, instance_id in enumerate(ids, start=1)])

    # -- sending ----------------------------------------------------------------------------------------------------
    def reopen(self, subscription_id: str, after_seq: int, *, fence: Fence | None = None) -> int:
        """A consumer (re)attached, having stored up to ``after_seq``: whatever it has not confirmed goes again.

        Returns how many deliveries are pending now.
        """
        with self.db.write_session() as session:
            _check(fence, session)
            session.execute(update(_OUT).where(
                _OUT.c.subscription_id == subscription_id,
                or_(_OUT.c.state == D.SENT.value, and_(_OUT.c.state == D.STORED.value, _OUT.c.seq > after_seq)),
                _OUT.c.state.in_(_may_become(D.PENDING))).values(state=D.PENDING.value))
            pending = session.execute(select(func.count()).where(_OUT.c.subscription_id == subscription_id,
                                                                 _OUT.c.state == D.PENDING.value)).scalar_one()
            session.commit()
        return int(pending)

    def claim(self, subscription_id: str, after_seq: int, limit: int, max_bytes: int | None = None, *,
              fence: Fence | None = None) -> list[Outgoing]:
        """The next pending deliveries after ``after_seq``, in seq order, now marked sent: at most ``limit`` of them
        and, beyond the first, at most ``max_bytes`` of records. ``Fallen`` if the subscription ended here."""
        with self.db.write_session() as session:
            _check(fence, session)
            require_standing(session, subscription_id, self.clock.now())
            rows = session.execute(_NEXT_PENDING, {"subscription_id": subscription_id, "after_seq": after_seq,
                                                   "limit": limit}).all()
            if max_bytes is not None:
                rows = _within(rows, max_bytes)
            if rows:
                session.execute(_MARK_SENT, {"subscription": subscription_id, "seqs": [r.seq for r in rows],
                                             "now": self.clock.now()})
            session.commit()
        return [_outgoing(r) for r in rows]

    def again(self, subscription_id: str, seqs: Sequence[int], *, fence: Fence | None = None) -> list[Outgoing]:
        """Deliveries to send once more (no confirmation in time, or the consumer asked): still sent, not stored.
        ``Fallen`` if the subscription ended here."""
        with self.db.write_session() as session:
            _check(fence, session)
            require_standing(session, subscription_id, self.clock.now())
            rows = session.execute(_OUTGOING.where(_OUT.c.subscription_id == subscription_id,
                                                   _OUT.c.seq.in_(list(seqs)), _OUT.c.state == D.SENT.value)
                                   .order_by(_OUT.c.seq)).all()
            if rows:
                session.execute(update(_OUT).where(_OUT.c.subscription_id == subscription_id,
                                                   _OUT.c.seq.in_([r.seq for r in rows]))
                                .values(attempts=_OUT.c.attempts + 1, sent_at=self.clock.now()))
            session.commit()
        return [_outgoing(r) for r in rows]

    def confirm(self, subscription_id: str, seqs: Sequence[int], session: Session | None = None) -> int:
        """Tier 2: the consumer stored these; returns how many moved to ``stored``. Inside the caller's
        ``session`` if given (the caller commits), else in a transaction of its own."""
        with self.db.joined(session) as transaction:
            moved = transaction.execute(_CONFIRM, {"subscription": subscription_id, "seqs": list(seqs),
                                                   "now": self.clock.now()})
        return int(cast("CursorResult[Any]", moved).rowcount or 0)  # DML answers with a CursorResult

    def expire_due(self) -> dict[str, int]:
        """Deliveries past their TTL become ``expired``; returns how many per subscription."""
        now = self.clock.now()
        with self.db.write_session() as session:
            moved = session.execute(update(_OUT).where(_OUT.c.state.in_(_may_become(D.EXPIRED)),
                                                       _OUT.c.expires_at <= now)
                                    .values(state=D.EXPIRED.value).returning(_OUT.c.subscription_id)).scalars().all()
            session.commit()
        return dict(Counter(moved))

    def figures(self, subscription_id: str) -> ProviderFigures:
        return provider_figures(self.db, subscription_id)

    def digest(self, subscription_id: str) -> tuple[int, str]:
        """(count, digest) of what the consumer confirmed stored: sha256 over "seq:key:sha256" lines in seq order."""
        with self.db.session() as session:
            rows = session.execute(select(_OUT.c.seq, _INS.c.instance_key, _INS.c.sha256)
                                   .join(_INS, _INS.c.id == _OUT.c.instance_id)
                                   .where(_OUT.c.subscription_id == subscription_id,
                                          _OUT.c.state == D.STORED.value).order_by(_OUT.c.seq)
                                   .execution_options(yield_per=5000))
            return transfer_digest((r.seq, r.instance_key, r.sha256) for r in rows)


def provider_figures(db: Database, subscription_id: str) -> ProviderFigures:
    """What the outbox holds for one subscription, by state (read-only: status and reports)."""
    return _figures.provider(EngineRows(db.engine), subscription_id)


def transfer_digest(lines: Iterable[tuple[int, str, str]]) -> tuple[int, str]:
    """The digest both sides of a historical transfer report (DESIGN §5.5), over (seq, key, sha256) in seq order."""
    digest, count = hashlib.sha256(), 0
    for seq, key, sha in lines:
        digest.update(f"{seq}:{key}:{sha}\n".encode())
        count += 1
    return count, f"sha256:{digest.hexdigest()}"


def _check(fence: Fence | None, session: Session) -> None:
    """A leased write: the lease must still be this worker's at its epoch (``connector._leases``)."""
    if fence is not None:
        fence.check(session)


def _within(rows: Sequence[Row[Any]], max_bytes: int) -> list[Row[Any]]:
    kept: list[Row[Any]] = []
    size = 0
    for row in rows:
        size += len(row.aas_json)
        if kept and size > max_bytes:
            break
        kept.append(row)
    return kept


def _outgoing(row: Row[Any]) -> Outgoing:
    return Outgoing(row.seq, row.id, row.asset_type, row.instance_key, row.revision,
                    aware(row.created_at), row.sha256, row.aas_json)

