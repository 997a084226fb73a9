"""Dependencies of the REST API, named once as Annotated aliases so routes read like prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from abm_portal.config import Settings
from abm_portal.context import PortalContext
from abm_portal.errors import Unauthorized
from abm_portal.services import bearer
from abm_portal.services.actors import Actor

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /oauth/token (connectors), or a "
                                                   "personal access token (people's scripts)")


def get_context(request: Request) -> PortalContext:
    context: PortalContext = request.app.state.portal
    return context


Context = Annotated[PortalContext, Depends(get_context)]


def get_settings(ctx: Context) -> Settings:
    return ctx.settings


def get_db(ctx: Context) -> Iterator[Session]:
    with ctx.database.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_db)]


def get_actor(db: DbSession, settings: SettingsDep,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    if credentials is None:
        raise Unauthorized("Send 'Authorization: Bearer <token>': an access token from POST /oauth/token "
                           "(client credentials), or a personal access token.", error=None)
    return bearer.actor_for_bearer(db, settings, credentials.credentials)


CurrentActor = Annotated[Actor, Depends(get_actor)]


def get_actor_briefly(ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                      ) -> Actor:
    """``get_actor`` in a session of its own that ends at once: for a response that outlives the request's
    handling (a stream), which must hold no database connection (on SQLite, the write lock) while it runs."""
    with ctx.database.session() as db:
        return get_actor(db, ctx.settings, credentials)


BriefActor = Annotated[Actor, Depends(get_actor_briefly)]
