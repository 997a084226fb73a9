"""Historical transfers as each side keeps them (table ``history_jobs``), moved only along
``HISTORY_TRANSITIONS``. The provider counts what the consumer confirmed; the consumer counts what it stored;
each side's control plane reports its figures to the portal, which completes the job only if they agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from aadsys.core.db import Database
from aadsys.core.tables import utcnow
from connector._leases import Fence
from connector.data._states import HISTORY_TRANSITIONS, HistoryState, allowed
from connector.spi import Role
from connector.tables import HistoryJobRow

H = HistoryState


class HistoryJobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, subscription_id: str) -> HistoryJobRow | None:
        with self.db.session() as session:
            return session.get(HistoryJobRow, subscription_id)

    def all(self) -> list[HistoryJobRow]:
        with self.db.session() as session:
            return list(session.exec(select(HistoryJobRow).order_by(col(HistoryJobRow.started_at))).all())

    def open(self, subscription_id: str, role: Role, range_from: datetime, range_to: datetime, *,
             fence: Fence | None = None) -> HistoryJobRow:
        """The job of this subscription, made now or resumed (a failed one runs again)."""
        with self.db.write_session() as session:
            if fence is not None:
                fence.check(session)
            job = session.get(HistoryJobRow, subscription_id)
            if job is None:
                job = HistoryJobRow(subscription_id=subscription_id, role=role.value, range_from=range_from,
                                    range_to=range_to, state=H.RUNNING.value)
            elif allowed(HISTORY_TRANSITIONS, H(job.state), H.RUNNING):
                job.state, job.reason = H.RUNNING.value, None
            job.updated_at = utcnow()
            session.add(job)
            session.commit()
            session.refresh(job)
            return job

    def move(self, subscription_id: str, target: HistoryState, *, fence: Fence | None = None,
             **changes: object) -> bool:
        """Move the job to ``target`` if the table allows it (setting ``changes``); False otherwise."""
        with self.db.write_session() as session:
            if fence is not None:
                fence.check(session)
            job = session.get(HistoryJobRow, subscription_id)
            if job is None or (job.state != target.value
                               and not allowed(HISTORY_TRANSITIONS, H(job.state), target)):
                return False
            job.state = target.value
            for name, value in changes.items():
                setattr(job, name, value)
            job.updated_at = utcnow()
            session.add(job)
            session.commit()
            return True

    def set_total(self, subscription_id: str, total: int, *, fence: Fence | None = None) -> None:
        with self.db.write_session() as session:
            if fence is not None:
                fence.check(session)
            job = session.get(HistoryJobRow, subscription_id)
            if job is not None and job.total != total:
                job.total, job.updated_at = total, utcnow()
                session.add(job)
                session.commit()

    def finished_unreported(self) -> list[HistoryJobRow]:
        with self.db.session() as session:
            return list(session.exec(select(HistoryJobRow).where(HistoryJobRow.state == H.FINISHED.value)).all())
