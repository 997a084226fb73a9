"""Everything one running AAdSys holds, built once per process and shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass

from aadsys.config import Settings
from aadsys.core.aas_registry import SqlAasRegistry
from aadsys.core.aas_repository import SqlAasRepository
from aadsys.core.api_keys import ApiKeyCache
from aadsys.core.db import Database
from aadsys.core.events import InstanceEvents
from aadsys.core.files import FileStore
from aadsys.core.inbox import Inbox
from aadsys.core.instances import InstanceService
from aadsys.core.notifications import Notifications, worker_name
from aadsys.gateway.file_links import LinkedRepository
from aadsys.metrics import Metrics
from aas_models import Owner


@dataclass
class AadsysContext:
    settings: Settings
    db: Database
    events: InstanceEvents
    instances: InstanceService
    files: FileStore
    aas: SqlAasRepository  # as stored: files named by digest
    aas_served: LinkedRepository  # as the Part 2 API serves it: files as download links
    registry: SqlAasRegistry  # descriptors and asset links of what ``aas`` holds
    inbox: Inbox
    keys: ApiKeyCache
    metrics: Metrics  # what /metrics shows; extensions add their figures here
    notifications: Notifications  # wake-ups across the workers of one PostgreSQL database

    @property
    def worker(self) -> str:
        """This worker's name among the workers that share the database."""
        return self.notifications.worker

    @classmethod
    def build(cls, settings: Settings) -> AadsysContext:
        db = Database(settings.resolved_database_url)
        notifications = Notifications(db, worker_name())
        events = InstanceEvents(notifications)
        owner = Owner(org=settings.org, base_iri=settings.base_iri)
        files = FileStore(db, settings.files_dir)
        aas = SqlAasRepository(db, files)
        metrics = Metrics()
        metrics.readiness.add_check("database", db.reachable)
        instances = InstanceService(db, owner, events, on_created=metrics.instance_created)
        return cls(settings, db, events, instances, files, aas, LinkedRepository(aas), SqlAasRegistry(db, aas),
                   Inbox(db, events), ApiKeyCache(db), metrics, notifications)
