"""What the data plane delivered and stored, as the control plane reports it (``spi.ProgressReports``)."""

from __future__ import annotations

from aadsys.core.db import Database
from connector.data import _received
from connector.data._history import HistoryJobs
from connector.data._outbox import provider_figures
from connector.data._states import HistoryState
from connector.spi import Progress, Role, SubscriptionView, TransferResult


class DeliveryProgress:
    def __init__(self, db: Database, jobs: HistoryJobs) -> None:
        self.db, self.jobs = db, jobs

    def progress(self, view: SubscriptionView) -> Progress:
        if view.role is Role.PROVIDER:
            f = provider_figures(self.db, view.id)
            return Progress(count=f.sent, last_seq=f.last_seq_sent, expired=f.expired)
        stored = _received.figures(self.db, view.id)
        return Progress(count=stored.stored, last_seq=stored.last_seq, expired=0)

    def finished_transfers(self) -> list[TransferResult]:
        return [TransferResult(job.subscription_id, Role(job.role), job.count, job.digest)
                for job in self.jobs.finished_unreported() if job.count is not None and job.digest is not None]

    def transfer_reported(self, subscription_id: str) -> None:
        self.jobs.move(subscription_id, HistoryState.REPORTED)

    def transfer_failed(self, subscription_id: str, reason: str) -> None:
        self.jobs.move(subscription_id, HistoryState.FAILED, reason=reason)
