"""Register an organisation, log in, log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from abm_portal.errors import AuthenticationFailed, Conflict, TooManyAttempts, ValidationFailed
from abm_portal.metrics import metrics_of
from abm_portal.services import organisations, throttle, users
from abm_portal.web import views
from abm_portal.web.deps import DbSession, MaybeViewer, Web, viewer_of
from abm_portal.web.flash import flash
from abm_portal.web.forms import FieldErrors, form_field
from abm_portal.web.identity import log_in, log_out, safe_next
from abm_portal.web.rendering import redirect, render
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

REGISTER_FIELDS = ("name", "description", "admin_email", "admin_password", "admin_password_confirm")
FormText = Annotated[str, Form()]


@router.get("/register")
def register_form(request: Request, viewer: MaybeViewer) -> Response:
    return render(request, "register.html", {"nav": "register", "form": {}, "errors": {}})


@router.post("/register")
def register(request: Request, db: DbSession, viewer: MaybeViewer, name: FormText = "", description: FormText = "",
             admin_email: FormText = "", admin_password: FormText = "",
             admin_password_confirm: FormText = "") -> Response:
    form = {"name": name.strip(), "description": description.strip(), "admin_email": admin_email.strip()}
    errors: FieldErrors = {}
    if not form["name"]:
        errors["name"] = "Enter the organisation's name."
    if not form["admin_email"]:
        errors["admin_email"] = "Enter the administrator's email address."
    if not admin_password:
        errors["admin_password"] = "Choose a password."
    elif admin_password != admin_password_confirm:
        errors["admin_password_confirm"] = "The passwords differ; type the same password twice."
    if not errors:
        try:
            org, user, client_secret = organisations.register_organisation(
                db, name=form["name"], description=form["description"], admin_email=form["admin_email"],
                admin_password=admin_password)
        except ValidationFailed as exc:
            errors[form_field(exc.field, REGISTER_FIELDS)] = exc.message
        except Conflict as exc:
            errors[form_field(getattr(exc, "field", None), REGISTER_FIELDS, default="name")] = str(exc)
    if errors:
        return render(request, "register.html", {"nav": "register", "form": form, "errors": errors},
                      status_code=422)
    log_in(request, user.id)
    request.state.viewer = viewer_of(users.actor_for_user(db, user), user)
    return render(request, "registered.html", {"org_name": org.name, "client_id": views.client_id_of(org),
                                               "client_secret": client_secret})


@router.get("/login")
def login_form(request: Request, viewer: MaybeViewer, next: str = "") -> Response:
    if viewer:
        return redirect(safe_next(next))
    return render(request, "login.html", {"nav": "login", "next": next, "email": ""})


@router.post("/login")
def login(request: Request, db: DbSession, web: Web, email: FormText = "", password: FormText = "",
          next: FormText = "") -> Response:
    keys = throttle.login_keys(email, request.client.host if request.client else None)
    try:
        throttle.check(db, web.settings, keys)
        user = users.authenticate(db, email.strip(), password)
    except TooManyAttempts as exc:
        metrics_of(request).logins.labels(outcome="throttled").inc()
        response = render(request, "login.html", {
            "nav": "login", "next": next, "email": email.strip(),
            "error": "Too many failed logins for this account or from your network, so logging in is paused "
                     f"for your security. Wait {throttle.duration(exc.retry_after)} and try again."},
            status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AuthenticationFailed:
        throttle.record_failure(db, web.settings, keys)
        metrics_of(request).logins.labels(outcome="failed").inc()
        return render(request, "login.html", {
            "nav": "login", "next": next, "email": email.strip(),
            "error": "The email address or the password is not right. Check both and try again."}, status_code=401)
    throttle.forget(db, keys)
    metrics_of(request).logins.labels(outcome="ok").inc()
    log_in(request, user.id)
    return redirect(safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    log_out(request)
    flash(request, "success", "You are logged out.")
    return redirect("/login")
