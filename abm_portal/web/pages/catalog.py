"""Catalog search, the asset page with its subscription request form, and the hand publishing form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from abm_portal.errors import Conflict, ValidationFailed
from abm_portal.services import assets, organisations, subscriptions
from abm_portal.services.actors import Actor
from abm_portal.web import views
from abm_portal.web.deps import CurrentActor, DbSession
from abm_portal.web.flash import flash
from abm_portal.web.forms import FieldErrors, datetime_local, form_field, parse_datetime_local
from abm_portal.web.rendering import redirect, render
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)
FormText = Annotated[str, Form()]
SUBSCRIBE_FIELDS = ("mode", "valid_from", "valid_to")
PUBLISH_FIELDS = ("name", "description", "asset_type", "semantic_id", "visibility")
MODES = ("realtime", "historical")


@router.get("/catalog")
def catalog(request: Request, db: DbSession, actor: CurrentActor, q: str = "") -> Response:
    q = q.strip()
    found_orgs = [views.organisation_summary(o) for o in organisations.list_organisations(db, actor, q or None)]
    found_assets = [views.asset(a, actor) for a in assets.search_assets(db, actor, q or None, None)]
    return render(request, "catalog.html", {"nav": "catalog", "q": q, "organisations": found_orgs,
                                            "assets": found_assets})


@router.get("/assets/new")
def publish_form(request: Request, actor: CurrentActor) -> Response:
    return render(request, "asset_new.html", {"nav": "catalog", "form": {"visibility": "public"}, "errors": {}})


@router.post("/assets/new")
def publish(request: Request, db: DbSession, actor: CurrentActor, name: FormText = "", description: FormText = "",
            asset_type: FormText = "", semantic_id: FormText = "", visibility: FormText = "public") -> Response:
    form = {"name": name.strip(), "description": description.strip(), "asset_type": asset_type.strip(),
            "semantic_id": semantic_id.strip(), "visibility": visibility.strip() or "public"}
    errors: FieldErrors = {}
    if not form["name"]:
        errors["name"] = "Enter the asset's name."
    if not form["asset_type"]:
        errors["asset_type"] = "Enter the asset type slug, e.g. sales-order-status."
    if form["visibility"] not in ("public", "private"):
        errors["visibility"] = "Choose public or private."
    if not errors:
        try:
            published = assets.publish_asset(db, actor, views.asset_publication(form))
        except ValidationFailed as exc:
            errors[form_field(exc.field, PUBLISH_FIELDS, default="name")] = exc.message
        except Conflict as exc:
            errors["asset_type"] = str(exc)
    if errors:
        return render(request, "asset_new.html", {"nav": "catalog", "form": form, "errors": errors},
                      status_code=422)
    flash(request, "success", f"“{form['name']}” is published.")
    return redirect(f"/assets/{views.id_of(published)}")


def _asset_page(request: Request, db: Any, actor: Actor, asset_id: str, form: dict[str, str],
                errors: FieldErrors, status_code: int = 200) -> Response:
    asset = views.asset(assets.get_asset(db, actor, asset_id), actor)
    return render(request, "asset.html", {"nav": "catalog", "asset": asset, "form": form, "errors": errors},
                  status_code=status_code)


@router.get("/assets/{asset_id}")
def asset_page(request: Request, db: DbSession, actor: CurrentActor, asset_id: str) -> Response:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    form = {"mode": "realtime", "valid_from": datetime_local(now), "valid_to": datetime_local(now + timedelta(days=30))}
    return _asset_page(request, db, actor, asset_id, form, {})


@router.post("/assets/{asset_id}/subscribe")
def request_subscription(request: Request, db: DbSession, actor: CurrentActor, asset_id: str, mode: FormText = "",
                         valid_from: FormText = "", valid_to: FormText = "") -> Response:
    form = {"mode": mode, "valid_from": valid_from.strip(), "valid_to": valid_to.strip()}
    errors: FieldErrors = {}
    if mode not in MODES:
        errors["mode"] = "Choose real-time or historical."
    bounds: dict[str, datetime] = {}
    for field, label in (("valid_from", "“valid from”"), ("valid_to", "“valid to”")):
        try:
            bounds[field] = parse_datetime_local(form[field])
        except ValueError:
            errors[field] = f"Enter {label} as a date and time, e.g. 2026-11-22 14:00."
    if not errors:
        try:
            subscriptions.request_subscription(db, actor, asset_id=asset_id, mode=mode,
                                               valid_from=bounds["valid_from"], valid_to=bounds["valid_to"])
        except ValidationFailed as exc:
            errors[form_field(exc.field, SUBSCRIBE_FIELDS, default="valid_to")] = exc.message
    if errors:
        return _asset_page(request, db, actor, asset_id, form, errors, status_code=422)
    flash(request, "success", "Your request is sent. The provider's administrator will approve or reject it.")
    return redirect("/subscriptions")
