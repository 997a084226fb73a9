"""What the REST API needs from the running app: its settings and its database."""

from __future__ import annotations

from dataclasses import dataclass

from abm_portal.config import Settings
from abm_portal.db import Database
from abm_portal.metrics import PortalMetrics


@dataclass(frozen=True)
class PortalContext:
    settings: Settings
    database: Database
    metrics: PortalMetrics
