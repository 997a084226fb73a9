"""Liveness with a database round trip."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from abm_portal.api.deps import DbSession
from abm_portal.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The portal and its database answer")
def healthz(db: DbSession) -> Health:
    db.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return Health(status="ok")
