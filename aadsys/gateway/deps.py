"""Dependencies named once, as Annotated aliases, so routes read like prose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from aadsys.config import Settings
from aadsys.core.aas_registry import SqlAasRegistry
from aadsys.core.files import FileStore
from aadsys.core.instances import InstanceService
from aadsys.gateway.context import AadsysContext
from aadsys.gateway.file_links import LinkedRepository
from aadsys.gateway.problems import ProblemError

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key made with `aadsys keys create`; scopes read and/or write")


# Dependencies are async: FastAPI runs a plain ``def`` dependency on a worker thread, a hop that costs more than
# what these do.
async def get_context(request: Request) -> AadsysContext:
    context: AadsysContext = request.app.state.aadsys
    return context


ContextDep = Annotated[AadsysContext, Depends(get_context)]


async def get_instances(ctx: ContextDep) -> InstanceService:
    return ctx.instances


async def get_files(ctx: ContextDep) -> FileStore:
    return ctx.files


async def get_aas_repository(ctx: ContextDep) -> LinkedRepository:
    return ctx.aas_served


async def get_aas_registry(ctx: ContextDep) -> SqlAasRegistry:
    return ctx.registry


def require_scope(scope: str, *, anonymous: Callable[[Settings], bool] | None = None
                  ) -> Callable[..., Awaitable[frozenset[str]]]:
    """401 when the key is missing or unknown, 403 when it lacks ``scope``; a request without a key may read when
    ``anonymous`` says the settings allow it."""

    async def check(ctx: ContextDep, key: Annotated[str | None, Depends(api_key_header)]) -> frozenset[str]:
        if key is None:
            if anonymous is not None and anonymous(ctx.settings):
                return frozenset({"read"})
            raise ProblemError(401, "unauthenticated", "API key required",
                               "send an API key in the X-API-Key header (make one with `aadsys keys create`)")
        scopes = await ctx.keys.scopes(key)
        if scopes is None:
            raise ProblemError(401, "unauthenticated", "Invalid API key",
                               "the X-API-Key is unknown or revoked; check it or make a new one")
        if scope not in scopes:
            raise ProblemError(403, "forbidden", "Missing scope",
                               f"this API key lacks the '{scope}' scope; use a key made with --scope {scope}")
        return scopes

    return check


Instances = Annotated[InstanceService, Depends(get_instances)]
Files = Annotated[FileStore, Depends(get_files)]
Reader = Annotated[frozenset[str], Depends(require_scope("read"))]
Writer = Annotated[frozenset[str], Depends(require_scope("write"))]
AasReader = require_scope("read", anonymous=lambda settings: settings.aas_anonymous_read)
