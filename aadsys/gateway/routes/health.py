"""Liveness and readiness for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from aadsys.gateway.deps import ContextDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and database readiness")
def health(ctx: ContextDep) -> dict[str, str]:
    with ctx.db.session() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "org": ctx.settings.org}
