"""What the REST API needs from the running app: its settings, its database, and the streams it serves."""

from __future__ import annotations

from dataclasses import dataclass

from abm_portal.config import Settings
from abm_portal.db import Database
from abm_portal.metrics import PortalMetrics
from abm_portal.services.revocation_stream import Followers


@dataclass(frozen=True)
class PortalContext:
    settings: Settings
    database: Database
    metrics: PortalMetrics
    followers: Followers
