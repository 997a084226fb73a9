"""What the routes and workers of one app share."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.templating import Jinja2Templates

from pec_shop.changes import Changes
from pec_shop.config import Settings
from pec_shop.db import Database
from pec_shop.metrics import ShopMetrics


@dataclass
class Shop:
    settings: Settings
    db: Database
    changes: Changes
    metrics: ShopMetrics
    templates: Jinja2Templates
