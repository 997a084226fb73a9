"""What the data plane delivered and stored, as the control plane reports it (``spi.ProgressReports``)."""

from __future__ import annotations

from collections.abc import Sequence

from aadsys.core.db import Database
from connector._rows import ConnectionRows, Rows
from connector.data import _figures
from connector.data._history import HistoryJobs
from connector.data._states import HistoryState
from connector.spi import Progress, Role, SubscriptionView, TransferResult


class DeliveryProgress:
    def __init__(self, db: Database, jobs: HistoryJobs) -> None:
        self.db, self.jobs = db, jobs

    def progress_of(self, views: Sequence[SubscriptionView]) -> dict[str, Progress]:
        """Each view's figures by id, read in one transaction: a round costs one, however many subscriptions."""
        if not views:
            return {}
        with self.db.engine.connect() as connection:
            rows = ConnectionRows(connection)
            return {view.id: _progress(rows, view) for view in views}

    def finished_transfers(self) -> list[TransferResult]:
        return [TransferResult(job.subscription_id, Role(job.role), job.count, job.digest)
                for job in self.jobs.finished_unreported() if job.count is not None and job.digest is not None]

    def transfer_reported(self, subscription_id: str) -> None:
        self.jobs.move(subscription_id, HistoryState.REPORTED)

    def transfer_failed(self, subscription_id: str, reason: str) -> None:
        self.jobs.move(subscription_id, HistoryState.FAILED, reason=reason)


def _progress(rows: Rows, view: SubscriptionView) -> Progress:
    if view.role is Role.PROVIDER:
        f = _figures.provider(rows, view.id)
        return Progress(count=f.sent, last_seq=f.last_seq_sent, expired=f.expired)
    stored = _figures.consumer(rows, view.id)
    return Progress(count=stored.stored, last_seq=stored.last_seq, expired=0)
