"""Dependencies of the pages, named once as Annotated aliases so routes read like prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from abm_portal.errors import NotFound
from abm_portal.services import users
from abm_portal.services.actors import Actor
from abm_portal.web.context import WebContext
from abm_portal.web.identity import LoginRequired, Viewer, log_out, signed_in_user_id
from abm_portal.web.rendering import web_context

Web = Annotated[WebContext, Depends(web_context)]


def get_db(web: Web) -> Iterator[Session]:
    with web.session_factory() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


def get_actor(request: Request, db: DbSession) -> Actor:
    """The signed-in user as the services know them; no user means the login page."""
    user_id = signed_in_user_id(request)
    if user_id is None:
        raise LoginRequired
    try:
        user = users.get_user(db, user_id)
    except NotFound:
        log_out(request)  # the account is gone: the cookie is worthless
        raise LoginRequired from None
    actor = users.actor_for_user(db, user)
    request.state.viewer = viewer_of(actor, user)
    return actor


def viewer_of(actor: Actor, user: object) -> Viewer:
    return Viewer(user_id=str(actor.user_id), email=str(user.email),  # type: ignore[attr-defined]
                  org_id=actor.org_id or "", org_name=actor.org_name or "", role=str(actor.role))


def optional_actor(request: Request, db: DbSession) -> Actor | None:
    """For pages anyone may see: the signed-in user if there is one (their header too), never a redirect."""
    try:
        return get_actor(request, db)
    except LoginRequired:
        return None


def optional_viewer(request: Request, db: DbSession) -> Viewer | None:
    if optional_actor(request, db) is None:
        return None
    viewer: Viewer | None = request.state.viewer
    return viewer


CurrentActor = Annotated[Actor, Depends(get_actor)]
MaybeActor = Annotated[Actor | None, Depends(optional_actor)]
MaybeViewer = Annotated[Viewer | None, Depends(optional_viewer)]
