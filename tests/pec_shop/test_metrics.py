"""``GET /metrics`` of the shop: closed without the metrics token; orders by state and send attempts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from aadsys.processes import wait_for
from tests.pec_shop.shop_support import LiveShop, make_settings, running_shop
from tests.support.live_server import loopback_get
from tests.support.prometheus import bearer, sample, write_token


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[LiveShop]:
    with running_shop(make_settings(tmp_path / "shop")) as live:  # its AAdSys is a closed port: orders stay queued
        yield live


def test_metrics_are_refused_without_the_configured_token(shop: LiveShop) -> None:
    closed = shop.client().get("/metrics")
    assert closed.status_code == 403 and closed.headers["content-type"] == "application/problem+json"
    assert "PEC_SHOP_METRICS_TOKEN_FILE" in closed.json()["detail"]
    token = write_token(shop.settings.resolved_metrics_token_file)
    for headers in ({}, bearer("guess"), {"Authorization": token}):
        refused = shop.client().get("/metrics", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert refused.json()["type"].endswith("/metrics-token-required")
    assert loopback_get(f"{shop.url}/metrics", headers=bearer(token)).status_code == 200


def test_orders_are_shown_by_state_and_send_attempts_by_outcome(shop: LiveShop) -> None:
    shop.place_ok()
    shop.place_ok()
    wait_for(lambda: (sample(shop.metrics(), "pec_shop_send_attempts_total", outcome="retry") or 0) >= 1,
             "the sender to try the closed AAdSys", timeout=10)
    engine = create_engine(shop.settings.resolved_database_url)
    with engine.begin() as db:  # as if the first had been sent and OMIS had reported it completed
        db.execute(text("UPDATE orders SET delivery = 'sent', status = 'completed' WHERE id = 1"))
    engine.dispose()
    shown = shop.metrics()
    assert sample(shown, "pec_shop_orders", state="queued") == 1
    assert sample(shown, "pec_shop_orders", state="completed") == 1
    assert sample(shown, "pec_shop_orders_placed_total") == 2
