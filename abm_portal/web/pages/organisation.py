"""My organisation: connector endpoint and keys, client-secret rotation, personal access tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from abm_portal.errors import ValidationFailed
from abm_portal.metrics import metrics_of
from abm_portal.services import clients, organisations, personal_tokens
from abm_portal.services.actors import Actor
from abm_portal.web import views
from abm_portal.web.deps import CurrentActor, DbSession
from abm_portal.web.flash import flash
from abm_portal.web.forms import FieldErrors, form_field
from abm_portal.web.rendering import redirect, render
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)
FormText = Annotated[str, Form()]
CONNECTOR_FIELDS = ("endpoint_url", "signing_key", "encryption_key")


def _page(request: Request, db: Any, actor: Actor, status_code: int = 200, **extra: Any) -> Response:
    org = views.organisation(organisations.get_organisation(db, actor, actor.org_id))
    page = {"nav": "organisation", "org": org, "tokens": [views.token(t) for t in
                                                            personal_tokens.list_personal_tokens(db, actor)],
            "connector_form": {k: org[k] or "" for k in CONNECTOR_FIELDS}, "connector_errors": {},
            "token_form": {}, "token_errors": {}, **extra}
    return render(request, "organisation.html", page, status_code=status_code)


@router.get("/organisation")
def my_organisation(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    return _page(request, db, actor)


@router.post("/organisation/connector")
def set_connector(request: Request, db: DbSession, actor: CurrentActor, endpoint_url: FormText = "",
                  signing_key: FormText = "", encryption_key: FormText = "") -> Response:
    form = {"endpoint_url": endpoint_url.strip(), "signing_key": signing_key.strip(),
            "encryption_key": encryption_key.strip()}
    try:
        organisations.update_connector(db, actor, endpoint_url=form["endpoint_url"],
                                       signing_key=form["signing_key"] or None,
                                       encryption_key=form["encryption_key"] or None)
    except ValidationFailed as exc:
        errors: FieldErrors = {form_field(exc.field, CONNECTOR_FIELDS, default="endpoint_url"): exc.message}
        return _page(request, db, actor, 422, connector_form=form, connector_errors=errors)
    flash(request, "success", "Connector settings saved.")
    return redirect("/organisation")


@router.post("/organisation/client-secret")
def rotate_client_secret(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    client_id, secret = clients.rotate_client_secret(db, actor)
    flash(request, "success", "A new client secret was made; the old one no longer works.")
    # Shown in this response only, never put in the (signed, not encrypted) session cookie.
    return _page(request, db, actor, new_secret={"client_id": client_id, "secret": secret})


@router.post("/organisation/tokens")
def create_token(request: Request, db: DbSession, actor: CurrentActor, token_name: FormText = "") -> Response:
    name = token_name.strip()
    if not name:
        return _page(request, db, actor, 422, token_form={"token_name": name},
                     token_errors={"token_name": "Give the token a name, e.g. “approval script”."})
    try:
        value = personal_tokens.create_personal_token(db, actor, name)
    except ValidationFailed as exc:
        return _page(request, db, actor, 422, token_form={"token_name": name},
                     token_errors={"token_name": exc.message})
    metrics_of(request).tokens_issued.labels(kind="personal").inc()
    return _page(request, db, actor, new_token={"name": name, "value": value})


@router.post("/organisation/tokens/{token_id}/revoke")
def revoke_token(request: Request, db: DbSession, actor: CurrentActor, token_id: str) -> Response:
    personal_tokens.revoke_personal_token(db, actor, token_id)
    flash(request, "success", "The token is revoked; scripts that use it are refused from now on.")
    return redirect("/organisation")
