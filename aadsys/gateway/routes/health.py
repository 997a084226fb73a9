"""Liveness and readiness for load balancers and operators.

``/healthz``: the process answers (it reads nothing). ``/readyz``: it does its work now: the database answers,
its schema is the one this code expects, and the loops of every extension (the connector's leases, portal rounds
and housekeeping) made progress lately; 503 problem+json naming each failing check otherwise, even while the
process runs (a loop that stopped after an error must not look healthy).
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from starlette.responses import JSONResponse

from aadsys.gateway.deps import ContextDep
from aadsys.gateway.problems import PROBLEM_BASE, PROBLEM_JSON, problem_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def health(ctx: ContextDep) -> dict[str, str]:
    return {"status": "ok", "org": ctx.settings.org}


@router.get("/readyz", summary="Readiness: database, schema and the extensions' loops",
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                       **problem_responses(503, s503="A check fails: `failing` names each")})
async def ready(ctx: ContextDep) -> JSONResponse:
    failing = await anyio.to_thread.run_sync(ctx.metrics.readiness.failing)
    if not failing:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"type": PROBLEM_BASE + "not-ready", "title": "Not ready", "status": 503,
                         "detail": "not ready: " + ", ".join(failing) + " (see the log for why)", "failing": failing},
                        status_code=503, media_type=PROBLEM_JSON)
