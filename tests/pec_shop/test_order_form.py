"""The compose form and the order page, against a real shop whose AAdSys is unreachable (orders stay queued)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.pec_shop.shop_support import LiveShop, image_bytes, make_settings, running_shop

MAX_IMAGE = 64 * 1024


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveShop]:
    settings = make_settings(tmp_path_factory.mktemp("shop") / "data", max_image_bytes=MAX_IMAGE)
    with running_shop(settings) as live:
        yield live


def _not_an_image() -> tuple[str, bytes, str]:
    return ("label.png", b"\x89PNG\r\n\x1a\n but not really an image at all", "image/png")


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("ratios not 100", {"ratio": ["60", "30"]}, "ingredients", "add up to 90%"),
    ("an ingredient twice", {"ingredient": ["orange", "orange"], "ratio": ["50", "50"]}, "ingredients", "twice"),
    ("no ingredient", {"ingredient": None, "ratio": None}, "ingredients", "you chose 0"),
    ("six ingredients", {"ingredient": ["orange", "apple", "carrot", "mango", "kiwi", "lime"],
                         "ratio": ["20", "20", "20", "20", "10", "10"]}, "ingredients", "you chose 6"),
    ("a zero ratio", {"ratio": ["100", "0"]}, "ingredients", "between 1 and 100"),
    ("an unknown ingredient", {"ingredient": ["orange", "durian"]}, "ingredients", "from the list"),
    ("a bad bottle size", {"bottle_size_ml": "400"}, "bottle_size_ml", "Choose one of the bottle sizes"),
    ("no quantity", {"quantity": "0"}, "quantity", "between 1 and 24"),
    ("too many bottles", {"quantity": "25"}, "quantity", "between 1 and 24"),
    ("label text too long", {"label_text": "x" * 121}, "label_text", "at most 120 characters"),
    ("no name", {"customer_name": "  "}, "customer_name", "Enter the name"),
    ("a .png that is not an image", {"image": _not_an_image()}, "label_image", "not a readable image"),
    ("a GIF", {"image": ("label.gif", image_bytes("GIF"), "image/gif")}, "label_image", "GIF"),
    ("an oversized image", {"image": ("big.png", image_bytes("PNG", (200, 200), noise=True), "image/png")},
     "label_image", "choose one of at most 64.0 KiB"),
]


@pytest.mark.parametrize(("fields", "field", "message"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_form_is_shown_again_with_the_message_and_nothing_is_stored(
        shop: LiveShop, fields: dict[str, Any], field: str, message: str) -> None:
    before = shop.rows("orders"), shop.rows("label_images")

    response = shop.place(**fields)

    assert response.status_code == (413 if field == "label_image" and "at most" in message else 422)
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    error_at = page.find(f'id="{field}-error"')
    assert error_at > 0, f"no message at {field}"
    assert message in page[error_at:page.find("</p>", error_at)]
    assert 'value="Aina"' in page or field == "customer_name"  # what was typed stays
    assert (shop.rows("orders"), shop.rows("label_images")) == before


def test_refused_form_keeps_the_mix_that_was_typed(shop: LiveShop) -> None:
    page = shop.place(ingredient=["mango", "kiwi"], ratio=["70", "20"]).text

    assert '<option value="mango" selected>' in page and 'value="70"' in page
    assert '<option value="kiwi" selected>' in page and 'value="20"' in page


def test_placed_order_redirects_to_its_page_and_json(shop: LiveShop) -> None:
    image = image_bytes("PNG")
    response = shop.place(image=("label.png", image, "image/png"), ingredient=["orange", "carrot", "ginger"],
                          ratio=["33", "33", "34"])

    assert response.status_code == 303
    token = response.headers["location"].removeprefix("/orders/")
    assert len(token) >= 32  # 24 random bytes, URL-safe: ≥ 128 bits
    order = shop.order(token)
    assert order["orderId"].startswith("SO-") and order["token"] == token
    assert order["delivery"] == "queued" and order["sentAt"] is None and order["status"] is None
    assert order["revisions"] == [] and order["trace"] == []
    assert order["item"]["ingredients"] == [{"ingredient": "orange", "ratio": 0.33},
                                            {"ingredient": "carrot", "ratio": 0.33},
                                            {"ingredient": "ginger", "ratio": 0.34}]
    assert order["item"]["bottleSizeMl"] == 500 and order["item"]["quantity"] == 2
    assert order["item"]["unitPrice"] == "12.90" and order["total"] == "25.80"
    assert order["item"]["labelText"] == "Happy birthday"
    assert order["item"]["labelImage"]["contentType"] == "image/png"

    page = shop.client().get(f"/orders/{token}")
    assert page.status_code == 200
    assert order["orderId"] in page.text and "Queued" in page.text and 'http-equiv="refresh"' in page.text
    assert f"/orders/{token}/label" in page.text
    label = shop.client().get(f"/orders/{token}/label")
    assert label.status_code == 200 and label.content == image and label.headers["content-type"] == "image/png"


def test_jpeg_label_is_accepted_and_quantity_sets_the_total(shop: LiveShop) -> None:
    token = shop.place_ok(image=("label.jpg", image_bytes("JPEG"), "image/jpeg"), bottle_size_ml="1000",
                          quantity="24", ingredient=["kiwi"], ratio=["100"], label_text="")
    order = shop.order(token)

    assert order["item"]["labelImage"]["contentType"] == "image/jpeg"
    assert order["item"]["labelText"] is None
    assert (order["item"]["unitPrice"], order["total"]) == ("22.00", "528.00")


def test_order_events_stream_sends_the_order_json(shop: LiveShop) -> None:
    token = shop.place_ok()
    with shop.client().stream("GET", f"/orders/{token}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: order"
        data = next(lines)
    assert data.startswith("data: ") and json.loads(data.removeprefix("data: "))["token"] == token


@pytest.mark.parametrize("path", ["/orders/{t}", "/orders/{t}/label", "/orders/{t}/events"])
def test_unknown_token_is_a_404_page(shop: LiveShop, path: str) -> None:
    response = shop.client().get(path.format(t="A" * 32))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_token_is_a_404_problem_in_json(shop: LiveShop) -> None:
    response = shop.client().get("/api/orders/" + "A" * 32)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404 and problem["type"].endswith("/order-not-found") and problem["detail"]


def test_healthz_and_metrics(shop: LiveShop) -> None:
    assert shop.client().get("/healthz").json() == {"status": "ok"}
    assert "pec_shop_orders_placed_total" in shop.metrics()


def test_compose_page_offers_every_field_of_the_contract(shop: LiveShop) -> None:
    page = shop.client().get("/").text
    for name in ("customer_name", "bottle_size_ml", "ingredient", "ratio", "label_text", "label_image", "quantity"):
        assert f'name="{name}"' in page
    assert 'action="/orders"' in page and 'enctype="multipart/form-data"' in page


def test_an_image_over_the_limit_is_a_413_that_names_its_real_size_and_keeps_the_typed_values(
        shop: LiveShop) -> None:
    size = MAX_IMAGE + 300 * 1024 + 7
    before = shop.rows("orders"), shop.rows("label_images")

    response = shop.place(image=("x.png", b"0" * size, "image/png"), label_text="Happy birthday Aina")

    assert response.status_code == 413
    assert f"The image is 364.0 KiB ({size:,} bytes); choose one of at most 64.0 KiB." in response.text
    assert 'value="Happy birthday Aina"' in response.text and 'value="Aina"' in response.text
    assert (shop.rows("orders"), shop.rows("label_images")) == before


def test_only_the_hash_of_a_token_is_stored(shop: LiveShop) -> None:
    token = shop.place_ok()
    engine = create_engine(shop.settings.resolved_database_url)
    with engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM orders"))]
    engine.dispose()
    assert token not in stored and len(stored) >= 1


def test_what_customers_type_is_shown_as_text_never_as_markup(shop: LiveShop) -> None:
    token = shop.place_ok(label_text="<script>alert(1)</script>")

    page = shop.client().get(f"/orders/{token}").text

    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_order_without_an_image_may_come_as_a_urlencoded_form(shop: LiveShop) -> None:
    form = {"customer_name": "Chen", "bottle_size_ml": "250", "ingredient": ["apple", "beetroot"],
            "ratio": ["50", "50"], "label_text": "", "quantity": "1"}

    response = shop.client().post("/orders", data=form)

    assert response.status_code == 303
    order = shop.order(response.headers["location"].removeprefix("/orders/"))
    assert order["item"]["labelImage"] is None and order["total"] == "6.50"
