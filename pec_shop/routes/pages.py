"""Customer pages: the compose form, placing an order, the order page (live through SSE) and its label image."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import Response

from pec_shop.catalogue import BOTTLE_PRICES, INGREDIENTS, MAX_INGREDIENTS, MAX_LABEL_TEXT, MAX_QUANTITY
from pec_shop.form_reader import MAX_FIELDS, FormUnreadable, ReadForm, read_multipart_form
from pec_shop.label_images import LabelUpload, size_text
from pec_shop.order_form import FormErrors, FormInput, validate
from pec_shop.orders import OrderNotFound, find_order, label_image, order_json, place_order
from pec_shop.progress import station_states
from pec_shop.routes.deps import ShopDep
from pec_shop.shop import Shop

router = APIRouter(include_in_schema=False)

URLENCODED_LIMIT_BYTES = 256 * 1024  # a form without a file: text fields only
# How much of a form the shop reads (and throws away beyond the image limit) so that a browser sending an over-size
# image gets the page with its typed values back rather than a reset connection; larger bodies are cut off here.
READ_LIMIT_BYTES = 64 * 1024 * 1024
IMAGE_FIELD = "label_image"
LIVE_RECHECK_SECONDS = 5.0  # an order page's stream re-reads the order at least this often


@router.get("/", response_class=HTMLResponse)
async def compose(request: Request, shop: ShopDep) -> Response:
    return _compose_page(request, shop, FormInput(ingredients=[("orange", "100")]), {})


@router.post("/orders", response_class=HTMLResponse)
async def place(request: Request, shop: ShopDep) -> Response:
    """Every refusal shows the form again with what was typed: 422 for a rule broken, 413 for an image too large."""
    try:
        form = await _read_form(request, shop)
    except FormUnreadable as exc:
        raise HTTPException(400, f"The form could not be read ({exc}); send it again from the shop page.") from None
    typed = FormInput(
        customer_name=form.text("customer_name"), bottle_size_ml=form.text("bottle_size_ml"),
        ingredients=_rows(form.texts("ingredient"), form.texts("ratio")), label_text=form.text("label_text"),
        quantity=form.text("quantity"), image_name=form.upload.filename)
    upload = form.upload
    image = LabelUpload(bytes(upload.head), upload.size, upload.cut_off) if upload.size else None
    try:
        request_ = validate(typed, image, max_image_bytes=shop.settings.max_image_bytes,
                            max_image_pixels=shop.settings.max_image_pixels)
    except FormErrors as exc:
        return _compose_page(request, shop, typed, exc.messages, exc.mix_rows,
                             status_code=413 if exc.image_too_large else 422)
    token = await asyncio.to_thread(_place, shop, request_)
    shop.metrics.orders_placed.inc()
    shop.changes.order_placed.fire()
    return RedirectResponse(f"/orders/{token}", status_code=303)


@router.get("/orders/{token}", response_class=HTMLResponse)
async def order_page(token: str, request: Request, shop: ShopDep) -> Response:
    view = await asyncio.to_thread(_order_view, shop, token)
    stations = station_states(view["status"], view["currentStation"], view["trace"])
    return shop.templates.TemplateResponse(request, "order.html", {"order": view, "stations": stations},
                                           headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/orders/{token}/label")
async def order_label(token: str, shop: ShopDep) -> Response:
    found = await asyncio.to_thread(_label, shop, token)
    if found is None:
        raise HTTPException(404, "This order has no label image.")
    data, content_type = found
    return Response(data, media_type=content_type,
                    headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


def existing_order(token: str, shop: ShopDep) -> str:
    """Checked as a dependency, so an unknown token is a 404 before a stream opens."""
    _order_view(shop, token)
    return token


@router.get("/orders/{token}/events", response_class=EventSourceResponse)
async def order_events(token: Annotated[str, Depends(existing_order)], shop: ShopDep) -> AsyncIterator[ServerSentEvent]:
    """``event: order`` with the order JSON (as ``/api/orders/{token}``) first and then whenever it changes."""
    signal, sent = shop.changes.order_changed, None
    while True:
        seen = signal.generation
        view = await asyncio.to_thread(_order_view, shop, token)
        if view != sent:
            yield ServerSentEvent(event="order", data=view)
            sent = view
        await signal.wait(seen, LIVE_RECHECK_SECONDS)


async def _read_form(request: Request, shop: Shop) -> ReadForm:
    """The posted form: multipart as the compose page sends it, or urlencoded (text fields only) from a script."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        if int(request.headers.get("content-length") or 0) > URLENCODED_LIMIT_BYTES:
            raise HTTPException(413, f"A form without an image is at most {size_text(URLENCODED_LIMIT_BYTES)}.")
        try:
            posted = await request.form(max_files=0, max_fields=MAX_FIELDS)
        except MultiPartException as exc:
            raise FormUnreadable(exc.message) from None
        return ReadForm(fields={k: [v for v in posted.getlist(k) if isinstance(v, str)] for k in posted})
    return await read_multipart_form(request, file_field=IMAGE_FIELD, max_file_bytes=shop.settings.max_image_bytes,
                                     read_limit=READ_LIMIT_BYTES)


def _compose_page(request: Request, shop: Shop, typed: FormInput, errors: dict[str, list[str]],
                  mix_rows: frozenset[int] = frozenset(), status_code: int = 200) -> Response:
    rows = typed.ingredients + [("", "")] * (MAX_INGREDIENTS - len(typed.ingredients))
    context: dict[str, Any] = {
        "form": typed, "rows": rows[:max(MAX_INGREDIENTS, len(rows))], "errors": errors, "mix_rows": mix_rows,
        "prices": BOTTLE_PRICES, "ingredients": INGREDIENTS, "max_label_text": MAX_LABEL_TEXT,
        "max_quantity": MAX_QUANTITY, "max_image_bytes": shop.settings.max_image_bytes,
        "max_image_text": size_text(shop.settings.max_image_bytes),
    }
    return shop.templates.TemplateResponse(request, "compose.html", context, status_code=status_code)


def _rows(ingredients: list[str], ratios: list[str]) -> list[tuple[str, str]]:
    n = max(len(ingredients), len(ratios))
    return [(ingredients[i] if i < len(ingredients) else "", ratios[i] if i < len(ratios) else "") for i in range(n)]


def _place(shop: Shop, request: Any) -> str:
    with shop.db.session() as session:
        _, token = place_order(session, request)
        return token


def _order_view(shop: Shop, token: str) -> dict[str, Any]:
    with shop.db.session() as session:
        try:
            return order_json(session, find_order(session, token), token)
        except OrderNotFound:
            raise HTTPException(404, "No order has this link. Check that you copied the whole link.") from None


def _label(shop: Shop, token: str) -> tuple[bytes, str] | None:
    with shop.db.session() as session:
        try:
            image = label_image(session, find_order(session, token))
        except OrderNotFound:
            return None
        return (image.data, image.content_type) if image else None
