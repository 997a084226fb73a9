"""Fixtures for one AAdSys: migrated database (SQLite file or PostgreSQL), real uvicorn, real API keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from aadsys.config import Settings
from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from tests.aas_models.records import record
from tests.support.databases import AadsysTemplates
from tests.support.live_server import live_server, loopback_client

CANONICAL_ORDER = {
    "orderId": "SO-1001", "orderDate": "2026-11-22T10:15:00Z",
    "customer": {"id": "C-77", "displayName": "Aina"}, "channel": "web", "currency": "MYR",
    "items": [{"product": "custom-juice", "bottleSizeMl": 500, "quantity": 2, "unitPrice": "12.90",
               "ingredients": [{"ingredient": "orange", "ratio": 0.6}, {"ingredient": "carrot", "ratio": 0.4}],
               "labelText": "Happy birthday"}],
    "total": "25.80", "requestedDate": "2026-11-25",
}


def order(order_id: str, **changes: object) -> dict:
    return {**CANONICAL_ORDER, "orderId": order_id, **changes}


@dataclass
class Gateway:
    url: str
    ctx: AadsysContext
    write_key: str
    read_key: str
    app: FastAPI

    def client(self, key: str | None = "write") -> httpx.Client:
        headers = {}
        if key == "write":
            headers["X-API-Key"] = self.write_key
        elif key == "read":
            headers["X-API-Key"] = self.read_key
        elif key:
            headers["X-API-Key"] = key
        return loopback_client(base_url=self.url, headers=headers)


@dataclass
class Stock:
    """What ``stock`` stored: a label image, and the records that refer to it or revise each other."""

    label_sha256: str
    records: list[dict]


def stock(gateway: Gateway) -> Stock:
    """All three asset types, a Sales Order whose label image is a stored file, and a Status revised once."""
    png = b"\x89PNG\r\n\x1a\n label image"
    label = {"sha256": hashlib.sha256(png).hexdigest(), "contentType": "image/png"}
    status, sales_order = record("sales-order-status"), record("sales-order")
    sales_order["items"][0]["labelImage"] = label
    records = [sales_order, status, {**status, "status": "completed"}, record("juice-product")]
    types = "/api/v1/asset-types"
    with gateway.client("write") as api:
        posts = [api.post("/api/v1/files", content=png, headers={"Content-Type": "image/png"}),
                 api.post(f"{types}/sales-order/instances", json=records[0]),
                 api.post(f"{types}/sales-order-status/instances", json=records[1]),
                 api.post(f"{types}/sales-order-status/instances", json=records[2]),
                 api.post(f"{types}/juice-product/instances", json=records[3])]
    assert [p.status_code for p in posts] == [201] * 5, [p.text for p in posts]
    return Stock(label["sha256"], records)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, aadsys_templates: AadsysTemplates) -> Settings:
    """PEC's migrated AAdSys, on a copy of a template database of the kind under test."""
    return aadsys_templates.settings(tmp_path / "pec", "pec", "https://pec.example",
                                     postgresql=database_url.startswith("postgresql"), event_poll_seconds=0.5)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    ctx = AadsysContext.build(settings)
    write_key = api_keys.create_key(ctx.db, "erp", ["write"])
    read_key = api_keys.create_key(ctx.db, "reporting", ["read"])
    app = create_app(settings, context=ctx)
    with live_server(app) as url:
        yield Gateway(url, ctx, write_key, read_key, app)
    ctx.db.dispose()


@pytest.fixture
def api(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client
